"""Degradations: how a low-resolution input is made from a high-resolution image.

Order: Gaussian blur (in HR pixels) -> downsampling by ``scale`` (area or antialiased bicubic)
-> signal-dependent (Poisson) noise -> additive Gaussian noise -> optional quantisation to the
source file's integer dtype. All values are physical units (the dataset's output units).

Randomness comes from a ``torch.Generator`` seeded per item (see :func:`item_generator`):
from ``(seed, epoch, index)`` in training and ``(seed, index)`` in validation, so validation
inputs are the same in every epoch and training inputs the same in every run (None falls back
on torch's global state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.config.data import mtf_to_sigma
from ganlab.config.schema import Config
from ganlab.data.transforms import downsample

Range = float | tuple[float, float]


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel with radius ``ceil(3 sigma)`` (sums to 1)."""
    radius = max(1, math.ceil(3.0 * sigma))
    positions = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (positions / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[C, H, W]`` or ``[B, C, H, W]`` float images.

    Borders are reflected (replicated when the image is smaller than the kernel radius).
    ``sigma <= 0`` returns the input unchanged.
    """
    if sigma <= 0:
        return image
    batched = image if image.ndim == 4 else image[None]
    kernel = gaussian_kernel(sigma, batched.dtype).to(batched.device)
    radius = kernel.numel() // 2
    mode = "reflect" if radius < min(batched.shape[-2:]) else "replicate"
    # every band is blurred alike: fold the bands into the batch, so the convs have one fixed
    # kernel shape (a traced export then does not depend on the band count)
    height, width = batched.shape[-2:]
    out = batched.reshape(-1, 1, height, width)
    out = F.pad(out, (radius, radius, radius, radius), mode=mode)
    out = F.conv2d(out, kernel.reshape(1, 1, 1, -1))
    out = F.conv2d(out, kernel.reshape(1, 1, -1, 1))
    out = out.reshape(batched.shape)
    return out if image.ndim == 4 else out[0]


def _draw(value: Range, generator: torch.Generator | None) -> float:
    if isinstance(value, float | int):
        return float(value)
    low, high = value
    return low + (high - low) * float(torch.rand(1, generator=generator))


@dataclass(frozen=True)
class Degradation:
    """A configurable, seedable HR -> LR degradation.

    Args:
        scale: Downsampling factor.
        method: ``area`` or ``bicubic`` (antialiased).
        blur_sigma: Gaussian sigma in HR pixels, or a ``(min, max)`` range drawn per call.
        mtf_nyquist: MTF at the LR Nyquist frequency; when set, replaces ``blur_sigma``.
        noise_std: Additive Gaussian noise std (physical units), or a range.
        poisson_gain: Counts per physical unit of the shot noise; None disables it.
        quantize: Round and clip to the source dtype's range (integer sources only).

    Example:
        >>> degrade = Degradation(scale=2, blur_sigma=1.0, noise_std=5.0)
        >>> hr = torch.full((4, 32, 32), 1000.0)
        >>> lr = degrade(hr, torch.Generator().manual_seed(0))
        >>> lr.shape
        torch.Size([4, 16, 16])
    """

    scale: int
    method: str = "area"
    blur_sigma: Range = 0.0
    mtf_nyquist: float | None = None
    noise_std: Range = 0.0
    poisson_gain: float | None = None
    quantize: bool = False

    @classmethod
    def from_config(cls, config: Config) -> Degradation:
        """The degradation described by ``Data.degradation`` and ``Data.downsample``."""
        spec = config.Data.degradation
        return cls(
            scale=config.Generator.scaling_factor,
            method=config.Data.downsample,
            blur_sigma=spec.blur_sigma,
            mtf_nyquist=spec.mtf_nyquist,
            noise_std=spec.noise_std,
            poisson_gain=spec.poisson_gain,
            quantize=spec.quantize,
        )

    def sigma(self, generator: torch.Generator | None = None) -> float:
        """The blur sigma (HR pixels) for one call."""
        if self.mtf_nyquist is not None:
            return mtf_to_sigma(self.mtf_nyquist, self.scale)
        return _draw(self.blur_sigma, generator)

    def __call__(
        self,
        hr: torch.Tensor,
        generator: torch.Generator | None = None,
        source_dtype: np.dtype | str | None = None,
    ) -> torch.Tensor:
        """Make the LR image.

        Args:
            hr: ``[C, H, W]`` float, H and W multiples of ``scale``.
            generator: Random source; None uses torch's global state.
            source_dtype: dtype of the file ``hr`` came from, for quantisation.

        Returns:
            ``[C, H / scale, W / scale]`` float.
        """
        lr = downsample(gaussian_blur(hr, self.sigma(generator)), self.scale, self.method)
        if self.poisson_gain is not None:
            rate = lr.clamp(min=0) * self.poisson_gain
            shot = torch.poisson(rate, generator=generator) - rate
            lr = lr + shot / self.poisson_gain
        std = _draw(self.noise_std, generator)
        if std > 0:
            lr = lr + std * torch.randn(lr.shape, generator=generator, dtype=lr.dtype)
        if self.quantize and source_dtype is not None:
            dtype = np.dtype(source_dtype)
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                lr = lr.round().clamp(float(info.min), float(info.max))
        return lr


def item_generator(seed: int, index: int, epoch: int | None = None) -> torch.Generator:
    """A generator seeded from ``(seed, index)``, or ``(seed, epoch, index)`` for training items:
    the same draws for the same item (of the same epoch) every time, in any process."""
    if epoch is None:
        return torch.Generator().manual_seed((seed * 1_000_003 + index) % (2**63 - 1))
    mixed = ((seed * 1_000_003 + epoch + 1) * 998_244_353 + index) % (2**63 - 1)
    return torch.Generator().manual_seed(mixed)
