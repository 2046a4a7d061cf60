"""U-Net discriminator with per-pixel logits (as used by Real-ESRGAN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.discriminators.base import (
    DISCRIMINATORS,
    NormName,
    SRDiscriminator,
    make_norm,
    optional_kwargs,
    spectral,
)


class _ConvUnit(nn.Sequential):
    """(spectral-normalised) conv -> norm -> leaky ReLU (0.2)."""

    def __init__(
        self,
        channels_in: int,
        channels_out: int,
        kernel_size: int,
        stride: int,
        norm: NormName,
        spectral_norm: bool,
    ) -> None:
        layer = nn.Conv2d(
            channels_in, channels_out, kernel_size, stride, padding=1, bias=norm == "none"
        )
        super().__init__(
            spectral(layer, spectral_norm),
            make_norm(norm, channels_out),
            nn.LeakyReLU(0.2, inplace=True),
        )


class UNetDiscriminator(SRDiscriminator):
    """U-Net discriminator: per-pixel realism logits with global and local context.

    first conv (3x3, plain) -> ``n_blocks`` down levels (4x4 stride 2; channels double up to
    ``max_channels``) -> as many up levels (bilinear upsampling to the matching encoder map,
    3x3 conv, add the encoder map) -> two 3x3 convs -> a 3x3 logit conv (plain). Inputs of any
    size work: every up level resizes to its skip's exact size. Initialisation: PyTorch
    defaults (spectral normalisation is applied afterwards).

    Args:
        in_bands: Input bands.
        n_channels: Channels of the first level.
        n_blocks: Down/up-sampling levels.
        max_channels: Channel cap.
        norm: ``batch``, ``instance`` or ``none`` after the inner convs.
        spectral_norm: Spectral normalisation on every conv except the first and the last.

    Example:
        >>> d = UNetDiscriminator(in_bands=13, n_channels=8, n_blocks=3)
        >>> logits, features = d(torch.rand(2, 13, 96, 128))
        >>> logits.shape, len(features)
        (torch.Size([2, 1, 96, 128]), 8)
    """

    recommended_use = (
        "Real-world SR (Real-ESRGAN recipes): per-pixel feedback that sharpens local detail "
        "without hallucinating whole images; spectral norm keeps it stable."
    )

    def __init__(
        self,
        in_bands: int,
        n_channels: int = 64,
        n_blocks: int = 3,
        max_channels: int = 512,
        norm: NormName = "none",
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        self.in_bands = in_bands
        widths = [min(n_channels * 2**level, max_channels) for level in range(n_blocks + 1)]
        self.first = nn.Sequential(
            nn.Conv2d(in_bands, widths[0], 3, 1, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )
        self.down = nn.ModuleList(
            _ConvUnit(widths[level], widths[level + 1], 4, 2, norm, spectral_norm)
            for level in range(n_blocks)
        )
        self.up = nn.ModuleList(
            _ConvUnit(widths[level + 1], widths[level], 3, 1, norm, spectral_norm)
            for level in reversed(range(n_blocks))
        )
        self.refine = nn.Sequential(
            _ConvUnit(widths[0], widths[0], 3, 1, norm, spectral_norm),
            _ConvUnit(widths[0], widths[0], 3, 1, norm, spectral_norm),
        )
        self.head = nn.Conv2d(widths[0], 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``[B, 1, H, W]`` (one per pixel) and the map after every level.

        Features: the first conv, each down level, each up level, the refinement.
        """
        x = self.first(x)
        features = [x]
        skips = [x]
        for layer in self.down:
            x = layer(x)
            features.append(x)
            skips.append(x)
        skips.pop()
        for layer in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = layer(x) + skip
            features.append(x)
        x = self.refine(x)
        features.append(x)
        return self.head(x), features


@DISCRIMINATORS.register("unet", "U-Net with spectral norm and per-pixel logits (Real-ESRGAN)")
def build_unet_discriminator(config: Config) -> UNetDiscriminator:
    """U-Net discriminator from the ``Discriminator`` and ``Model`` sections."""
    d = config.Discriminator
    return UNetDiscriminator(
        in_bands=config.Model.sr_bands,
        n_channels=d.n_channels,
        max_channels=d.max_channels,
        **optional_kwargs(config),
    )
