"""Validation of SR against HR and of the bicubic baseline, in physical units."""

from __future__ import annotations

from typing import Any

import torch

from ganlab.data.normalizers import AffineNormalizer, Normalizer
from ganlab.metrics import FidelityQuality, ImageQuality
from ganlab.models.generators import interpolate


def band_spans(hr_normalizer: Normalizer, hr: torch.Tensor) -> torch.Tensor:
    """The data range of each band (``[C]``, physical units) for the fidelity figures: the HR
    normaliser's span (its per-band scale, as PSNR uses it), or for a custom normaliser the
    band's range in this batch."""
    if isinstance(hr_normalizer, AffineNormalizer):
        return hr_normalizer.scale.to(hr.device).expand(hr.shape[1])
    values = hr.float().transpose(0, 1).flatten(1)
    return (values.amax(1) - values.amin(1)).clamp_min(torch.finfo(torch.float32).eps)


def validation_outputs(
    batch: dict[str, Any],
    sr: torch.Tensor,
    hr_normalizer: Normalizer,
    scale: int,
    sr_quality: ImageQuality,
    bicubic_quality: ImageQuality | None,
    fidelity_quality: FidelityQuality | None = None,
) -> dict[str, Any]:
    """Update the quality metrics with one batch; return ``{lr, sr, hr, meta}`` in physical
    units, plus ``bicubic`` when there is a baseline (same LR and SR bands), for callbacks,
    and with ``fidelity_quality`` also ``correctness``, the per-pixel class labels ``[B, H, W]``
    (0 improvement, 1 omission, 2 hallucination, -1 not classified).

    ``sr`` is the generator's (normalised) output. The bicubic baseline is interpolated in
    physical units and compared in HR units (exact also with different LR/HR normalisers:
    bicubic weights sum to 1, so interpolation commutes with per-band affine maps).
    """
    hr = hr_normalizer.normalize(batch["hr"])
    sr_physical = hr_normalizer.denormalize(sr)
    sr_quality.update(sr, hr, sr_physical, batch["hr"])
    outputs = {"lr": batch["lr"], "sr": sr_physical, "hr": batch["hr"], "meta": batch.get("meta")}
    if bicubic_quality is not None:
        bicubic_physical = interpolate(batch["lr"], scale, "bicubic")
        bicubic = hr_normalizer.normalize(bicubic_physical)
        bicubic_quality.update(bicubic, hr, bicubic_physical, batch["hr"])
        outputs["bicubic"] = bicubic_physical
        if fidelity_quality is not None:
            spans = band_spans(hr_normalizer, batch["hr"])
            outputs["correctness"] = fidelity_quality.update(
                sr_physical, batch["lr"], batch["hr"], bicubic_physical, spans
            )
    return outputs


def validation_values(
    sr_quality: ImageQuality,
    bicubic_quality: ImageQuality | None,
    prefix: str = "val",
    fidelity_quality: FidelityQuality | None = None,
) -> dict[str, torch.Tensor]:
    """``<prefix>/<metric>`` of SR, ``<prefix>/<metric>_bicubic``, ``<prefix>/psnr_gain`` and
    the fidelity figures of the epoch (``prefix``: ``val`` or ``test``); the metrics are reset
    for the next one."""
    sr = sr_quality.compute()
    values = {f"{prefix}/{name}": value for name, value in sr.items()}
    sr_quality.reset()
    if bicubic_quality is not None:
        bicubic = bicubic_quality.compute()
        values.update({f"{prefix}/{name}_bicubic": value for name, value in bicubic.items()})
        values[f"{prefix}/psnr_gain"] = sr["psnr"] - bicubic["psnr"]
        bicubic_quality.reset()
    if fidelity_quality is not None:
        values.update({f"{prefix}/{k}": v for k, v in fidelity_quality.compute().items()})
        fidelity_quality.reset()
    return values
