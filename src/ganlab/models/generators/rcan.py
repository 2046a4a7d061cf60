"""RCAN-style generator: residual groups of residual channel-attention blocks (RCAB)."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import ChannelAttention, UpsamplingName, conv
from ganlab.models.generators.base import (
    GENERATORS,
    GlobalSkip,
    SRGenerator,
    common_kwargs,
    res_scale_kwargs,
)
from ganlab.models.initialization import scaled_kaiming_


class RCAB(nn.Module):
    """Residual channel-attention block: ``x + res_scale * CA(conv(relu(conv(x))))``.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self, channels: int, kernel_size: int = 3, reduction: int = 16, res_scale: float = 1.0
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, kernel_size),
            nn.ReLU(inplace=True),
            conv(channels, channels, kernel_size),
            ChannelAttention(channels, reduction),
        )
        self.res_scale = res_scale
        scaled_kaiming_(self.body[0], scale=0.1)
        scaled_kaiming_(self.body[2], scale=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class ResidualGroup(nn.Module):
    """``n_blocks`` RCABs and a conv, with a skip over the group.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self,
        channels: int,
        n_blocks: int,
        kernel_size: int = 3,
        reduction: int = 16,
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(channels, kernel_size, reduction, res_scale) for _ in range(n_blocks)],
            conv(channels, channels, kernel_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def group_sizes(n_blocks: int, blocks_per_group: int) -> list[int]:
    """Split ``n_blocks`` into groups of ``blocks_per_group`` (the last one may be smaller)."""
    full, rest = divmod(n_blocks, blocks_per_group)
    return [blocks_per_group] * full + ([rest] if rest else [])


class RCAN(SRGenerator):
    """RCAN-style generator: residual groups of residual channel-attention blocks.

    head conv -> residual groups (``blocks_per_group`` RCABs + conv, each with a skip; the
    ``n_blocks`` RCABs are split into groups) -> conv (+ long skip) -> upsampling -> tail conv
    [+ interpolated input].

    Initialisation: Kaiming (fan-in) x 0.1 on the two convs of every RCAB.

    Args:
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Body width.
        n_blocks: RCABs in total.
        large_kernel_size: Head and tail kernel.
        small_kernel_size: Kernel inside the body and the upsampler.
        blocks_per_group: RCABs per residual group.
        reduction: Channel-attention reduction.
        res_scale: Factor on each RCAB's residual branch.
        upsampling: ``pixelshuffle`` or ``nearest_conv``.
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Example:
        >>> g = RCAN(in_bands=13, out_bands=13, scale=2, n_channels=8, n_blocks=2)
        >>> g(torch.rand(1, 13, 16, 16)).shape
        torch.Size([1, 13, 32, 32])
    """

    recommended_use = (
        "Reconstruction-oriented SR (PSNR), many-band inputs: channel attention reweights "
        "bands/features cheaply."
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
        blocks_per_group: int = 4,
        reduction: int = 16,
        res_scale: float = 1.0,
        upsampling: UpsamplingName = "pixelshuffle",
        global_skip: GlobalSkip = "bicubic",
        zero_init_last: bool = True,
    ) -> None:
        groups = [
            ResidualGroup(n_channels, size, small_kernel_size, reduction, res_scale)
            for size in group_sizes(n_blocks, blocks_per_group)
        ]
        super().__init__(
            nn.Sequential(*groups, conv(n_channels, n_channels, small_kernel_size)),
            in_bands=in_bands,
            out_bands=out_bands,
            scale=scale,
            n_channels=n_channels,
            large_kernel_size=large_kernel_size,
            small_kernel_size=small_kernel_size,
            upsampling=upsampling,
            upsample_activation="none",
            head_activation="none",
            global_skip=global_skip,
            zero_init_last=zero_init_last,
        )


@GENERATORS.register("rcan", "RCAN-style residual groups of residual channel-attention blocks")
def build_rcan(config: Config) -> RCAN:
    """RCAN from the ``Generator`` and ``Model`` sections."""
    g = config.Generator
    return RCAN(
        **common_kwargs(config),
        blocks_per_group=g.blocks_per_group,
        reduction=g.reduction,
        **res_scale_kwargs(config),
    )


GENERATORS.rename("rcab", "rcan")  # the name up to 0.x: it builds an RCAN, not one RCAB
