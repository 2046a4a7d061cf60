"""Image-file types shared by the readers: references, header facts, options, helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import DataError

Meta = dict[str, Any]


@dataclass(frozen=True)
class ImageRef:
    """One 2-D image: a file, and the slice/frame inside it for multi-image files.

    Attributes:
        path: The file.
        index: Slice (NIfTI) or frame (DICOM) index; None for single-image files.
    """

    path: Path
    index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __str__(self) -> str:
        return str(self.path) if self.index is None else f"{self.path}[{self.index}]"


@dataclass(frozen=True)
class ImageInfo:
    """What a file holds, read from its header where the format allows.

    Attributes:
        bands: Band count C.
        height: Rows H.
        width: Columns W.
        dtype: Array dtype as read (after DICOM rescaling).
        band_names: One name per band.
        count: 2-D images in the file (NIfTI slices, DICOM frames); 1 otherwise.
    """

    bands: int
    height: int
    width: int
    dtype: str
    band_names: tuple[str, ...]
    count: int = 1


@dataclass(frozen=True)
class ReadOptions:
    """Format options from the config.

    Attributes:
        slice_axis: NIfTI axis along which 2-D slices are taken.
    """

    slice_axis: int = 2


ReadFunction = Callable[
    [Path, int | None, "list[int] | None", ReadOptions], tuple[np.ndarray, Meta]
]
InfoFunction = Callable[[Path, ReadOptions], ImageInfo]


@dataclass(frozen=True)
class Format:
    """A file format: how to read pixels and how to read the header.

    Attributes:
        name: Short name used in messages.
        read: ``(path, index, band_indices, options) -> (array[C, H, W], meta)``; band indices
            are 0-based and already resolved, None reads all bands.
        info: ``(path, options) -> ImageInfo``.
    """

    name: str
    read: ReadFunction
    info: InfoFunction


def default_band_names(count: int) -> tuple[str, ...]:
    """Names of bands a file does not name: ``band0``, ``band1``, ..."""
    return tuple(f"band{i}" for i in range(count))


def as_chw(array: np.ndarray, path: Path, channels_last: bool) -> np.ndarray:
    """A 2-D array as ``[1, H, W]``; a 3-D array as band-first ``[C, H, W]``."""
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return np.moveaxis(array, -1, 0) if channels_last else array
    raise DataError(f"{path}: expected a 2-D or 3-D image array, found shape {array.shape}")


def info_from_array(array: np.ndarray, names: Sequence[str]) -> ImageInfo:
    """:class:`ImageInfo` of a decoded ``[C, H, W]`` array (for formats without cheap headers)."""
    bands, height, width = array.shape
    return ImageInfo(bands, height, width, array.dtype.str, tuple(names))


def take_bands(array: np.ndarray, bands: list[int] | None) -> np.ndarray:
    """The selected bands (0-based indices; None keeps all) of a ``[C, H, W]`` array."""
    return array if bands is None else array[bands]
