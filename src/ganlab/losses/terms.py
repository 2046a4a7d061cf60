"""Pixel and spectral content terms: ``term(sr, hr) -> scalar`` on ``[B, C, H, W]`` tensors.

Every term takes the super-resolved and the reference image in the network's (normalised)
units and returns a scalar tensor; each is zero (or minimal) when ``sr == hr``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_pair(sr: torch.Tensor, hr: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``sr`` and ``hr`` are ``[B, C, H, W]`` of one shape."""
    if sr.ndim != 4:
        raise ValueError(f"expected [B, C, H, W] tensors, got shape {tuple(sr.shape)}")
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")


def l1_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean absolute error ``mean(|sr - hr|)``.

    Example:
        >>> l1_loss(torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2))
        tensor(1.)
    """
    check_pair(sr, hr)
    return F.l1_loss(sr, hr)


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``mean((sr - hr)^2)``."""
    check_pair(sr, hr)
    return F.mse_loss(sr, hr)


def charbonnier_loss(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier (smooth L1) ``mean(sqrt((sr - hr)^2 + eps^2)) - eps``; 0 when equal.

    Example:
        >>> round(float(charbonnier_loss(torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2))), 4)
        0.999
    """
    check_pair(sr, hr)
    return torch.sqrt((sr - hr).square() + eps * eps).mean() - eps


def _spatial_differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def tv_loss(sr: torch.Tensor, hr: torch.Tensor | None = None) -> torch.Tensor:
    """Anisotropic total variation of ``sr``: mean ``|dy|`` + mean ``|dx|``.

    A regulariser of the output alone (``hr`` is accepted for a uniform signature and ignored):
    its minimum, 0, is reached by a flat image.
    """
    dy, dx = _spatial_differences(sr)
    return dy.abs().mean() + dx.abs().mean()


def gradient_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L1 between the image gradients (finite differences along y and x) of ``sr`` and ``hr``."""
    check_pair(sr, hr)
    sr_dy, sr_dx = _spatial_differences(sr)
    hr_dy, hr_dx = _spatial_differences(hr)
    return F.l1_loss(sr_dy, hr_dy) + F.l1_loss(sr_dx, hr_dx)


def fft_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L1 between the 2-D Fourier amplitudes (orthonormal FFT, float32) of ``sr`` and ``hr``.

    Penalises missing high-frequency energy (blur) more directly than pixel losses.
    """
    check_pair(sr, hr)
    with torch.autocast(device_type=sr.device.type, enabled=False):
        sr_amplitude = torch.fft.rfft2(sr.float(), norm="ortho").abs()
        hr_amplitude = torch.fft.rfft2(hr.float(), norm="ortho").abs()
        return F.l1_loss(sr_amplitude, hr_amplitude)


def spectral_angle(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-pixel spectral angle in radians between the band vectors, shape ``[B, H, W]``.

    ``atan2(|a x b|, a . b)`` with ``|a x b| = sqrt(|a|^2 |b|^2 - (a . b)^2)``, which stays
    accurate near 0 (unlike ``acos``). Where either vector is zero the angle is undefined and
    returned as 0, with finite gradients.
    """
    check_pair(sr, hr)
    with torch.autocast(device_type=sr.device.type, enabled=False):
        a, b = sr.float(), hr.float()
        dot = (a * b).sum(dim=1)
        norms_sq = a.square().sum(dim=1) * b.square().sum(dim=1)
        valid = norms_sq > eps
        cross = torch.sqrt((norms_sq - dot.square()).clamp_min(0) + eps) - eps**0.5
        angle = torch.atan2(cross, torch.where(valid, dot, torch.ones_like(dot)))
        return torch.where(valid, angle, torch.zeros_like(angle))


def sam_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (radians) over pixels; pi/2 for orthogonal spectra.

    Example:
        >>> a = torch.tensor([1.0, 0.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
        >>> b = torch.tensor([0.0, 1.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
        >>> round(float(sam_loss(a, b)), 4)
        1.5708
    """
    return spectral_angle(sr, hr).mean()
