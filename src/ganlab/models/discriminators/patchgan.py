"""PatchGAN (pix2pix): a grid of logits, one per overlapping image patch."""

from __future__ import annotations

import torch
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
from ganlab.models.initialization import gan_normal_


class PatchGANDiscriminator(SRDiscriminator):
    """PatchGAN: ``n_blocks`` stride-2 4x4 convs, one stride-1 4x4 conv, a 4x4 logit conv.

    Channels start at ``n_channels`` and double per layer up to ``max_channels``; no
    normalisation on the first layer. With ``n_blocks=3`` each logit sees a 70x70 patch (the
    pix2pix discriminator). Initialisation: N(0, 0.02) as in pix2pix.

    Args:
        in_bands: Input bands.
        n_channels: Channels of the first layer.
        n_blocks: Stride-2 layers; inputs need sides of at least ``3 * 2**n_blocks`` pixels.
        max_channels: Channel cap.
        norm: ``batch``, ``instance`` or ``none``.
        spectral_norm: Spectral normalisation on every conv.

    Example:
        >>> d = PatchGANDiscriminator(in_bands=4, n_channels=8, n_blocks=3)
        >>> logits, features = d(torch.rand(2, 4, 64, 64))
        >>> logits.shape, len(features)
        (torch.Size([2, 1, 6, 6]), 4)
    """

    recommended_use = (
        "Local texture realism, one logit per patch; the cheapest discriminator here, and the "
        "logit grid grows with the crop."
    )

    def __init__(
        self,
        in_bands: int,
        n_channels: int = 64,
        n_blocks: int = 3,
        max_channels: int = 512,
        norm: NormName = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_bands = in_bands
        self.n_blocks = n_blocks
        layers = []
        channels_in = in_bands
        for index in range(n_blocks + 1):
            channels_out = min(n_channels * 2**index, max_channels)
            stride = 2 if index < n_blocks else 1
            block: list[nn.Module] = [nn.Conv2d(channels_in, channels_out, 4, stride, padding=1)]
            if index > 0:
                block.append(make_norm(norm, channels_out))
            block.append(nn.LeakyReLU(0.2, inplace=True))
            layers.append(nn.Sequential(*block))
            channels_in = channels_out
        self.features = nn.ModuleList(layers)
        self.head = nn.Conv2d(channels_in, 1, 4, 1, padding=1)
        gan_normal_(self)
        # Spectral norm wraps the initialised weights, so it comes after the init.
        for unit in layers:
            unit[0] = spectral(unit[0], spectral_norm)
        self.head = spectral(self.head, spectral_norm)

    @property
    def min_size(self) -> int:
        """The smallest input side that leaves at least one logit."""
        return 3 * 2**self.n_blocks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``[B, 1, h, w]`` (one per patch) and the feature map after each layer."""
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"patchgan with n_blocks={self.n_blocks} needs inputs of at least "
                f"{self.min_size}x{self.min_size} pixels, got {tuple(x.shape[-2:])}; "
                "lower Discriminator.n_blocks or use larger crops"
            )
        features = []
        for layer in self.features:
            x = layer(x)
            features.append(x)
        return self.head(x), features


@DISCRIMINATORS.register("patchgan", "PatchGAN (pix2pix): a grid of logits, one per image patch")
def build_patchgan_discriminator(config: Config) -> PatchGANDiscriminator:
    """PatchGAN from the ``Discriminator`` and ``Model`` sections."""
    d = config.Discriminator
    return PatchGANDiscriminator(
        in_bands=config.Model.sr_bands,
        n_channels=d.n_channels,
        max_channels=d.max_channels,
        **optional_kwargs(config),
    )
