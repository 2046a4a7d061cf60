"""Validation of SR against HR and of the bicubic baseline, in physical units."""

from __future__ import annotations

from typing import Any

import torch

from ganlab.data.normalizers import Normalizer
from ganlab.metrics import ImageQuality
from ganlab.models.generators import interpolate


def validation_outputs(
    batch: dict[str, Any],
    sr: torch.Tensor,
    hr_normalizer: Normalizer,
    scale: int,
    sr_quality: ImageQuality,
    bicubic_quality: ImageQuality | None,
) -> dict[str, Any]:
    """Update the quality metrics with one batch; return ``{lr, sr, hr, meta}`` in physical
    units, plus ``bicubic`` when there is a baseline (same LR and SR bands), for callbacks.

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
    return outputs


def validation_values(
    sr_quality: ImageQuality, bicubic_quality: ImageQuality | None, prefix: str = "val"
) -> dict[str, torch.Tensor]:
    """``<prefix>/<metric>`` of SR, ``<prefix>/<metric>_bicubic`` and ``<prefix>/psnr_gain``
    of the epoch (``prefix``: ``val`` or ``test``); the metrics are reset for the next one."""
    sr = sr_quality.compute()
    values = {f"{prefix}/{name}": value for name, value in sr.items()}
    sr_quality.reset()
    if bicubic_quality is not None:
        bicubic = bicubic_quality.compute()
        values.update({f"{prefix}/{name}_bicubic": value for name, value in bicubic.items()})
        values[f"{prefix}/psnr_gain"] = sr["psnr"] - bicubic["psnr"]
        bicubic_quality.reset()
    return values
