"""Generators: networks mapping ``[B, in_bands, h, w]`` to ``[B, out_bands, h*s, w*s]``.

Every generator records its constructor arguments (``init_kwargs``) so weights can be saved
with the configuration that rebuilds them, and tells its ``scale``, ``in_bands`` and
``out_bands``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import PixelShuffleUpsampler, ResidualBlock, conv
from ganlab.registry import Registry

GENERATORS: Registry[Any] = Registry("generator", "Generator.model_type")


def interpolate(x: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """Upsample ``x`` by ``scale`` with ``bicubic`` or ``nearest`` (computed in float32)."""
    kwargs = {"align_corners": False} if mode == "bicubic" else {}
    out = F.interpolate(x.float(), scale_factor=scale, mode=mode, **kwargs)
    return out.to(x.dtype)


class SRResNet(nn.Module):
    """SRGAN's residual generator (SRResNet), for any band count.

    head conv (large kernel) -> ``n_blocks`` residual blocks -> conv (+ skip from the head) ->
    pixel-shuffle upsampling -> tail conv (large kernel) [+ interpolated input].

    Args:
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Body width.
        n_blocks: Residual blocks.
        large_kernel_size: Head and tail kernel.
        small_kernel_size: Kernel inside the body.
        block_type: ``standard`` (batch norm, as in SRGAN) or ``res`` (no normalisation).
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Example:
        >>> g = SRResNet(in_bands=4, out_bands=4, scale=4, n_channels=8, n_blocks=1)
        >>> g(torch.rand(2, 4, 16, 16)).shape
        torch.Size([2, 4, 64, 64])
    """

    def __init__(
        self,
        in_bands: int,
        out_bands: int,
        scale: int = 4,
        n_channels: int = 64,
        n_blocks: int = 16,
        large_kernel_size: int = 9,
        small_kernel_size: int = 3,
        block_type: Literal["standard", "res"] = "res",
        global_skip: Literal["bicubic", "nearest", "none"] = "bicubic",
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        if global_skip != "none" and in_bands != out_bands:
            raise ValueError(
                f"global_skip needs in_bands == out_bands, got {in_bands}, {out_bands}"
            )
        self.init_kwargs = dict(
            in_bands=in_bands,
            out_bands=out_bands,
            scale=scale,
            n_channels=n_channels,
            n_blocks=n_blocks,
            large_kernel_size=large_kernel_size,
            small_kernel_size=small_kernel_size,
            block_type=block_type,
            global_skip=global_skip,
            zero_init_last=zero_init_last,
        )
        self.scale = scale
        self.in_bands = in_bands
        self.out_bands = out_bands
        self.global_skip = global_skip
        batch_norm = block_type == "standard"
        self.head = nn.Sequential(
            conv(in_bands, n_channels, large_kernel_size), nn.PReLU(n_channels)
        )
        self.body = nn.Sequential(
            *[ResidualBlock(n_channels, small_kernel_size, batch_norm) for _ in range(n_blocks)]
        )
        body_tail: list[nn.Module] = [conv(n_channels, n_channels, small_kernel_size)]
        if batch_norm:
            body_tail.append(nn.BatchNorm2d(n_channels))
        self.body_tail = nn.Sequential(*body_tail)
        self.upsample = PixelShuffleUpsampler(n_channels, scale, small_kernel_size)
        self.tail = conv(n_channels, out_bands, large_kernel_size)
        if zero_init_last:
            nn.init.zeros_(self.tail.weight)
            if self.tail.bias is not None:
                nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``[B, in_bands, h, w] -> [B, out_bands, h*scale, w*scale]``."""
        features = self.head(lr)
        features = features + self.body_tail(self.body(features))
        sr = self.tail(self.upsample(features))
        if self.global_skip != "none":
            sr = sr + interpolate(lr, self.scale, self.global_skip)
        return sr


@GENERATORS.register("srresnet", "SRGAN's residual network (SRResNet); batch-norm or plain blocks")
def build_srresnet(config: Config) -> SRResNet:
    """SRResNet from the ``Generator`` and ``Model`` sections."""
    g = config.Generator
    return SRResNet(
        in_bands=config.Model.in_bands,
        out_bands=config.Model.output_bands,
        scale=g.scaling_factor,
        n_channels=g.n_channels,
        n_blocks=g.n_blocks,
        large_kernel_size=g.large_kernel_size,
        small_kernel_size=g.small_kernel_size,
        block_type=g.block_type,
        global_skip=g.global_skip,
        zero_init_last=g.zero_init_last,
    )


def build_generator(config: Config) -> nn.Module:
    """Build the generator named by ``Generator.model_type``."""
    return GENERATORS.get(config.Generator.model_type)(config)
