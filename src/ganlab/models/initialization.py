"""Weight initialisation rules used by the model families.

- ``scaled_kaiming_``: Kaiming-normal (fan-in) weights times a factor, zero biases. Residual
  branches use a factor of 0.1 (as in EDSR/ESRGAN practice), so a deep stack of blocks starts
  close to the identity and trains stably without normalisation.
- ``icnr_``: for conv + pixel shuffle, every sub-pixel gets the same kernel, so the untrained
  upsampler is nearest-neighbour-like instead of producing checkerboards.
- ``transformer_init_``: truncated normal (std 0.02) for linear layers, unit layer norms.
- ``gan_normal_``: the DCGAN/pix2pix rule for discriminators, normal(0, 0.02).
- ``zero_init_``: zero weights and bias (the last conv of a generator with ``zero_init_last``).
"""

from __future__ import annotations

import torch
from torch import nn

_WEIGHTED = (nn.Conv2d, nn.Linear)


def scaled_kaiming_(module: nn.Module, scale: float = 1.0, negative_slope: float = 0.0) -> None:
    """Kaiming-normal (fan-in) init times ``scale`` for every conv/linear in ``module``.

    Args:
        module: A layer or a container; all conv and linear layers inside are initialised.
        scale: Factor on the weights (0.1 for residual branches).
        negative_slope: Slope of the leaky ReLU that follows (0 for ReLU).
    """
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            nn.init.kaiming_normal_(
                layer.weight, a=negative_slope, mode="fan_in", nonlinearity="leaky_relu"
            )
            with torch.no_grad():
                layer.weight.mul_(scale)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def icnr_(layer: nn.Conv2d, factor: int, negative_slope: float = 0.0) -> None:
    """ICNR init of a conv followed by ``PixelShuffle(factor)``.

    A Kaiming kernel for ``out_channels / factor**2`` outputs is repeated for every sub-pixel
    position, so each of the ``factor x factor`` output pixels starts with the same response.
    """
    out_channels = layer.out_channels // (factor * factor)
    base = torch.empty(
        out_channels, *layer.weight.shape[1:], device=layer.weight.device, dtype=layer.weight.dtype
    )
    nn.init.kaiming_normal_(base, a=negative_slope, mode="fan_in", nonlinearity="leaky_relu")
    with torch.no_grad():
        # PixelShuffle reads output channel c from input channels c*r^2 ... c*r^2 + r^2 - 1.
        layer.weight.copy_(base.repeat_interleave(factor * factor, dim=0))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def transformer_init_(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear weights, zero biases, unit layer norms."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.LayerNorm):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def gan_normal_(module: nn.Module) -> None:
    """DCGAN/pix2pix discriminator init: conv/linear ~ N(0, 0.02), norm scales ~ N(1, 0.02)."""
    for layer in module.modules():
        if isinstance(layer, _WEIGHTED):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d | nn.InstanceNorm2d) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def zero_init_(layer: nn.Module) -> None:
    """Zero the weight and bias of ``layer``."""
    for name in ("weight", "bias"):
        parameter = getattr(layer, name, None)
        if isinstance(parameter, torch.Tensor):
            nn.init.zeros_(parameter)
