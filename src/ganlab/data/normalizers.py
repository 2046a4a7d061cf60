"""Normalisers: per-band affine maps between physical values and network values.

``normalize(x) = (x - offset) / scale`` and ``denormalize(y) = y * scale + offset``, exactly
inverse. They are ``nn.Module``s so the statistics live on the device with the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganlab.config.schema import NormalizationConfig


class AffineNormalizer(nn.Module):
    """Per-band ``(x - offset) / scale`` on ``[B, C, H, W]`` or ``[C, H, W]`` tensors.

    Args:
        offset: Per-band offsets (one value applies to all bands).
        scale: Per-band scales, > 0.

    Example:
        >>> norm = AffineNormalizer([7460.0, 6720.0, 6033.0, 0.0], [1310.0, 1808.0, 2855.0, 1.0])
        >>> x = torch.full((1, 4, 2, 2), 8000.0)
        >>> torch.allclose(norm.denormalize(norm.normalize(x)), x)
        True
    """

    offset: torch.Tensor
    scale: torch.Tensor

    def __init__(self, offset: Sequence[float], scale: Sequence[float]) -> None:
        super().__init__()
        if len(offset) != len(scale):
            raise ValueError(f"offset has {len(offset)} values, scale has {len(scale)}")
        if any(s <= 0 for s in scale):
            raise ValueError(f"every scale must be > 0, got {list(scale)}")
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32), persistent=False)
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32), persistent=False)

    def _per_band(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.ndim
        shape[-3] = -1
        return values.to(x.dtype).reshape(shape)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Physical values -> network values."""
        return (x - self._per_band(x, self.offset)) / self._per_band(x, self.scale)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Network values -> physical values (the exact inverse of :meth:`normalize`)."""
        return y * self._per_band(y, self.scale) + self._per_band(y, self.offset)


def build_normalizer(config: NormalizationConfig) -> AffineNormalizer:
    """Build the normaliser described by ``Data.normalization``."""
    if config.type == "identity":
        return AffineNormalizer([0.0], [1.0])
    if config.type == "zero_one":
        assert config.max_value is not None  # enforced by the schema
        return AffineNormalizer([0.0], [config.max_value])
    assert config.low is not None and config.high is not None  # enforced by the schema
    spans = [hi - lo for lo, hi in zip(config.low, config.high, strict=True)]
    return AffineNormalizer(config.low, spans)
