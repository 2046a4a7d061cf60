"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.models.initialization import icnr_, scaled_kaiming_

ActivationName = Literal["relu", "lrelu", "prelu", "gelu", "none"]
Activation = ActivationName | type[nn.Module]
UpsamplingName = Literal["pixelshuffle", "nearest_conv"]


def conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Conv2d:
    """A 'same'-padded convolution (for odd kernels; stride 2 halves even sizes)."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
        groups=groups,
        bias=bias,
    )


def make_activation(activation: Activation, channels: int) -> nn.Module:
    """An activation layer from a name or a class.

    Args:
        activation: ``relu``, ``lrelu`` (slope 0.2), ``prelu`` (one slope per channel),
            ``gelu``, ``none``, or an ``nn.Module`` class constructed without arguments.
        channels: Channels of the input (used by ``prelu``).

    Returns:
        The layer; shape-preserving.
    """
    if not isinstance(activation, str):
        return activation()
    if activation == "relu":
        return nn.ReLU(inplace=True)
    if activation == "lrelu":
        return nn.LeakyReLU(0.2, inplace=True)
    if activation == "prelu":
        return nn.PReLU(channels)
    if activation == "gelu":
        return nn.GELU()
    if activation == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {activation!r}; use relu, lrelu, prelu, gelu or none")


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of every pixel (independent of the image size).

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ResidualBlock(nn.Module):
    """conv-act-conv with an identity skip; optional batch norm (SRGAN) and residual scaling.

    Args:
        channels: Feature channels in and out.
        kernel_size: Kernel of both convs.
        batch_norm: Batch norm after each conv (SRGAN's block); off for EDSR-style blocks.
        res_scale: Factor on the residual branch before the skip is added.

    Shapes: ``[B, channels, H, W] -> [B, channels, H, W]``.
    """

    def __init__(
        self, channels: int, kernel_size: int = 3, batch_norm: bool = False, res_scale: float = 1.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv(channels, channels, kernel_size)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(nn.PReLU(channels) if batch_norm else nn.ReLU(inplace=True))
        layers.append(conv(channels, channels, kernel_size))
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN): rescale each channel by a learned gate.

    global average pool -> 1x1 conv (``channels / reduction``) -> ReLU -> 1x1 conv -> sigmoid,
    multiplied onto the input.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def upsample_factors(scale: int) -> list[int]:
    """Per-stage factors: x2 stages for 2/4/8, one x3 stage for 3.

    Raises:
        ValueError: Any other scale.
    """
    if scale in (2, 4, 8):
        return [2] * int(math.log2(scale))
    if scale == 3:
        return [3]
    raise ValueError(f"upsampling supports scales 2, 3, 4, 8, not {scale}")


class PixelShuffleUpsampler(nn.Sequential):
    """Upsample by ``scale`` with conv + pixel shuffle (+ activation) per stage.

    With ``icnr`` the convs get ICNR initialisation, so the untrained upsampler behaves like
    nearest neighbour instead of producing checkerboard patterns; otherwise PyTorch's default.

    Shapes: ``[B, C, H, W] -> [B, C, H*scale, W*scale]``.
    """

    def __init__(
        self,
        channels: int,
        scale: int,
        kernel_size: int = 3,
        activation: Activation = "prelu",
        icnr: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        for factor in upsample_factors(scale):
            stage_conv = conv(channels, channels * factor * factor, kernel_size)
            if icnr:
                icnr_(stage_conv, factor)
            layers += [stage_conv, nn.PixelShuffle(factor), make_activation(activation, channels)]
        super().__init__(*layers)


class NearestUpsample(nn.Module):
    """Nearest-neighbour upsampling by an integer factor (shape-preserving channels)."""

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")


class NearestConvUpsampler(nn.Sequential):
    """Upsample by ``scale`` with nearest-neighbour interpolation + conv (+ activation) per stage.

    Avoids the checkerboard artefacts pixel shuffle can produce (as in ESRGAN).

    Shapes: ``[B, C, H, W] -> [B, C, H*scale, W*scale]``.
    """

    def __init__(
        self, channels: int, scale: int, kernel_size: int = 3, activation: Activation = "lrelu"
    ) -> None:
        layers: list[nn.Module] = []
        for factor in upsample_factors(scale):
            stage_conv = conv(channels, channels, kernel_size)
            scaled_kaiming_(stage_conv, negative_slope=0.2)
            layers += [NearestUpsample(factor), stage_conv, make_activation(activation, channels)]
        super().__init__(*layers)


def make_upsampler(
    kind: UpsamplingName,
    channels: int,
    scale: int,
    kernel_size: int = 3,
    activation: Activation = "prelu",
    icnr: bool = True,
) -> nn.Module:
    """The upsampler named by ``Generator.upsampling`` (``icnr``: see
    :class:`PixelShuffleUpsampler`).

    Shapes: ``[B, C, H, W] -> [B, C, H*scale, W*scale]``.
    """
    if kind == "pixelshuffle":
        return PixelShuffleUpsampler(channels, scale, kernel_size, activation, icnr)
    if kind == "nearest_conv":
        return NearestConvUpsampler(channels, scale, kernel_size, activation)
    raise ValueError(f"unknown upsampling {kind!r}; use pixelshuffle or nearest_conv")
