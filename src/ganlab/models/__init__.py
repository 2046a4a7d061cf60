"""Model zoo: generators and discriminators for any band count, selected by name.

``ganlab models list`` prints the registered models; ``docs/models.md`` compares them.
"""

from ganlab.models.describe import ModelDescription, describe_model, summarize_models
from ganlab.models.discriminators import DISCRIMINATORS, SRDiscriminator, build_discriminator
from ganlab.models.generators import GENERATORS, SRGenerator, build_generator
from ganlab.models.prepare import prepare_for_training
from ganlab.models.weights import WeightLoadError, load_generator_weights

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "ModelDescription",
    "SRDiscriminator",
    "SRGenerator",
    "WeightLoadError",
    "build_discriminator",
    "build_generator",
    "describe_model",
    "load_generator_weights",
    "prepare_for_training",
    "summarize_models",
]
