"""Validation metrics in physical units, for SR and for the bicubic baseline.

Images are denormalised to physical values and divided per band by the normaliser's data range
(the span that maps to one network unit), so PSNR/SSIM use ``data_range = 1`` per band.
PSNR is computed per image and band, then averaged; SSIM per image, averaged over bands.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.functional.image import peak_signal_noise_ratio
from torchmetrics.image import StructuralSimilarityIndexMeasure


class ImageQuality(nn.Module):
    """PSNR and SSIM accumulated over a validation epoch (DDP-aware through torchmetrics)."""

    def __init__(self) -> None:
        super().__init__()
        self.psnr = MeanMetric()
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch; both ``[B, C, H, W]`` already divided by the per-band data range."""
        prediction, target = prediction.float(), target.float()
        psnr = peak_signal_noise_ratio(
            prediction, target, data_range=1.0, reduction="none", dim=(2, 3)
        )
        self.psnr.update(psnr.mean(dim=1))
        self.ssim.update(prediction, target)

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"psnr": dB, "ssim": 0..1}`` over everything added since the last reset."""
        ssim = self.ssim.compute()
        assert isinstance(ssim, torch.Tensor)  # a tuple only with return_full_image=True
        return {"psnr": self.psnr.compute(), "ssim": ssim}

    def reset(self) -> None:
        """Start a new epoch."""
        self.psnr.reset()
        self.ssim.reset()
