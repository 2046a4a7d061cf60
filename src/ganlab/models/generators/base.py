"""The generator registry and the skeleton every built-in generator shares.

Skeleton: ``head`` conv (large kernel) -> family ``body`` (with a long skip from the head) ->
``upsample`` (pixel shuffle or nearest + conv) -> ``tail`` conv (large kernel) [+ the
bicubic/nearest interpolated input]. Only ``head`` (input bands) and ``tail`` (output bands)
depend on the band counts, which is what makes band adaptation of weights possible.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import Activation, UpsamplingName, conv, make_activation, make_upsampler
from ganlab.models.initialization import scaled_kaiming_, zero_init_
from ganlab.models.recording import RecordsInitArgs
from ganlab.registry import Registry

GENERATORS: Registry[Any] = Registry("generator", "Generator.model_type")

GlobalSkip = Literal["bicubic", "nearest", "none"]


def interpolate(x: torch.Tensor, scale: int, mode: str) -> torch.Tensor:
    """Upsample ``x`` by ``scale`` with ``bicubic`` or ``nearest`` (computed in float32).

    Shapes: ``[B, C, h, w] -> [B, C, h*scale, w*scale]``, same dtype as ``x``.
    """
    kwargs = {"align_corners": False} if mode == "bicubic" else {}
    out = F.interpolate(x.float(), scale_factor=scale, mode=mode, **kwargs)
    return out.to(x.dtype)


class SRGenerator(RecordsInitArgs, nn.Module):
    """Base of the built-in generators: head, body with long skip, upsampler, tail, global skip.

    Subclasses build their ``body`` (``[B, C, h, w] -> [B, C, h, w]``, initialised by the
    family's rule) and pass it here. The head gets Kaiming initialisation, the pixel-shuffle
    convs ICNR unless ``zero_init_last`` (see the comment in ``__init__``); the
    tail is zeroed when ``zero_init_last`` is set.

    Args:
        body: The family's feature extractor.
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Feature width of head, body and upsampler.
        large_kernel_size: Kernel of the head and tail convs.
        small_kernel_size: Kernel of the upsampler convs.
        upsampling: ``pixelshuffle`` or ``nearest_conv``.
        upsample_activation: Activation after each upsampling stage.
        head_activation: Activation after the head conv.
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Attributes:
        scale, in_bands, out_bands: What the generator maps.
        init_kwargs: Constructor arguments of the concrete class (recorded by
            :class:`~ganlab.models.recording.RecordsInitArgs`), so the
            model can be rebuilt from saved weights and config.
        supports_fp16, supports_bf16: Whether half-precision inference/training is sound.
        position_independent: Whether shifting the input shifts the output (convolutions);
            False for window attention on a fixed grid. Tiled inference is exact only for
            position-independent generators with a finite receptive field.
        recommended_use: One line for the model guide.
    """

    supports_fp16: ClassVar[bool] = True
    supports_bf16: ClassVar[bool] = True
    position_independent: ClassVar[bool] = True
    recommended_use: ClassVar[str] = ""
    init_kwargs: dict[str, Any]

    def __init__(
        self,
        body: nn.Module,
        *,
        in_bands: int,
        out_bands: int,
        scale: int,
        n_channels: int,
        large_kernel_size: int,
        small_kernel_size: int,
        upsampling: UpsamplingName,
        upsample_activation: Activation,
        head_activation: Activation,
        global_skip: GlobalSkip,
        zero_init_last: bool,
    ) -> None:
        super().__init__()
        if global_skip != "none" and in_bands != out_bands:
            raise ValueError(
                f"global_skip needs in_bands == out_bands, got {in_bands}, {out_bands}; "
                "use global_skip='none' to change the band count"
            )
        self.scale = scale
        self.in_bands = in_bands
        self.out_bands = out_bands
        self.global_skip = global_skip
        self.head = conv(in_bands, n_channels, large_kernel_size)
        self.head_activation = make_activation(head_activation, n_channels)
        self.body = body
        # ICNR only guards against checkerboards at the start; with a zero tail the untrained
        # output is the skip anyway, and ICNR measurably slows learning there (quickstart, 150
        # L1 steps: +0.07 dB over bicubic with ICNR, +0.16 dB without).
        self.upsample = make_upsampler(
            upsampling,
            n_channels,
            scale,
            small_kernel_size,
            upsample_activation,
            icnr=not zero_init_last,
        )
        self.tail = conv(n_channels, out_bands, large_kernel_size)
        scaled_kaiming_(self.head)
        scaled_kaiming_(self.tail)
        if zero_init_last:
            zero_init_(self.tail)

    def band_layers(self) -> tuple[str, str]:
        """Names of the conv reading the input bands and the conv writing the output bands."""
        return "head", "tail"

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``[B, in_bands, h, w] -> [B, out_bands, h*scale, w*scale]``."""
        features = self.head_activation(self.head(lr))
        features = features + self.body(features)
        sr = self.tail(self.upsample(features))
        if self.global_skip != "none":
            sr = sr + interpolate(lr, self.scale, self.global_skip)
        return sr


def common_kwargs(config: Config) -> dict[str, Any]:
    """Constructor arguments every built-in generator takes, from ``Model`` and ``Generator``."""
    g = config.Generator
    return dict(
        in_bands=config.Model.in_bands,
        out_bands=config.Model.sr_bands,
        scale=g.scaling_factor,
        n_channels=g.n_channels,
        n_blocks=g.n_blocks,
        large_kernel_size=g.large_kernel_size,
        small_kernel_size=g.small_kernel_size,
        upsampling=g.upsampling,
        global_skip=g.global_skip,
        zero_init_last=g.zero_init_last,
    )


def res_scale_kwargs(config: Config) -> dict[str, Any]:
    """``{"res_scale": value}`` when the config sets it, else empty (the family default)."""
    value = config.Generator.res_scale
    return {} if value is None else {"res_scale": value}
