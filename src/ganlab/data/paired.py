"""The ``paired`` dataset: LR and HR images that both exist on disk (e.g. two sensors).

LR and HR may differ in band count, dtype and units; each branch is checked against its own
model band count (``Model.in_bands`` for LR, ``Model.out_bands`` for HR) and HR must be exactly
``scale`` times LR in both dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganlab.data.datasets import BandSelection, Sample, SRDataset, check_band_count, to_tensor
from ganlab.data.readers import ImageInfo, ImageRef, ReadOptions, read_image, read_info
from ganlab.data.readers import resolve_bands as resolve_band_indices
from ganlab.data.transforms import (
    paired_augment,
    paired_center_crop,
    paired_random_crop,
    shift_transform,
)
from ganlab.errors import DataError


@dataclass(frozen=True)
class Pair:
    """One LR image and the HR image of the same scene."""

    lr: ImageRef
    hr: ImageRef

    def __str__(self) -> str:
        return f"LR {self.lr} / HR {self.hr}"


def expand_pairs(pairs: Sequence[tuple[Path, Path]], options: ReadOptions) -> list[Pair]:
    """One :class:`Pair` per 2-D image; multi-image files (NIfTI) pair slice by slice.

    Raises:
        DataError: Two paired volumes with different slice counts (names both files).
    """
    from ganlab.data.paths import expand_images

    result: list[Pair] = []
    for lr_path, hr_path in pairs:
        lr_refs = expand_images([lr_path], options)
        hr_refs = expand_images([hr_path], options)
        if len(lr_refs) != len(hr_refs):
            raise DataError(
                f"LR {lr_path} holds {len(lr_refs)} images but HR {hr_path} holds "
                f"{len(hr_refs)}; paired volumes need the same number of slices"
            )
        result.extend(Pair(lr, hr) for lr, hr in zip(lr_refs, hr_refs, strict=True))
    return result


class PairedDataset(SRDataset):
    """Pairs of LR and HR images; crops are taken at the same place in both.

    Args:
        pairs: :class:`Pair` s (see :func:`expand_pairs`) or ``(lr_path, hr_path)`` tuples.
        scale: Upscaling factor; HR size must be LR size x scale.
        lr_bands: Expected LR band count (``Model.in_bands``).
        hr_bands: Expected HR band count (``Model.out_bands``).
        train: Random aligned crops (+ augmentation) or deterministic centre crops.
        hr_patch_size: HR crop side; None keeps whole images (validation only).
        augment: Flips and rotations applied identically to both (training only).
        repeats: Items per pair per epoch (training).
        lr_selection: LR bands by index/name (``Data.lr_bands``, else ``Data.bands``).
        hr_selection: HR bands by index/name (``Data.bands``).
        read_options: Format options.
        **policy: ``seed``, ``on_bad_sample``, ``max_bad_fraction``.
    """

    def __init__(
        self,
        pairs: Sequence[Pair | tuple[Path, Path]],
        scale: int,
        lr_bands: int,
        hr_bands: int,
        train: bool,
        hr_patch_size: int | None,
        augment: bool = True,
        repeats: int = 1,
        lr_selection: BandSelection = None,
        hr_selection: BandSelection = None,
        read_options: ReadOptions | None = None,
        **policy: Any,
    ) -> None:
        super().__init__(train, repeats, **policy)
        if train and hr_patch_size is None:
            raise ValueError("training needs a crop size (hr_patch_size)")
        self.entries = [
            p if isinstance(p, Pair) else Pair(ImageRef(Path(p[0])), ImageRef(Path(p[1])))
            for p in pairs
        ]
        self.scale = scale
        self.lr_bands = lr_bands
        self.hr_bands = hr_bands
        self.hr_patch_size = hr_patch_size
        self.augment = augment and train
        self.lr_selection = list(lr_selection) if lr_selection is not None else None
        self.hr_selection = list(hr_selection) if hr_selection is not None else None
        self.read_options = read_options or ReadOptions()

    def _check_sizes(self, pair: Pair, lr_size: Sequence[int], hr_size: Sequence[int]) -> None:
        expected = (lr_size[0] * self.scale, lr_size[1] * self.scale)
        if tuple(hr_size) != expected:
            raise DataError(
                f"HR {pair.hr} is {hr_size[0]} x {hr_size[1]} pixels but LR {pair.lr} is "
                f"{lr_size[0]} x {lr_size[1]}; HR must be LR x Generator.scaling_factor "
                f"({self.scale}) = {expected[0]} x {expected[1]}"
            )
        crop = self.hr_patch_size
        if crop is not None and (hr_size[0] < crop or hr_size[1] < crop):
            raise DataError(
                f"HR {pair.hr}: image of HR size {hr_size[0]}x{hr_size[1]} is smaller than the "
                f"{crop}x{crop} crop; use larger images or a smaller crop (Data.hr_patch_size; "
                "for validation Data.val_patch_size)"
            )

    def _selected_count(self, info: ImageInfo, selection: BandSelection, source: str) -> int:
        indices = resolve_band_indices(selection, info.band_names, source)
        return info.bands if indices is None else len(indices)

    def inspect(self, position: int, full: bool) -> None:
        """Band counts of both branches, the size relation, and NaNs when ``full``."""
        pair = self.entries[position]
        if full:
            lr, hr, _, _ = self._read(pair)
            self._check_sizes(pair, lr.shape[-2:], hr.shape[-2:])
            return
        lr_info = read_info(pair.lr, self.read_options)
        hr_info = read_info(pair.hr, self.read_options)
        lr_count = self._selected_count(lr_info, self.lr_selection, f"LR {pair.lr}")
        hr_count = self._selected_count(hr_info, self.hr_selection, f"HR {pair.hr}")
        check_band_count(lr_count, self.lr_bands, f"LR {pair.lr}", "Model.in_bands")
        check_band_count(hr_count, self.hr_bands, f"HR {pair.hr}", "Model.out_bands")
        self._check_sizes(pair, (lr_info.height, lr_info.width), (hr_info.height, hr_info.width))

    def _read(
        self, pair: Pair
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any], dict[str, Any]]:
        lr_array, lr_meta = read_image(pair.lr, self.lr_selection, self.read_options)
        hr_array, hr_meta = read_image(pair.hr, self.hr_selection, self.read_options)
        check_band_count(lr_array.shape[0], self.lr_bands, f"LR {pair.lr}", "Model.in_bands")
        check_band_count(hr_array.shape[0], self.hr_bands, f"HR {pair.hr}", "Model.out_bands")
        lr = to_tensor(lr_array, f"LR {pair.lr}")
        hr = to_tensor(hr_array, f"HR {pair.hr}")
        return lr, hr, lr_meta, hr_meta

    def load(self, position: int, index: int) -> Sample:
        """Read both images, check their sizes, crop the same place, augment both alike."""
        pair = self.entries[position]
        lr, hr, lr_meta, hr_meta = self._read(pair)
        self._check_sizes(pair, lr.shape[-2:], hr.shape[-2:])
        generator = self.generator(index)
        if self.train:
            assert self.hr_patch_size is not None
            lr, hr, window = paired_random_crop(lr, hr, self.scale, self.hr_patch_size, generator)
            if self.augment:
                lr, hr = paired_augment(lr, hr, generator)
        else:
            lr, hr, window = paired_center_crop(lr, hr, self.scale, self.hr_patch_size)
        top, left = window[0], window[1]
        return {
            "lr": lr.contiguous(),
            "hr": hr.contiguous(),
            "meta": {
                "path": str(pair.hr.path),
                "lr_path": str(pair.lr.path),
                "index": pair.hr.index,
                "window": window,
                "bands": tuple(hr_meta["band_names"]),
                "lr_bands": tuple(lr_meta["band_names"]),
                "crs": hr_meta.get("crs"),
                "transform": shift_transform(hr_meta.get("transform"), top, left),
                "scale": self.scale,
            },
        }
