"""ESRGAN's generator: residual-in-residual dense blocks (RRDB)."""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import UpsamplingName, conv
from ganlab.models.generators.base import (
    GENERATORS,
    GlobalSkip,
    SRGenerator,
    common_kwargs,
    res_scale_kwargs,
)
from ganlab.models.initialization import scaled_kaiming_


class ResidualDenseBlock(nn.Module):
    """Five densely connected convs; ``x + res_scale * conv5([x, f1, ..., f4])``.

    Conv ``i`` sees the input and all previous outputs and adds ``growth_channels``; the fifth
    maps back to ``channels``. Leaky ReLU (0.2) after the first four.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self,
        channels: int,
        growth_channels: int = 32,
        kernel_size: int = 3,
        res_scale: float = 0.2,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            conv(channels + index * growth_channels, growth_channels, kernel_size)
            for index in range(4)
        )
        self.fuse = conv(channels + 4 * growth_channels, channels, kernel_size)
        self.activation = nn.LeakyReLU(0.2, inplace=True)
        self.res_scale = res_scale
        scaled_kaiming_(self, scale=0.1, negative_slope=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.convs:
            features.append(self.activation(layer(torch.cat(features, dim=1))))
        return x + self.res_scale * self.fuse(torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Three residual dense blocks with an outer skip: ``x + res_scale * RDB3(RDB2(RDB1(x)))``.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self,
        channels: int,
        growth_channels: int = 32,
        kernel_size: int = 3,
        res_scale: float = 0.2,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[
                ResidualDenseBlock(channels, growth_channels, kernel_size, res_scale)
                for _ in range(3)
            ]
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class RRDBNet(SRGenerator):
    """ESRGAN's generator: ``n_blocks`` RRDBs, a trunk conv with a long skip, upsampling.

    Initialisation: Kaiming (fan-in, leaky ReLU 0.2) x 0.1 on every dense-block conv, as in
    ESRGAN. ``res_scale`` (default 0.2) scales both the dense-block and the RRDB residuals.

    Args:
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Trunk width.
        n_blocks: RRDBs (ESRGAN uses 23).
        large_kernel_size: Head and tail kernel.
        small_kernel_size: Kernel inside the body and the upsampler.
        growth_channels: Channels each dense conv adds.
        res_scale: Residual scaling.
        upsampling: ``pixelshuffle`` or ``nearest_conv`` (ESRGAN's choice).
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Example:
        >>> g = RRDBNet(in_bands=4, out_bands=4, scale=4, n_channels=8, n_blocks=1,
        ...             growth_channels=4)
        >>> g(torch.rand(1, 4, 8, 8)).shape
        torch.Size([1, 4, 32, 32])
    """

    recommended_use = (
        "Perceptual/GAN SR (ESRGAN, Real-ESRGAN recipes); the strongest but heaviest CNN here."
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
        growth_channels: int = 32,
        res_scale: float = 0.2,
        upsampling: UpsamplingName = "pixelshuffle",
        global_skip: GlobalSkip = "bicubic",
        zero_init_last: bool = True,
    ) -> None:
        blocks = [
            RRDB(n_channels, growth_channels, small_kernel_size, res_scale) for _ in range(n_blocks)
        ]
        super().__init__(
            nn.Sequential(*blocks, conv(n_channels, n_channels, small_kernel_size)),
            in_bands=in_bands,
            out_bands=out_bands,
            scale=scale,
            n_channels=n_channels,
            large_kernel_size=large_kernel_size,
            small_kernel_size=small_kernel_size,
            upsampling=upsampling,
            upsample_activation="lrelu",
            head_activation="none",
            global_skip=global_skip,
            zero_init_last=zero_init_last,
        )


@GENERATORS.register("rrdb", "ESRGAN's residual-in-residual dense blocks (RRDBNet)")
def build_rrdb(config: Config) -> RRDBNet:
    """RRDBNet from the ``Generator`` and ``Model`` sections."""
    return RRDBNet(
        **common_kwargs(config),
        growth_channels=config.Generator.growth_channels,
        **res_scale_kwargs(config),
    )
