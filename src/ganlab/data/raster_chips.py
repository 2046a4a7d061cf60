"""The ``raster_chips`` dataset: windows read straight from large GeoTIFFs (rasterio).

Only the window's blocks are read, so memory follows the chip size, not the raster size.
Training draws random windows (``Data.chip_sampling: random``, ``Data.repeats`` per raster per
epoch) or walks the grid; validation walks the grid (step ``Data.chip_stride``). Windows with
more than ``Data.max_nodata_fraction`` nodata pixels (from the raster's nodata value or masks)
are skipped: random ones are redrawn, grid ones are left out when the dataset is built (their
masks are read once, window by window). Nodata pixels of accepted windows are filled with the
window's per-band mean of valid pixels. LR inputs are made by the configured degradation.
GDAL's block cache is bounded while reading (``Data.raster_cache_mb`` per process).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.datasets import BandSelection, Sample, SRDataset, check_band_count, to_tensor
from ganlab.data.degradations import Degradation
from ganlab.data.geotiff import open_raster, read_open_window
from ganlab.data.readers import resolve_bands
from ganlab.data.transforms import Window, random_window
from ganlab.data.transforms import augment as augment_image
from ganlab.errors import DataError

log = logging.getLogger(__name__)

MAX_TRIES = 50
"""Random windows drawn per item before a raster counts as bad (too much nodata)."""


@dataclass(frozen=True)
class RasterInfo:
    """Header facts of one raster."""

    path: Path
    height: int
    width: int
    bands: list[int] | None
    dtype: str


@dataclass(frozen=True)
class Chip:
    """A grid window of one raster."""

    raster: int
    window: Window


def grid_windows(height: int, width: int, size: int, stride: int) -> list[Window]:
    """Top-left aligned ``size x size`` windows every ``stride`` pixels that fit inside."""
    return [
        (top, left, size, size)
        for top in range(0, height - size + 1, stride)
        for left in range(0, width - size + 1, stride)
    ]


class RasterChipsDataset(SRDataset):
    """Random or gridded HR windows of large rasters, degraded into LR inputs.

    Args:
        rasters: GeoTIFF files.
        scale: Upscaling factor.
        bands: Expected band count (``Model.in_bands``, after ``band_selection``).
        train: Random windows and augmentation (True) or the grid (False).
        chip_size: HR window side (a multiple of ``scale``).
        sampling: ``random`` or ``grid`` (training; validation always uses the grid).
        stride: Grid step in HR pixels; None = ``chip_size``.
        max_nodata_fraction: Windows with more nodata are skipped.
        augment: Flips and rotations (training).
        repeats: Random windows per raster per epoch.
        degradation: HR -> LR degradation; None = area downsampling.
        band_selection: Bands by index or name (GeoTIFF band descriptions).
        cache_mb: GDAL block cache (MB) while reading; bounds memory on huge rasters.
        **policy: ``seed``, ``on_bad_sample``, ``max_bad_fraction``.
    """

    def __init__(
        self,
        rasters: Sequence[Path],
        scale: int,
        bands: int,
        train: bool,
        chip_size: int,
        sampling: str = "random",
        stride: int | None = None,
        max_nodata_fraction: float = 0.0,
        augment: bool = True,
        repeats: int = 1,
        degradation: Degradation | None = None,
        band_selection: BandSelection = None,
        cache_mb: int = 64,
        **policy: Any,
    ) -> None:
        self.random = train and sampling == "random"
        self.cache_mb = cache_mb
        super().__init__(train, repeats if self.random else 1, **policy)
        self.scale = scale
        self.bands = bands
        self.chip_size = chip_size
        self.stride = stride or chip_size
        self.max_nodata_fraction = max_nodata_fraction
        self.augment = augment and train
        self.degradation = degradation or Degradation(scale=scale)
        self.band_selection = list(band_selection) if band_selection is not None else None
        self._handles: dict[int, Any] = {}
        self.rasters: list[RasterInfo | DataError] = [self._header(Path(p)) for p in rasters]
        self.entries = list(range(len(self.rasters)))
        self.dropped = super().check(full=False)
        if self.random:
            self.skipped_windows = 0
        else:
            with self._gdal_env():
                self.skipped_windows = self._build_grid()

    def check(self, full: bool = True) -> int:
        """Rasters left out for header problems; checked when the dataset was built.

        Windows are checked for nodata as they are drawn (random) or when the grid was built.
        """
        return self.dropped

    # ------------------------------------------------------------------------------ setup

    def _header(self, path: Path) -> RasterInfo | DataError:
        """Header facts, or the error that makes this raster unusable (reported by check)."""
        try:
            with open_raster(path) as dataset:
                names = tuple(d or f"band{i}" for i, d in enumerate(dataset.descriptions))
                selected = resolve_bands(self.band_selection, names, str(path))
                count = dataset.count if selected is None else len(selected)
                check_band_count(count, self.bands, str(path), "Model.in_bands")
                if dataset.height < self.chip_size or dataset.width < self.chip_size:
                    raise DataError(
                        f"{path}: raster of {dataset.height} x {dataset.width} pixels is smaller "
                        f"than the window {self.chip_size}"
                    )
                return RasterInfo(path, dataset.height, dataset.width, selected, dataset.dtypes[0])
        except DataError as exc:
            return exc
        except Exception as exc:
            return DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})")

    def _build_grid(self) -> int:
        """Replace the entries by the grid windows with little enough nodata.

        Reads each window's masks once, window by window.

        Returns:
            Windows skipped for nodata.

        Raises:
            DataError: No window is left (names the rasters).
        """
        chips: list[Chip] = []
        skipped = 0
        for position in self.entries:
            info = self.rasters[position]
            assert isinstance(info, RasterInfo)
            dataset = self._dataset(position)
            indexes = (
                [b + 1 for b in info.bands] if info.bands else list(range(1, dataset.count + 1))
            )
            for window in grid_windows(info.height, info.width, self.chip_size, self.stride):
                if self._nodata_fraction(dataset, indexes, window) <= self.max_nodata_fraction:
                    chips.append(Chip(position, window))
                else:
                    skipped += 1
        if not chips:
            names = [str(r.path) for r in self.rasters if isinstance(r, RasterInfo)]
            raise DataError(
                f"no {self.chip_size}-pixel window of {names} has at most "
                f"{self.max_nodata_fraction:.0%} nodata; raise Data.max_nodata_fraction or use "
                "smaller windows"
            )
        self.entries = chips
        return skipped

    @staticmethod
    def _nodata_fraction(dataset: Any, indexes: list[int], window: Window) -> float:
        from rasterio.windows import Window as RasterioWindow

        top, left, height, width = window
        masks = dataset.read_masks(indexes, window=RasterioWindow(left, top, width, height))
        return float(1.0 - np.all(masks > 0, axis=0).mean())

    # --------------------------------------------------------------------------- reading

    def _gdal_env(self) -> Any:
        """GDAL settings while reading: a bounded block cache (random windows of a huge raster
        would otherwise fill GDAL's default cache of 5 % of RAM, in every worker)."""
        import rasterio

        return rasterio.Env(GDAL_CACHEMAX=self.cache_mb)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}  # open rasters stay in their process; workers reopen them
        return state

    def _dataset(self, position: int) -> Any:
        handle = self._handles.get(position)
        if handle is None:
            info = self.rasters[position]
            assert isinstance(info, RasterInfo)
            handle = self._handles[position] = open_raster(info.path)
        return handle

    def close(self) -> None:
        """Close the rasters this process opened."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def describe(self, position: int) -> str:
        """The raster of entry ``position``."""
        entry = self.entries[position]
        info = self.rasters[entry.raster if isinstance(entry, Chip) else entry]
        return str(info.path) if isinstance(info, RasterInfo) else str(info)

    def inspect(self, position: int, full: bool) -> None:
        """Raise the header problem of a raster (band count, size, unreadable)."""
        info = self.rasters[self.entries[position]]
        if isinstance(info, DataError):
            raise info

    def _read(self, position: int, window: Window) -> tuple[np.ndarray, dict[str, Any]]:
        from rasterio.windows import Window as RasterioWindow

        info = self.rasters[position]
        assert isinstance(info, RasterInfo)
        return read_open_window(
            self._dataset(position), info.path, info.bands, window, RasterioWindow
        )

    def _read_random_window(
        self, position: int, generator: torch.Generator | None
    ) -> tuple[Window, np.ndarray, dict[str, Any]]:
        """A random window with at most ``max_nodata_fraction`` nodata, read once."""
        info = self.rasters[position]
        assert isinstance(info, RasterInfo)
        for _ in range(MAX_TRIES):
            window = random_window(info.height, info.width, self.chip_size, self.scale, generator)
            array, meta = self._read(position, window)
            if 1.0 - float(meta["valid"].mean()) <= self.max_nodata_fraction:
                return window, array, meta
        raise DataError(
            f"{info.path}: no window with at most {self.max_nodata_fraction:.0%} nodata in "
            f"{MAX_TRIES} random draws; raise Data.max_nodata_fraction or remove the raster"
        )

    def load(self, position: int, index: int) -> Sample:
        """Read one window (random or from the grid), fill nodata, augment and degrade."""
        generator = self.generator(index)
        entry = self.entries[position]
        with self._gdal_env():
            if isinstance(entry, Chip):
                raster, window = entry.raster, entry.window
                array, meta = self._read(raster, window)
            else:
                raster = entry
                window, array, meta = self._read_random_window(raster, generator)
        source = f"{meta['path']} window {window}"
        valid = meta["valid"]
        if not valid.all():
            array = _fill_invalid(array, valid)
        hr = to_tensor(array, source)
        if self.augment:
            hr = augment_image(hr, generator)
        info = self.rasters[raster]
        assert isinstance(info, RasterInfo)
        lr = self.degradation(hr, generator, np.dtype(info.dtype))
        names = tuple(meta["band_names"])
        return {
            "lr": lr.contiguous(),
            "hr": hr.contiguous(),
            "meta": {
                "path": meta["path"],
                "lr_path": meta["path"],
                "index": None,
                "window": window,
                "bands": names,
                "lr_bands": names,
                "crs": meta["crs"],
                "transform": meta["transform"],
                "scale": self.scale,
            },
        }


def _fill_invalid(array: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid pixels by each band's mean over the valid pixels (float32)."""
    filled = array.astype(np.float32)
    for band in filled:
        values = band[valid]
        band[~valid] = values.mean() if values.size else 0.0
    return filled
