"""Large-kernel-attention generator (LKA blocks as in the Visual Attention Network)."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import LayerNorm2d, UpsamplingName, conv
from ganlab.models.generators.base import (
    GENERATORS,
    GlobalSkip,
    SRGenerator,
    common_kwargs,
    res_scale_kwargs,
)
from ganlab.models.initialization import scaled_kaiming_


class LargeKernelAttention(nn.Module):
    """Decomposed 21x21 attention: ``x * pw(dw7x7_dilated3(dw5x5(x)))``.

    A 5x5 depthwise conv, a 7x7 depthwise conv with dilation 3 and a pointwise conv together
    see a 21x21 neighbourhood at the cost of a few small kernels; the result gates the input.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            conv(channels, channels, 5, groups=channels),
            conv(channels, channels, 7, dilation=3, groups=channels),
            conv(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class LKABlock(nn.Module):
    """Pre-norm attention branch and pre-norm MLP branch, each with a scaled residual.

    ``x = x + res_scale * pw(LKA(gelu(pw(norm(x)))))``, then
    ``x = x + res_scale * pw(gelu(pw_expand(norm(x))))`` (MLP width ``2 * channels``).

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(self, channels: int, res_scale: float = 1.0, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = max(1, round(channels * mlp_ratio))
        self.attention = nn.Sequential(
            LayerNorm2d(channels),
            conv(channels, channels, 1),
            nn.GELU(),
            LargeKernelAttention(channels),
            conv(channels, channels, 1),
        )
        self.mlp = nn.Sequential(
            LayerNorm2d(channels),
            conv(channels, hidden, 1),
            nn.GELU(),
            conv(hidden, channels, 1),
        )
        self.res_scale = res_scale
        scaled_kaiming_(self)
        # The last conv of each branch starts small, so the block starts near the identity.
        scaled_kaiming_(self.attention[-1], scale=0.1)
        scaled_kaiming_(self.mlp[-1], scale=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.res_scale * self.attention(x)
        return x + self.res_scale * self.mlp(x)


class LKANet(SRGenerator):
    """Generator of ``n_blocks`` large-kernel-attention blocks.

    head conv -> LKA blocks -> conv (+ long skip) -> upsampling -> tail conv [+ interpolated
    input]. Large receptive fields at convolutional cost, for any input size.

    Initialisation: Kaiming (fan-in) on all convs, x 0.1 on the last conv of each branch.

    Args:
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Body width.
        n_blocks: LKA blocks.
        large_kernel_size: Head and tail kernel.
        small_kernel_size: Kernel of the body's last conv and the upsampler.
        res_scale: Factor on each residual branch.
        upsampling: ``pixelshuffle`` or ``nearest_conv``.
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Example:
        >>> g = LKANet(in_bands=1, out_bands=1, scale=3, n_channels=8, n_blocks=1)
        >>> g(torch.rand(1, 1, 10, 12)).shape
        torch.Size([1, 1, 30, 36])
    """

    recommended_use = (
        "Large structures (fields, roads, organs) at modest cost: 21x21 receptive field per "
        "block, fewer FLOPs than RRDB."
    )

    def __init__(
        self,
        in_bands: int,
        out_bands: int,
        scale: int = 4,
        n_channels: int = 64,
        n_blocks: int = 16,
        large_kernel_size: int = 9,
        small_kernel_size: int = 3,
        res_scale: float = 1.0,
        upsampling: UpsamplingName = "pixelshuffle",
        global_skip: GlobalSkip = "bicubic",
        zero_init_last: bool = True,
    ) -> None:
        blocks = [LKABlock(n_channels, res_scale) for _ in range(n_blocks)]
        super().__init__(
            nn.Sequential(*blocks, conv(n_channels, n_channels, small_kernel_size)),
            in_bands=in_bands,
            out_bands=out_bands,
            scale=scale,
            n_channels=n_channels,
            large_kernel_size=large_kernel_size,
            small_kernel_size=small_kernel_size,
            upsampling=upsampling,
            upsample_activation="gelu",
            head_activation="none",
            global_skip=global_skip,
            zero_init_last=zero_init_last,
        )


@GENERATORS.register("lka", "Large-kernel attention blocks (VAN-style decomposed 21x21 kernels)")
def build_lka(config: Config) -> LKANet:
    """LKANet from the ``Generator`` and ``Model`` sections."""
    return LKANet(**common_kwargs(config), **res_scale_kwargs(config))
