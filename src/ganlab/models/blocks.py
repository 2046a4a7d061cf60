"""Building blocks shared by the generators and discriminators."""

from __future__ import annotations

import math

import torch
from torch import nn


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A 'same'-padded convolution (for odd kernels)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)


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


class PixelShuffleUpsampler(nn.Sequential):
    """Upsample by ``scale`` with conv + pixel shuffle: x2 stages for 2/4/8, one stage for 3.

    Shapes: ``[B, C, H, W] -> [B, C, H*scale, W*scale]``.
    """

    def __init__(self, channels: int, scale: int, kernel_size: int = 3) -> None:
        if scale in (2, 4, 8):
            factors = [2] * int(math.log2(scale))
        elif scale == 3:
            factors = [3]
        else:
            raise ValueError(f"pixel-shuffle upsampling supports scales 2, 3, 4, 8, not {scale}")
        layers: list[nn.Module] = []
        for factor in factors:
            layers += [
                conv(channels, channels * factor * factor, kernel_size),
                nn.PixelShuffle(factor),
                nn.PReLU(channels),
            ]
        super().__init__(*layers)
