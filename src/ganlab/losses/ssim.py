"""Differentiable SSIM and MS-SSIM for any band count (computed in float32).

SSIM uses a Gaussian window (``window_size``, ``sigma``) applied per band, without padding,
with ``C1 = (0.01 L)^2`` and ``C2 = (0.03 L)^2`` for data range ``L``; the map is averaged over
pixels and bands.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.losses.terms import check_pair

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Scale weights of MS-SSIM (Wang et al., 2003), finest scale first."""


def gaussian_window(window_size: int, sigma: float, channels: int) -> torch.Tensor:
    """A normalised 2-D Gaussian kernel repeated per channel, shape ``[C, 1, k, k]``."""
    coords = torch.arange(window_size, dtype=torch.float32) - (window_size - 1) / 2
    line = torch.exp(-(coords**2) / (2 * sigma**2))
    line = line / line.sum()
    return (
        (line[:, None] * line[None, :]).expand(channels, 1, window_size, window_size).contiguous()
    )


def _ssim_and_cs(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, data_range: float
) -> tuple[torch.Tensor, torch.Tensor]:
    channels = x.shape[1]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x = F.conv2d(x, window, groups=channels)
    mu_y = F.conv2d(y, window, groups=channels)
    var_x = F.conv2d(x * x, window, groups=channels) - mu_x**2
    var_y = F.conv2d(y * y, window, groups=channels) - mu_y**2
    cov = F.conv2d(x * y, window, groups=channels) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def _check_size(x: torch.Tensor, window_size: int, what: str) -> None:
    if min(x.shape[-2:]) < window_size:
        raise ValueError(
            f"{what}: image of {tuple(x.shape[-2:])} pixels is smaller than the SSIM window "
            f"({window_size}); use larger crops or a smaller ssim_window_size"
        )


def ssim(
    sr: torch.Tensor,
    hr: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Mean SSIM of ``sr`` against ``hr`` (``[B, C, H, W]``), averaged over images and bands.

    Example:
        >>> x = torch.rand(2, 4, 32, 32)
        >>> round(float(ssim(x, x)), 4)
        1.0
    """
    check_pair(sr, hr)
    _check_size(sr, window_size, "ssim")
    with torch.autocast(device_type=sr.device.type, enabled=False):
        window = gaussian_window(window_size, sigma, sr.shape[1]).to(sr.device)
        value, _ = _ssim_and_cs(sr.float(), hr.float(), window, data_range)
        return value.mean()


def ms_ssim(
    sr: torch.Tensor,
    hr: torch.Tensor,
    window_size: int = 11,
    sigma: float = 1.5,
    data_range: float = 1.0,
    scales: int = 5,
) -> torch.Tensor:
    """Multi-scale SSIM: ``prod_j cs_j^w_j`` over the first ``scales - 1`` scales times
    ``ssim^w_last`` at the coarsest, halving the image (2x2 mean) between scales.

    With fewer than 5 scales the first ``scales`` weights are renormalised to sum to 1.
    Negative contrast-structure values are clamped to 0 so the powers stay real.
    The image needs at least ``window_size * 2^(scales - 1)`` pixels per side.
    """
    check_pair(sr, hr)
    if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ValueError(f"scales must be 1..{len(MS_SSIM_WEIGHTS)}, got {scales}")
    _check_size(sr, window_size * 2 ** (scales - 1), f"ms_ssim with {scales} scales")
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=sr.device)
    weights = weights / weights.sum()
    with torch.autocast(device_type=sr.device.type, enabled=False):
        x, y = sr.float(), hr.float()
        window = gaussian_window(window_size, sigma, sr.shape[1]).to(sr.device)
        factors = []
        for index in range(scales):
            value, cs = _ssim_and_cs(x, y, window, data_range)
            last = index == scales - 1
            factors.append((value if last else cs).clamp_min(0) ** weights[index])
            if not last:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        return torch.stack(factors).prod(dim=0).mean()


def ssim_loss(
    sr: torch.Tensor, hr: torch.Tensor, window_size: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """``1 - ssim(sr, hr)`` (data range 1, the normalised units)."""
    return 1.0 - ssim(sr, hr, window_size, sigma)


def ms_ssim_loss(
    sr: torch.Tensor, hr: torch.Tensor, window_size: int = 11, sigma: float = 1.5, scales: int = 5
) -> torch.Tensor:
    """``1 - ms_ssim(sr, hr)`` (data range 1, the normalised units)."""
    return 1.0 - ms_ssim(sr, hr, window_size, sigma, scales=scales)
