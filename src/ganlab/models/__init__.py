"""Model zoo: generators and discriminators for any band count, selected by name."""

from ganlab.models.discriminators import DISCRIMINATORS, build_discriminator
from ganlab.models.generators import GENERATORS, build_generator

__all__ = ["DISCRIMINATORS", "GENERATORS", "build_discriminator", "build_generator"]
