"""Model zoo: generators and discriminators for any band count, selected by name.

``ganlab models list`` prints the registered models; ``docs/models.md`` compares them.
"""

from ganlab.models.describe import ModelDescription, describe_model, summarize_models
from ganlab.models.discriminators import DISCRIMINATORS, SRDiscriminator, build_discriminator
from ganlab.models.generators import (
    GENERATORS,
    LRConsistentGenerator,
    SRGenerator,
    build_generator,
    lr_projection,
    sensor_operator,
)
from ganlab.models.prepare import prepare_for_training
from ganlab.models.weights import WeightLoadError, load_generator_weights

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "LRConsistentGenerator",
    "ModelDescription",
    "SRDiscriminator",
    "SRGenerator",
    "WeightLoadError",
    "build_discriminator",
    "build_generator",
    "describe_model",
    "load_generator_weights",
    "lr_projection",
    "prepare_for_training",
    "sensor_operator",
    "summarize_models",
]
