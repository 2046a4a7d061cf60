"""Fidelity of super-resolution: does SR keep what the sensor measured, and where did it invent?

Three groups of figures, computed per image in physical units (every function takes
``[B, C, H, W]`` SR/HR/bicubic and ``[B, C, h, w]`` LR tensors and returns one value per image):

* **consistency** (:func:`consistency`): SR degraded with the dataset's own operator against the
  LR input: PSNR and MAE (per band and over bands, with each band's data range) and the
  spectral angle between them (radians, bands > 1). SR that keeps the measurement gives
  ``inf`` dB, 0 and 0.
* **synthesis** (:func:`synthesis`): the detail SR adds over the bicubic upsample, the mean
  absolute difference between them in units of each band's data range. 0 means SR is bicubic.
* **correctness** (:func:`correctness`): per pixel, whether SR moved towards HR
  (improvement), stayed at the bicubic upsample (omission) or moved away from both
  (hallucination), as fractions of the pixels where anything happens; they sum to 1.

The concepts follow the consistency/synthesis/correctness groups of the opensr-test benchmark
for Sentinel-2 SR; docs/losses.md ("Fidelity metrics") says where these definitions differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Degrade = Callable[[torch.Tensor], torch.Tensor]
"""The dataset's HR -> LR operator on ``[B, C, H, W]`` tensors (e.g. 4x4 area averaging)."""

CLASSES = ("improvement", "omission", "hallucination")
"""The correctness classes, in the order of :func:`correctness_map`'s labels 0, 1, 2."""


def _span(data_range: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """``data_range`` as a ``[1, C, 1, 1]`` tensor of positive spans."""
    span = torch.as_tensor(data_range, dtype=like.dtype, device=like.device).reshape(-1)
    if span.numel() == 1:
        span = span.expand(like.shape[1])
    if span.numel() != like.shape[1] or bool((span <= 0).any()):
        raise ValueError(
            f"data_range needs one positive span per band ({like.shape[1]}), got {span.tolist()}"
        )
    return span.reshape(1, -1, 1, 1)


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(f"{names} must be [B, C, H, W] tensors of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")  # fmt: skip


def spectral_angle(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per image, the mean over pixels of the angle (radians) between the band vectors."""
    dot = (a * b).sum(1)
    norms = a.norm(dim=1) * b.norm(dim=1)
    cosine = (dot / norms.clamp_min(eps)).clamp(-1.0, 1.0)
    return torch.acos(cosine).flatten(1).mean(1)


@dataclass(frozen=True)
class Consistency:
    """:func:`consistency` figures, one value per image (``*_band``: ``[B, C]``)."""

    psnr: torch.Tensor
    psnr_band: torch.Tensor
    mse: torch.Tensor
    mae: torch.Tensor
    mae_band: torch.Tensor
    sam: torch.Tensor | None


def consistency(
    sr: torch.Tensor, lr: torch.Tensor, degrade: Degrade, data_range: torch.Tensor | float
) -> Consistency:
    """How well ``degrade(sr)`` gives back ``lr`` (all in physical units).

    PSNR per band uses that band's ``data_range`` as the peak (``inf`` when equal); the
    over-bands PSNR is that of the mean squared error relative to the spans (``mse``). MAE is in
    units of the spans. SAM is None for one band.
    """
    degraded = degrade(sr.float())
    _check_pair(degraded, lr, "degrade(sr) and lr")
    span = _span(data_range, lr)
    error = (degraded - lr.float()) / span
    mse_band = error.square().flatten(2).mean(2)
    mae_band = error.abs().flatten(2).mean(2)
    psnr_band = -10 * torch.log10(mse_band)
    psnr = -10 * torch.log10(mse_band.mean(1))
    sam = spectral_angle(degraded, lr.float()) if lr.shape[1] > 1 else None
    return Consistency(psnr, psnr_band, mse_band.mean(1), mae_band.mean(1), mae_band, sam)


def synthesis(
    sr: torch.Tensor, bicubic: torch.Tensor, data_range: torch.Tensor | float
) -> torch.Tensor:
    """Per image, the mean absolute difference between SR and the bicubic upsample, in units of
    each band's span, averaged over bands: the detail SR adds (0: SR is bicubic)."""
    _check_pair(sr, bicubic, "sr and bicubic")
    return ((sr.float() - bicubic.float()).abs() / _span(data_range, sr)).flatten(1).mean(1)


def row_quantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q`` quantile of each row of ``values`` ``[B, N]`` with linear interpolation, as
    ``torch.quantile`` gives it, but for rows of any length (``torch.quantile`` refuses more
    than 2**24 values: a 4097 x 4097 image). A sort, O(N log N) whatever the order of the values
    (``kthvalue``'s selection is quadratic on descending rows)."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    ordered = values.sort(dim=1).values
    position = q * (values.shape[1] - 1)
    low, high = math.floor(position), math.ceil(position)
    below, above = ordered[:, low], ordered[:, high]
    return below + (above - below) * (position - low)


def correctness_map(
    sr: torch.Tensor,
    hr: torch.Tensor,
    bicubic: torch.Tensor,
    data_range: torch.Tensor | float,
    gamma: float = 0.05,
    quantile: float = 0.75,
) -> torch.Tensor:
    """Per pixel: 0 improvement, 1 omission, 2 hallucination, -1 left out (``[B, H, W]``).

    Distances per pixel are mean absolute differences over bands in units of each band's span:
    ``d_ref`` (bicubic to HR), ``d_im`` (SR to HR), ``d_om`` (SR to bicubic). Pixels where all
    three are at most the ``quantile`` of the image's ``d_ref`` are left out (flat areas where
    nothing happens). With ``a = d_im / d_ref`` and ``b = d_om / d_ref`` (in units of the
    bicubic error: SR == HR gives (0, 1), SR == bicubic (1, 0)) and ``h = a + b - 1``, the scores
    are ``improvement = a + b (1 - exp(-gamma h))``, ``omission = b + a (1 - exp(-gamma h))`` and
    ``hallucination = exp(-gamma a b)``; each pixel takes the class of the lowest score.
    """
    _check_pair(sr, hr, "sr and hr")
    _check_pair(sr, bicubic, "sr and bicubic")
    span = _span(data_range, hr)
    sr, hr, bicubic = sr.float() / span, hr.float() / span, bicubic.float() / span
    d_ref = (bicubic - hr).abs().mean(1)
    d_im = (sr - hr).abs().mean(1)
    d_om = (sr - bicubic).abs().mean(1)
    threshold = row_quantile(d_ref.flatten(1), quantile).reshape(-1, 1, 1)
    kept = (d_ref > threshold) | (d_im > threshold) | (d_om > threshold)
    reference = d_ref.clamp_min(torch.finfo(d_ref.dtype).tiny)
    a, b = d_im / reference, d_om / reference
    damping = 1 - torch.exp(-gamma * (a + b - 1))
    scores = torch.stack([a + b * damping, b + a * damping, torch.exp(-gamma * a * b)], dim=1)
    labels = scores.argmin(1)
    return torch.where(kept, labels, torch.full_like(labels, -1))


def correctness(
    sr: torch.Tensor,
    hr: torch.Tensor,
    bicubic: torch.Tensor,
    data_range: torch.Tensor | float,
    gamma: float = 0.05,
    quantile: float = 0.75,
) -> dict[str, torch.Tensor]:
    """Per image, the fractions of improvement, omission and hallucination among the pixels
    :func:`correctness_map` keeps (they sum to 1; NaN for an image where it keeps none)."""
    return class_fractions(correctness_map(sr, hr, bicubic, data_range, gamma, quantile))


def class_fractions(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image, the fraction of each class among the kept pixels of :func:`correctness_map`
    labels ``[B, H, W]`` (NaN for an image without kept pixels)."""
    kept = (labels >= 0).flatten(1).sum(1).to(torch.float32)
    fractions = {}
    for index, name in enumerate(CLASSES):
        count = (labels == index).flatten(1).sum(1).to(torch.float32)
        fractions[name] = torch.where(kept > 0, count / kept.clamp_min(1), math.nan)
    return fractions
