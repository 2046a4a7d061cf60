"""Tiny model configurations shared by the model tests."""

from __future__ import annotations

from typing import Any

from torch import nn

from ganlab.config import Config
from ganlab.models import build_discriminator, build_generator

# Per generator family: the smallest settings that still exercise every part.
TINY_GENERATOR: dict[str, dict[str, Any]] = {
    "srresnet": {"n_blocks": 1, "block_type": "standard"},
    "rcan": {"n_blocks": 2, "blocks_per_group": 1, "reduction": 4},
    "rrdb": {"n_blocks": 1, "growth_channels": 4},
    "lka": {"n_blocks": 1},
    "swinir": {"n_blocks": 2, "window_size": 4, "n_heads": 2},
}
GENERATOR_NAMES = sorted(TINY_GENERATOR)
DISCRIMINATOR_NAMES = ["patchgan", "srgan", "unet"]


def generator_config(
    name: str, bands: int = 3, scale: int = 2, out_bands: int | None = None, **generator: Any
) -> Config:
    """A validated config with a tiny ``name`` generator."""
    settings = {
        "model_type": name,
        "scaling_factor": scale,
        "n_channels": 8,
        "large_kernel_size": 3,
        **TINY_GENERATOR[name],
        **generator,
    }
    return Config.model_validate(
        {
            "Data": {"hr_patch_size": 24 * scale},
            "Model": {"in_bands": bands, "out_bands": out_bands},
            "Generator": settings,
        }
    )


def tiny_generator(name: str, bands: int = 3, scale: int = 2, **generator: Any) -> nn.Module:
    """A tiny ``name`` generator built through the registry from a config."""
    return build_generator(generator_config(name, bands, scale, **generator))


def tiny_discriminator(name: str, bands: int = 3, **discriminator: Any) -> nn.Module:
    """A tiny ``name`` discriminator built through the registry (family-default depth)."""
    settings = {
        "model_type": name,
        "n_channels": 4,
        "max_channels": 16,
        "fc_size": 8,
        **discriminator,
    }
    config = Config.model_validate({"Model": {"in_bands": bands}, "Discriminator": settings})
    return build_discriminator(config)
