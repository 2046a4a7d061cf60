"""Discriminators: ``[B, bands, H, W] -> (logits, features)``.

Every discriminator returns its logits and the list of intermediate feature maps (used by the
feature-matching loss). The built-in families are imported here explicitly (each registers
itself in :data:`DISCRIMINATORS` where it is defined).
"""

from torch import nn

from ganlab.config.schema import Config
from ganlab.models.discriminators.base import DISCRIMINATORS, SRDiscriminator
from ganlab.models.discriminators.patchgan import PatchGANDiscriminator
from ganlab.models.discriminators.srgan import SRGANDiscriminator
from ganlab.models.discriminators.unet import UNetDiscriminator


def build_discriminator(config: Config) -> nn.Module:
    """Build the discriminator named by ``Discriminator.model_type``."""
    return DISCRIMINATORS.get(config.Discriminator.model_type)(config)


__all__ = [
    "DISCRIMINATORS",
    "PatchGANDiscriminator",
    "SRDiscriminator",
    "SRGANDiscriminator",
    "UNetDiscriminator",
    "build_discriminator",
]
