"""SRGAN's VGG-style discriminator with one logit per image."""

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


class SRGANDiscriminator(SRDiscriminator):
    """SRGAN's VGG-style discriminator with adaptive pooling, so the input size is free.

    ``n_blocks`` conv layers (3x3; stride 2 on every second layer; channels double every second
    layer up to ``max_channels``; normalisation after all but the first), then adaptive average
    pooling to 4x4, a hidden dense layer and one logit per image. Initialisation: PyTorch
    defaults.

    Args:
        in_bands: Input bands.
        n_channels: Channels of the first layer.
        n_blocks: Conv layers.
        max_channels: Channel cap.
        fc_size: Hidden dense width.
        norm: ``batch``, ``instance`` or ``none``.
        spectral_norm: Spectral normalisation on every conv and dense layer.

    Example:
        >>> d = SRGANDiscriminator(in_bands=13, n_channels=8, n_blocks=4)
        >>> logits, features = d(torch.rand(2, 13, 64, 96))
        >>> logits.shape, len(features)
        (torch.Size([2, 1]), 4)
    """

    recommended_use = "Classic SRGAN/ESRGAN recipes; one realism score per image."

    def __init__(
        self,
        in_bands: int,
        n_channels: int = 64,
        n_blocks: int = 8,
        max_channels: int = 512,
        fc_size: int = 1024,
        norm: NormName = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_bands = in_bands
        layers = []
        channels_in = in_bands
        for index in range(n_blocks):
            channels_out = min(n_channels * 2 ** (index // 2), max_channels)
            stride = 2 if index % 2 == 1 else 1
            layer = nn.Conv2d(channels_in, channels_out, 3, stride, padding=1)
            block: list[nn.Module] = [spectral(layer, spectral_norm)]
            if index > 0:
                block.append(make_norm(norm, channels_out))
            block.append(nn.LeakyReLU(0.2, inplace=True))
            layers.append(nn.Sequential(*block))
            channels_in = channels_out
        self.features = nn.ModuleList(layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            spectral(nn.Linear(channels_in * 16, fc_size), spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
            spectral(nn.Linear(fc_size, 1), spectral_norm),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``[B, 1]`` and the feature map after each conv layer."""
        features = []
        for layer in self.features:
            x = layer(x)
            features.append(x)
        return self.head(x), features


@DISCRIMINATORS.register("srgan", "SRGAN's VGG-style strided conv stack with one logit per image")
def build_srgan_discriminator(config: Config) -> SRGANDiscriminator:
    """SRGAN discriminator from the ``Discriminator`` and ``Model`` sections."""
    d = config.Discriminator
    return SRGANDiscriminator(
        in_bands=config.Model.sr_bands,
        n_channels=d.n_channels,
        max_channels=d.max_channels,
        fc_size=d.fc_size,
        **optional_kwargs(config),
    )
