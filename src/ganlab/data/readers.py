"""Image readers: one per file type, each returning ``(array[C, H, W], meta)``.

Arrays keep the file's own dtype and units (uint8 photos stay uint8, uint16 reflectance stays
uint16); conversion to float happens in the dataset. The exceptions are documented per format:
DICOM with a rescale slope/intercept returns the rescaled values (Hounsfield units for CT).

A file can hold several 2-D images (the slices of a NIfTI volume, the frames of a multi-frame
DICOM); an :class:`ImageRef` names one of them. ``meta`` always holds ``path`` and
``band_names``; GeoTIFFs add ``crs``, ``transform`` and ``nodata``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganlab.data.files import Format, ImageInfo, ImageRef, Meta, ReadOptions, default_band_names
from ganlab.data.formats import MEDICAL, NUMPY, PILLOW, TIFF
from ganlab.errors import DataError

__all__ = [
    "READERS",
    "ImageInfo",
    "ImageRef",
    "Meta",
    "ReadOptions",
    "file_suffix",
    "read_image",
    "read_info",
    "resolve_bands",
]


READERS: dict[str, Format] = {
    ".npy": NUMPY,
    ".npz": NUMPY,
    ".png": PILLOW,
    ".jpg": PILLOW,
    ".jpeg": PILLOW,
    ".tif": TIFF,
    ".tiff": TIFF,
    ".dcm": MEDICAL,
    ".nii": MEDICAL,
    ".nii.gz": MEDICAL,
}
"""File suffix (lower case; ``.nii.gz`` counts as one) -> format."""


def file_suffix(path: Path) -> str:
    """The suffix that selects the reader: ``.nii.gz`` for gzipped NIfTI, else the last one."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _format(path: Path) -> Format:
    reader = READERS.get(file_suffix(path))
    if reader is None:
        raise DataError(
            f"{path}: unsupported file type {file_suffix(path)!r}; "
            f"supported: {', '.join(sorted(READERS))}"
        )
    return reader


def _canonical(name: str) -> str:
    """Band-name key: case-insensitive, zero padding of numbers ignored (B4 == B04)."""
    return re.sub(r"(?<!\d)0+(?=\d)", "", name.strip().lower())


def resolve_bands(
    selection: Sequence[int | str] | None, names: Sequence[str], source: str
) -> list[int] | None:
    """0-based band indices for a selection of indices and/or names.

    Names match exactly, else case-insensitively with zero padding ignored (``B4`` finds
    ``B04``).

    Args:
        selection: Indices and/or names; None selects all bands.
        names: The file's band names.
        source: The file, for messages.

    Raises:
        DataError: An index out of range or an unknown name (lists the available names).
    """
    if selection is None:
        return None
    indices = []
    canonical = [_canonical(n) for n in names]
    for band in selection:
        if isinstance(band, int) and not isinstance(band, bool):
            if not 0 <= band < len(names):
                raise DataError(
                    f"{source}: band index {band} is out of range; the file has {len(names)} "
                    f"bands (0..{len(names) - 1}); check Data.bands"
                )
            indices.append(band)
            continue
        text = str(band)
        if text in names:
            indices.append(list(names).index(text))
        elif canonical.count(_canonical(text)) == 1:
            indices.append(canonical.index(_canonical(text)))
        else:
            raise DataError(
                f"{source}: no band named {text!r}; the file's bands are {list(names)}; "
                "check Data.bands (names or 0-based indices)"
            )
    return indices


def read_info(ref: ImageRef | str | Path, options: ReadOptions | None = None) -> ImageInfo:
    """Header information of a file (band count, size, dtype, band names, images inside).

    Raises:
        DataError: Unsupported suffix or unreadable file (names the file).
    """
    path = ref.path if isinstance(ref, ImageRef) else Path(ref)
    reader = _format(path)
    try:
        return reader.info(path, options or ReadOptions())
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc


def read_image(
    ref: ImageRef | str | Path,
    bands: Sequence[int | str] | None = None,
    options: ReadOptions | None = None,
) -> tuple[np.ndarray, Meta]:
    """Read an image (or one slice/frame of a multi-image file) into a band-first array.

    Args:
        ref: A file, or an :class:`ImageRef` naming a slice/frame inside it.
        bands: Bands to keep, by 0-based index or by name; None keeps all.
        options: Format options (NIfTI slice axis).

    Returns:
        ``(array, meta)``: array ``[C, H, W]`` in the file's dtype; meta holds at least
        ``path`` and ``band_names``.

    Raises:
        DataError: Unsupported suffix, unknown band, or the file cannot be decoded (names it).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tile.npz"
        >>> np.savez(path, B02=np.zeros((4, 4), np.uint16), B04=np.ones((4, 4), np.uint16))
        >>> array, meta = read_image(path, bands=["B4"])
        >>> array.shape, array.dtype, meta["band_names"]
        ((1, 4, 4), dtype('uint16'), ('B04',))
    """
    ref = ref if isinstance(ref, ImageRef) else ImageRef(Path(ref))
    reader = _format(ref.path)
    options = options or ReadOptions()
    try:
        indices = None
        if bands is not None:
            if all(isinstance(b, int) and not isinstance(b, bool) for b in bands):
                names: Sequence[str] = default_band_names(reader.info(ref.path, options).bands)
            else:
                names = reader.info(ref.path, options).band_names
            indices = resolve_bands(bands, names, str(ref))
        array, meta = reader.read(ref.path, ref.index, indices, options)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{ref}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if not array.dtype.isnative:  # big-endian files: torch needs native byte order
        array = array.astype(array.dtype.newbyteorder("="))
    return array, meta
