"""The discriminator registry, a small base class and layer helpers (norms, spectral norm)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganlab.config.schema import Config
from ganlab.models.recording import RecordsInitArgs
from ganlab.registry import Registry

DISCRIMINATORS: Registry[Any] = Registry("discriminator", "Discriminator.model_type")

NormName = Literal["batch", "instance", "none"]
LayerT = TypeVar("LayerT", bound=nn.Module)


def make_norm(norm: NormName, channels: int) -> nn.Module:
    """``batch`` (BatchNorm2d), ``instance`` (affine InstanceNorm2d) or ``none`` (identity)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; use batch, instance or none")


def spectral(layer: LayerT, enabled: bool) -> LayerT:
    """Wrap ``layer``'s weight in spectral normalisation when ``enabled``.

    Uses ``torch.nn.utils.parametrizations.spectral_norm``: in training mode every forward
    runs one power iteration and divides the weight by its estimated largest singular value.
    The raw weight is stored as ``parametrizations.weight.original``.
    """
    if enabled:
        _spectral_norm(layer)  # registers the parametrization on ``layer`` itself
    return layer


class SRDiscriminator(RecordsInitArgs, nn.Module):
    """Base of the built-in discriminators.

    ``forward(x)`` maps ``[B, in_bands, H, W]`` (any H, W the family accepts) to
    ``(logits, features)``: the logits and the list of intermediate feature maps that the
    feature-matching loss compares.

    Attributes:
        in_bands: Bands of the images it judges.
        init_kwargs: Constructor arguments of the concrete class (recorded automatically).
        supports_fp16, supports_bf16: Whether half-precision training is sound.
        recommended_use: One line for the model guide.
    """

    supports_fp16: ClassVar[bool] = True
    supports_bf16: ClassVar[bool] = True
    recommended_use: ClassVar[str] = ""
    in_bands: int
    init_kwargs: dict[str, Any]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError


def set_values(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments that are not None (unset config keys keep the family default)."""
    return {name: value for name, value in kwargs.items() if value is not None}


def optional_kwargs(config: Config) -> dict[str, Any]:
    """The nullable ``Discriminator`` keys that are set: n_blocks, norm, spectral_norm."""
    d = config.Discriminator
    return set_values(n_blocks=d.n_blocks, norm=d.norm, spectral_norm=d.spectral_norm)
