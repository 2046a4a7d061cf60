"""Datasets: items ``{"lr": [C, h, w], "hr": [C, H, W], "meta": {...}}`` in physical units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ganlab.data.readers import read_image
from ganlab.data.transforms import (
    downsample,
    paired_augment,
    paired_center_crop,
    paired_random_crop,
)
from ganlab.errors import DataError

Sample = dict[str, Any]


class DegradedDataset(Dataset[Sample]):
    """High-resolution images; the LR input is made by downsampling each (whole) image.

    Training items are random aligned crops (``hr_patch_size``) with optional flips/rotations;
    validation items are deterministic centre crops or whole images. The image is cropped to a
    multiple of ``scale`` from the bottom/right before downsampling.

    Args:
        files: Image files (any suffix :func:`ganlab.data.readers.read_image` reads).
        scale: Upscaling factor.
        bands: Expected band count; a file with another count is an error naming it.
        train: Random crops and augmentation (True) or deterministic crops (False).
        hr_patch_size: Crop side in HR pixels; None keeps whole images (validation only).
        method: ``area`` or ``bicubic`` downsampling.
        augment: Flips and rotations (training only).
        repeats: Items per file per epoch (training).

    Training randomness draws from torch's global random state, which
    ``lightning.seed_everything(seed, workers=True)`` makes reproducible, also in worker
    processes; validation items are deterministic.
    """

    def __init__(
        self,
        files: list[Path],
        scale: int,
        bands: int,
        train: bool,
        hr_patch_size: int | None,
        method: str = "area",
        augment: bool = True,
        repeats: int = 1,
    ) -> None:
        if train and hr_patch_size is None:
            raise ValueError("training needs a crop size (hr_patch_size)")
        self.files = list(files)
        self.scale = scale
        self.bands = bands
        self.train = train
        self.hr_patch_size = hr_patch_size
        self.method = method
        self.augment = augment and train
        self.repeats = repeats if train else 1

    def __len__(self) -> int:
        return len(self.files) * self.repeats

    def _load_hr(self, path: Path) -> torch.Tensor:
        array, _ = read_image(path)
        if array.shape[0] != self.bands:
            raise DataError(
                f"{path}: has {array.shape[0]} bands but Model.in_bands is {self.bands}; "
                "set Model.in_bands to match the data"
            )
        if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
            raise DataError(f"{path}: holds {array.dtype} values, expected numbers")
        hr = torch.from_numpy(array.astype(np.float32, copy=False))
        if not torch.isfinite(hr).all():
            raise DataError(f"{path}: contains NaN or infinite values")
        height = hr.shape[-2] - hr.shape[-2] % self.scale
        width = hr.shape[-1] - hr.shape[-1] % self.scale
        return hr[:, :height, :width]

    def __getitem__(self, index: int) -> Sample:
        path = self.files[index % len(self.files)]
        hr = self._load_hr(path)
        lr = downsample(hr, self.scale, self.method)
        try:
            if self.train:
                assert self.hr_patch_size is not None
                lr, hr, window = paired_random_crop(lr, hr, self.scale, self.hr_patch_size)
                if self.augment:
                    lr, hr = paired_augment(lr, hr)
            else:
                lr, hr, window = paired_center_crop(lr, hr, self.scale, self.hr_patch_size)
        except ValueError as exc:
            raise DataError(f"{path}: {exc}; use larger images or a smaller crop") from exc
        return {
            "lr": lr.contiguous(),
            "hr": hr.contiguous(),
            "meta": {"path": str(path), "window": window, "scale": self.scale},
        }


def collate_samples(samples: list[Sample]) -> Sample:
    """Stack ``lr``/``hr`` into batches; collect each ``meta`` field into a list."""
    meta_keys = samples[0]["meta"].keys()
    return {
        "lr": torch.stack([s["lr"] for s in samples]),
        "hr": torch.stack([s["hr"] for s in samples]),
        "meta": {key: [s["meta"][key] for s in samples] for key in meta_keys},
    }
