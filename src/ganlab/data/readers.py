"""Image readers: one function per file type, each returning ``(array[C, H, W], meta)``.

Arrays keep the file's own dtype and units (uint8 photos stay uint8, uint16 reflectance stays
uint16); conversion to float happens in the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlab.errors import DataError

Reader = Callable[[Path], tuple[np.ndarray, dict[str, Any]]]


def _as_chw(array: np.ndarray, path: Path, channels_last: bool) -> np.ndarray:
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return np.moveaxis(array, -1, 0) if channels_last else array
    raise DataError(f"{path}: expected a 2-D or 3-D image array, found shape {array.shape}")


def read_numpy(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read ``.npy`` (one array) or ``.npz`` (the array named ``image``, or the only one).

    Arrays are band-first: ``[C, H, W]`` or ``[H, W]`` for a single band.
    """
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if "image" in names:
                name = "image"
            elif len(names) == 1:
                name = names[0]
            else:
                raise DataError(
                    f"{path}: holds arrays {names}; name the image array 'image' "
                    "or keep one array per file"
                )
            array = archive[name]
    return _as_chw(array, path, channels_last=False), {"path": str(path)}


def read_pillow(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read PNG/JPEG/TIFF through Pillow (8-bit, 16-bit grey, RGB, RGBA)."""
    with Image.open(path) as image:
        array = np.asarray(image)
    return _as_chw(array, path, channels_last=True), {"path": str(path)}


READERS: dict[str, Reader] = {
    ".npy": read_numpy,
    ".npz": read_numpy,
    ".png": read_pillow,
    ".jpg": read_pillow,
    ".jpeg": read_pillow,
    ".tif": read_pillow,
    ".tiff": read_pillow,
}
"""File suffix (lower case) -> reader."""


def read_image(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an image file into a band-first array.

    Args:
        path: Any file whose suffix is in :data:`READERS`.

    Returns:
        ``(array, meta)``: array ``[C, H, W]`` in the file's dtype; meta holds at least ``path``.

    Raises:
        DataError: Unsupported suffix, or the file cannot be decoded (names the file).
    """
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported file type {path.suffix!r}; "
            f"supported: {', '.join(sorted(READERS))}"
        )
    try:
        return reader(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
