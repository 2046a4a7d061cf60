"""Datasets: items ``{"lr": [C, h, w], "hr": [C', H, W], "meta": {...}}`` in physical units.

Every built-in dataset gives the same ``meta`` keys, each a plain, collatable value:

- ``path`` (str): the HR source file; ``lr_path`` (str): the LR source (== ``path`` when LR is
  made by degradation); ``index`` (int or None): slice/frame inside the file;
- ``window`` (tuple): ``(top, left, height, width)`` of the HR crop in source pixels, before
  flips/rotations;
- ``bands`` / ``lr_bands`` (tuple of str): band names of each branch;
- ``crs`` (str or None), ``transform`` (6-tuple or None): georeferencing of the HR window;
- ``scale`` (int).

:class:`SRDataset` holds the bad-sample policy shared by all of them (``Data.on_bad_sample``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ganlab.data.degradations import Degradation, item_generator
from ganlab.data.readers import ImageRef, ReadOptions, read_image, read_info, resolve_bands
from ganlab.data.sampling import SampleIndex
from ganlab.data.transforms import augment as augment_image
from ganlab.data.transforms import center_window, random_window, shift_transform
from ganlab.errors import DataError

log = logging.getLogger(__name__)

Sample = dict[str, Any]
BandSelection = Sequence[int | str] | None


def to_tensor(array: np.ndarray, source: str) -> torch.Tensor:
    """A numeric array as a float32 tensor; NaN/inf and non-numeric data are errors.

    Raises:
        DataError: Naming ``source``.
    """
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise DataError(f"{source}: holds {array.dtype} values, expected numbers")
    tensor = torch.from_numpy(np.ascontiguousarray(array).astype(np.float32, copy=False))
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise DataError(f"{source}: contains NaN or infinite values ({bad} pixels)")
    return tensor


def check_band_count(found: int, expected: int, source: str, key: str) -> None:
    """Raise a :class:`DataError` naming the file when a band count differs from the model's."""
    if found != expected:
        raise DataError(
            f"{source}: has {found} bands but {key} is {expected}; set {key} to match the data "
            "(or select bands with Data.bands)"
        )


class SizedDataset(Dataset[Sample]):
    """A map-style dataset with a length: what the data module and ``data stats`` take.

    Custom datasets need not inherit from it; they need ``__len__`` and ``__getitem__``.
    """

    def __len__(self) -> int:
        raise NotImplementedError


class SRDataset(SizedDataset):
    """Base of the built-in datasets: a list of entries and the bad-sample policy.

    Subclasses set :attr:`entries` and implement :meth:`load` (one item) and :meth:`inspect`
    (the pre-training check of one entry). An item index maps to entry ``index % len(entries)``
    (``repeats`` items per entry).

    Args:
        train: Random items (True) or deterministic ones (False).
        repeats: Items per entry per epoch (training).
        seed: Seed of the deterministic (validation) randomness.
        on_bad_sample: ``error`` raises on a bad entry; ``skip`` logs it once and uses the next.
        max_bad_fraction: With ``skip``: fail once more than this fraction of entries is bad.
    """

    entries: list[Any]

    def __init__(
        self,
        train: bool,
        repeats: int = 1,
        seed: int = 0,
        on_bad_sample: str = "error",
        max_bad_fraction: float = 0.05,
    ) -> None:
        self.train = train
        self.repeats = repeats if train else 1
        self.seed = seed
        self.on_bad_sample = on_bad_sample
        self.max_bad_fraction = max_bad_fraction
        self.bad: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.entries) * self.repeats

    def describe(self, position: int) -> str:
        """The file(s) of entry ``position``, for messages."""
        return str(self.entries[position])

    def load(self, position: int, index: int) -> Sample:
        """Item ``index`` made from entry ``position``."""
        raise NotImplementedError

    def inspect(self, position: int, full: bool) -> None:
        """Check entry ``position``; raise :class:`DataError` naming the file when it is bad.

        Args:
            position: Entry index.
            full: Read pixels (NaN checks) as well as headers.
        """
        raise NotImplementedError

    def generator(self, index: int) -> torch.Generator:
        """Random source of item ``index``: seeded from ``(seed, index)`` in validation, and from
        ``(seed, epoch, index)`` in training, where the epoch comes with a
        :class:`~ganlab.data.sampling.SampleIndex` (0 for a plain ``int``). So training crops and
        augmentations differ between epochs but not between runs, processes or resumes."""
        if not self.train:
            return item_generator(self.seed, index)
        return item_generator(self.seed, index, getattr(index, "epoch", 0))

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)} items")
        index = SampleIndex(index % len(self), getattr(index, "epoch", 0))
        count = len(self.entries)
        position = index % count
        for attempt in range(count):
            candidate = (position + attempt) % count
            if candidate in self.bad:
                continue
            try:
                return self.load(candidate, index)
            except DataError as exc:
                if self.on_bad_sample == "error":
                    raise
                self._record_bad(candidate, str(exc))
        raise DataError(f"every one of the {count} files is bad; see the messages above")

    def _record_bad(self, position: int, reason: str) -> None:
        self.bad[position] = reason
        log.warning("skipping bad sample (Data.on_bad_sample=skip): %s", reason)
        self._check_bad_fraction(len(self.bad), len(self.entries))

    def _check_bad_fraction(self, bad: int, total: int) -> None:
        if total and bad / total > self.max_bad_fraction:
            raise DataError(
                f"{bad} of {total} files are bad ({bad / total:.1%}), more than "
                f"Data.max_bad_fraction={self.max_bad_fraction}; fix the files listed above or "
                "raise Data.max_bad_fraction"
            )

    def check(self, full: bool = True) -> int:
        """Check every entry before training; returns the number of entries left out.

        With ``on_bad_sample=error`` the first bad entry raises (and the message counts the
        others); with ``skip`` each bad entry is logged once and removed.

        Raises:
            DataError: A bad entry (``error``), too many bad entries, or none left.
        """
        problems: list[tuple[int, str]] = []
        for position in range(len(self.entries)):
            try:
                self.inspect(position, full)
            except DataError as exc:
                problems.append((position, str(exc)))
        if not problems:
            return 0
        if self.on_bad_sample == "error":
            others = f" ({len(problems) - 1} more bad files)" if len(problems) > 1 else ""
            raise DataError(
                f"{problems[0][1]}{others}; fix the data, or set Data.on_bad_sample: skip to "
                "leave bad files out"
            )
        for _, reason in problems:
            log.warning("skipping bad sample (Data.on_bad_sample=skip): %s", reason)
        self._check_bad_fraction(len(problems), len(self.entries))
        dropped = {position for position, _ in problems}
        self.entries = [e for i, e in enumerate(self.entries) if i not in dropped]
        return len(problems)


class DegradedDataset(SRDataset):
    """High-resolution images; the LR input is made by degrading each HR crop.

    Training items are random crops (``hr_patch_size``, corners on the LR grid) with optional
    flips/rotations, degraded with random parameters; validation items are deterministic centre
    crops or whole images (trimmed to a multiple of ``scale``), degraded with parameters drawn
    from a fixed seed per item.

    Args:
        files: Image files or :class:`ImageRef` s (any type :func:`read_image` reads).
        scale: Upscaling factor.
        bands: Expected band count (after ``band_selection``); another count is an error
            naming the file.
        train: Random crops and augmentation (True) or deterministic crops (False).
        hr_patch_size: Crop side in HR pixels; None keeps whole images (validation only).
        method: ``area`` or ``bicubic`` downsampling (when ``degradation`` is None).
        augment: Flips and rotations (training only).
        repeats: Items per file per epoch (training).
        degradation: The HR -> LR degradation; None downsamples with ``method`` only.
        band_selection: Bands to read, by index or name (``Data.bands``).
        read_options: Format options (NIfTI slice axis).
        **policy: ``seed``, ``on_bad_sample``, ``max_bad_fraction`` (see :class:`SRDataset`).
    """

    def __init__(
        self,
        files: Sequence[Path | ImageRef],
        scale: int,
        bands: int,
        train: bool,
        hr_patch_size: int | None,
        method: str = "area",
        augment: bool = True,
        repeats: int = 1,
        degradation: Degradation | None = None,
        band_selection: BandSelection = None,
        read_options: ReadOptions | None = None,
        **policy: Any,
    ) -> None:
        super().__init__(train, repeats, **policy)
        if train and hr_patch_size is None:
            raise ValueError("training needs a crop size (hr_patch_size)")
        self.entries = [f if isinstance(f, ImageRef) else ImageRef(Path(f)) for f in files]
        self.scale = scale
        self.bands = bands
        self.hr_patch_size = hr_patch_size
        self.augment = augment and train
        self.degradation = degradation or Degradation(scale=scale, method=method)
        self.band_selection = list(band_selection) if band_selection is not None else None
        self.read_options = read_options or ReadOptions()

    def _read(self, ref: ImageRef) -> tuple[torch.Tensor, dict[str, Any], np.dtype]:
        array, meta = read_image(ref, self.band_selection, self.read_options)
        check_band_count(array.shape[0], self.bands, str(ref), "Model.in_bands")
        return to_tensor(array, str(ref)), meta, array.dtype

    def inspect(self, position: int, full: bool) -> None:
        """Band count, band names and size from the header; NaNs too when ``full``."""
        ref = self.entries[position]
        if full:
            hr, _, _ = self._read(ref)
            height, width = hr.shape[-2:]
        else:
            info = read_info(ref, self.read_options)
            selected = resolve_bands(self.band_selection, info.band_names, str(ref))
            count = info.bands if selected is None else len(selected)
            check_band_count(count, self.bands, str(ref), "Model.in_bands")
            height, width = info.height, info.width
        self._window(height, width, str(ref), None)

    def _window(
        self, height: int, width: int, source: str, generator: torch.Generator | None
    ) -> tuple[int, int, int, int]:
        try:
            if self.train:
                assert self.hr_patch_size is not None
                return random_window(height, width, self.hr_patch_size, self.scale, generator)
            return center_window(height, width, self.hr_patch_size, self.scale)
        except ValueError as exc:
            raise DataError(
                f"{source}: {exc}; use larger images or a smaller crop (Data.hr_patch_size; for "
                "validation Data.val_patch_size)"
            ) from exc

    def load(self, position: int, index: int) -> Sample:
        """Read, crop, augment and degrade entry ``position``."""
        ref = self.entries[position]
        hr, meta, dtype = self._read(ref)
        generator = self.generator(index)
        top, left, height, width = self._window(hr.shape[-2], hr.shape[-1], str(ref), generator)
        if height < self.scale or width < self.scale:
            raise DataError(f"{ref}: smaller than one low-resolution pixel ({self.scale} px)")
        hr = hr[:, top : top + height, left : left + width]
        if self.augment:
            hr = augment_image(hr, generator)
        lr = self.degradation(hr, generator, dtype)
        names = tuple(meta["band_names"])
        return {
            "lr": lr.contiguous(),
            "hr": hr.contiguous(),
            "meta": {
                "path": str(ref.path),
                "lr_path": str(ref.path),
                "index": ref.index,
                "window": (top, left, height, width),
                "bands": names,
                "lr_bands": names,
                "crs": meta.get("crs"),
                "transform": shift_transform(meta.get("transform"), top, left),
                "scale": self.scale,
            },
        }


def collate_samples(samples: list[Sample]) -> Sample:
    """Stack ``lr``/``hr`` into batches; collect each ``meta`` field into a list.

    Returns:
        ``{"lr": [B, C, h, w], "hr": [B, C', H, W], "meta": {key: [value per sample]}}``.

    Raises:
        DataError: Items of different sizes (e.g. whole validation images of different sizes
            with ``Data.val_batch_size`` > 1).
    """
    meta_keys = samples[0]["meta"].keys()
    try:
        lr = torch.stack([s["lr"] for s in samples])
        hr = torch.stack([s["hr"] for s in samples])
    except RuntimeError as exc:
        shapes = sorted({tuple(s["hr"].shape) for s in samples})
        raise DataError(
            f"cannot batch items of different HR shapes {shapes}; use Data.val_patch_size "
            "(fixed crops) or Data.val_batch_size: 1"
        ) from exc
    return {
        "lr": lr,
        "hr": hr,
        "meta": {key: [s["meta"].get(key) for s in samples] for key in meta_keys},
    }
