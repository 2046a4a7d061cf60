"""Validation metrics for SR and for the bicubic baseline (torchmetrics, DDP-aware).

- PSNR and SSIM use data range 1 on the normalised images: physical values measured in units of
  each band's normalisation span (for ``percentile``, the ``low``..``high`` span), offset
  removed. PSNR is computed per image and band, averaged over bands (``psnr``) and also kept per
  band (``psnr_band<k>``).
- SAM (radians, bands > 1) and ERGAS (ratio = the scale factor) use denormalised physical values,
  since both depend on the absolute spectrum and band means; both are computed per image and
  averaged, so memory does not grow with the validation set.
- LPIPS (optional) uses three bands of the normalised images, when its network weights are
  available locally; otherwise it is skipped with one warning.
- Fidelity (:class:`FidelityQuality`, :mod:`ganlab.fidelity`): consistency of the degraded SR
  with the LR input, synthesis over bicubic and the correctness fractions, per image in
  physical units with each band's normalisation span as its data range.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.functional.image import (
    error_relative_global_dimensionless_synthesis,
    peak_signal_noise_ratio,
    spectral_angle_mapper,
)
from torchmetrics.image import StructuralSimilarityIndexMeasure

import ganlab.fidelity as fidelity

log = logging.getLogger(__name__)


LPIPS_BACKBONE_FILE = "alexnet-owt-7be5be79.pth"
"""torchvision's ImageNet AlexNet weights, the LPIPS backbone (the LPIPS layers on top of it
ship with torchmetrics)."""

_lpips_failure: str | None = None
"""Why LPIPS could not be built, once that failed in this process (it is not tried again)."""


def lpips_backbone_path() -> Path:
    """Where torchvision looks for the LPIPS backbone weights before downloading them:
    ``<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth`` (``$TORCH_HOME/hub/...``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILE


def build_lpips() -> nn.Module | None:
    """torchmetrics' LPIPS (AlexNet), or None when it cannot be built offline.

    A failure is logged as one warning per process, naming the package and the weights file
    needed; later calls return None without trying again.
    """
    global _lpips_failure
    if _lpips_failure is not None:
        return None
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    except Exception as exc:
        _lpips_failure = f"{type(exc).__name__}: {exc}"
        log.warning(
            "LPIPS is not computed: its network could not be built offline (%s). "
            "It needs torchvision (pip install torchvision) and AlexNet's ImageNet weights in "
            "%s (torchvision's %s, from https://download.pytorch.org/models/).",
            _lpips_failure,
            lpips_backbone_path(),
            LPIPS_BACKBONE_FILE,
        )
        return None


class ImageQuality(nn.Module):
    """PSNR (mean and per band), SSIM, SAM, ERGAS and optional LPIPS over a validation epoch.

    Args:
        bands: Band count of the images.
        scale: Super-resolution factor (the ERGAS ratio).
        lpips: Also compute LPIPS when possible.
    """

    psnr: MeanMetric
    ssim: StructuralSimilarityIndexMeasure
    sam: MeanMetric | None
    ergas: MeanMetric
    lpips: Any

    def __init__(self, bands: int, scale: int, lpips: bool = False) -> None:
        super().__init__()
        self.bands = bands
        self.psnr = MeanMetric()
        self.psnr_bands = nn.ModuleList(MeanMetric() for _ in range(bands))
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.scale = scale
        # per-image values averaged by MeanMetric: memory stays constant over the epoch
        self.sam = MeanMetric() if bands > 1 else None
        self.ergas = MeanMetric()
        self.lpips = build_lpips() if lpips else None

    def update(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        prediction_physical: torch.Tensor,
        target_physical: torch.Tensor,
    ) -> None:
        """Add a batch: normalised ``[B, C, H, W]`` images and the same in physical units."""
        prediction, target = prediction.float(), target.float()
        psnr = peak_signal_noise_ratio(
            prediction, target, data_range=1.0, reduction="none", dim=(2, 3)
        )
        self.psnr.update(psnr.mean(dim=1))
        for band, metric in enumerate(self.psnr_bands):
            cast(MeanMetric, metric).update(psnr[:, band])
        self.ssim.update(prediction, target)
        prediction_physical, target_physical = prediction_physical.float(), target_physical.float()
        if self.sam is not None:
            angles = spectral_angle_mapper(prediction_physical, target_physical, reduction="none")
            self.sam.update(angles.flatten(1).mean(dim=1))
        self.ergas.update(
            error_relative_global_dimensionless_synthesis(
                prediction_physical, target_physical, ratio=self.scale, reduction="none"
            )
        )
        if self.lpips is not None:
            rgb = [0, 1, 2] if self.bands >= 3 else [0, 0, 0]
            self.lpips.update(prediction[:, rgb].clamp(0, 1), target[:, rgb].clamp(0, 1))

    def compute(self) -> dict[str, torch.Tensor]:
        """Metric name -> value over everything added since the last reset."""
        ssim = self.ssim.compute()
        assert isinstance(ssim, torch.Tensor)  # a tuple only with return_full_image=True
        values = {"psnr": self.psnr.compute(), "ssim": ssim, "ergas": self.ergas.compute()}
        for band, metric in enumerate(self.psnr_bands):
            values[f"psnr_band{band}"] = cast(MeanMetric, metric).compute()
        if self.sam is not None:
            values["sam"] = self.sam.compute()
        if self.lpips is not None:
            values["lpips"] = self.lpips.compute()
        return values

    def reset(self) -> None:
        """Start a new epoch."""
        for metric in self.modules():
            if isinstance(metric, Metric):
                metric.reset()


FIDELITY_FIGURES = (
    "consistency_psnr",
    "consistency_psnr_bicubic",
    "consistency_mae",
    "consistency_sam",
    "consistency_sam_bicubic",
    "synthesis",
    "improvement",
    "omission",
    "hallucination",
)
"""Names of the :class:`FidelityQuality` figures (``consistency_sam*`` only for bands > 1)."""


class FidelityQuality(nn.Module):
    """Consistency, synthesis and correctness (:mod:`ganlab.fidelity`) over a validation epoch.

    Values: ``consistency_psnr`` (dB, from the epoch's mean squared error of the degraded SR
    against LR in units of the band spans, so one image that matches exactly does not make it
    ``inf``; ``inf`` only when every image does), ``consistency_mae`` (band spans),
    ``consistency_sam`` (radians, bands > 1), the same PSNR and angle of the bicubic upsample
    (``*_bicubic``, for reference), ``synthesis`` (band spans) and the fractions
    ``improvement``, ``omission`` and ``hallucination`` (per image, averaged; images where no
    pixel is classified are left out of the three alike, so their means still sum to 1).
    Computed in float32 with autocast off, whatever the run's precision.

    Args:
        bands: Band count of LR and SR.
        degrade: The data's HR -> LR operator on physical ``[B, C, H, W]`` tensors.
    """

    def __init__(self, bands: int, degrade: nn.Module) -> None:
        super().__init__()
        self.degrade = degrade
        names = ["consistency_mse", "consistency_mse_bicubic", "consistency_mae"]
        if bands > 1:
            names += ["consistency_sam", "consistency_sam_bicubic"]
        names += ["synthesis", *fidelity.CLASSES]
        self.values = nn.ModuleDict({name: MeanMetric(nan_strategy="ignore") for name in names})

    def update(
        self,
        sr: torch.Tensor,
        lr: torch.Tensor,
        hr: torch.Tensor,
        bicubic: torch.Tensor,
        span: torch.Tensor,
    ) -> torch.Tensor:
        """Add a batch (physical units; ``span``: ``[C]`` data range per band); returns the
        per-pixel correctness labels ``[B, H, W]`` (see :func:`ganlab.fidelity.correctness_map`)."""
        with torch.autocast(sr.device.type, enabled=False):
            sr, lr, hr, bicubic, span = (t.float() for t in (sr, lr, hr, bicubic, span))
            kept = fidelity.consistency(sr, lr, self.degrade, span)
            reference = fidelity.consistency(bicubic, lr, self.degrade, span)
            found: dict[str, torch.Tensor | None] = {
                "consistency_mse": kept.mse,
                "consistency_mse_bicubic": reference.mse,
                "consistency_mae": kept.mae,
                "consistency_sam": kept.sam,
                "consistency_sam_bicubic": reference.sam,
                "synthesis": fidelity.synthesis(sr, bicubic, span),
            }
            labels = fidelity.correctness_map(sr, hr, bicubic, span)
            found.update(fidelity.class_fractions(labels))
            for name, metric in self.values.items():
                value = found[name]
                if value is not None:
                    cast(MeanMetric, metric).update(value)
            return labels

    def compute(self) -> dict[str, torch.Tensor]:
        """Metric name -> value over everything added since the last reset."""
        values = {name: cast(MeanMetric, m).compute() for name, m in self.values.items()}
        for suffix in ("", "_bicubic"):
            values[f"consistency_psnr{suffix}"] = -10 * torch.log10(
                values.pop(f"consistency_mse{suffix}")
            )
        return values

    def reset(self) -> None:
        """Start a new epoch."""
        for metric in self.values.values():
            cast(MeanMetric, metric).reset()
