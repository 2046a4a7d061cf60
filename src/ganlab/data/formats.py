"""Readers of the formats that need no optional extra (numpy, Pillow, TIFF) and the
dispatch to the GeoTIFF (rasterio) and medical (pydicom, nibabel) readers.

Each format is a pair of functions: ``read(path, index, band_indices, options) -> (array, meta)``
and ``info(path, options) -> ImageInfo``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ganlab.data.files import (
    Format,
    ImageInfo,
    Meta,
    ReadOptions,
    as_chw,
    default_band_names,
    info_from_array,
    take_bands,
)
from ganlab.errors import DataError

# ----------------------------------------------------------------------------- numpy


def _npz_arrays(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Names, shapes and dtypes of the arrays in an ``.npz``, from the headers only."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for entry in archive.namelist():
            if not entry.endswith(".npy"):
                continue
            with archive.open(entry) as member:
                version = np.lib.format.read_magic(member)
                reader = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = reader(member)
            arrays[entry[: -len(".npy")]] = (tuple(shape), np.dtype(dtype).str)
    return arrays


def _npz_layout(path: Path) -> tuple[str, list[str]]:
    """How an ``.npz`` stores its image: ``("image", [name])`` or ``("bands", names)``.

    ``image`` (optionally with a ``band_names`` string array), or the only array, is the
    image; otherwise several 2-D arrays of one shape are bands named by their array names.
    """
    arrays = _npz_arrays(path)
    names = [name for name in arrays if name != "band_names"]
    if "image" in names:
        return "image", ["image"]
    if len(names) == 1:
        return "image", names
    shapes = {arrays[name][0] for name in names}
    if names and len(shapes) == 1 and len(next(iter(shapes))) == 2:
        return "bands", names
    raise DataError(
        f"{path}: holds arrays {sorted(names)} of shapes {sorted(shapes)}; name the image array "
        "'image', keep one array per file, or store one 2-D array per band (same shape)"
    )


def _read_numpy(
    path: Path, index: int | None, bands: list[int] | None, options: ReadOptions
) -> tuple[np.ndarray, Meta]:
    if path.suffix.lower() == ".npy":
        array = as_chw(np.load(path, allow_pickle=False), path, channels_last=False)
        names = default_band_names(array.shape[0])
    else:
        layout, members = _npz_layout(path)
        with np.load(path, allow_pickle=False) as archive:
            if layout == "image":
                array = as_chw(archive[members[0]], path, channels_last=False)
                names = (
                    tuple(str(n) for n in archive["band_names"])
                    if "band_names" in archive.files
                    else default_band_names(array.shape[0])
                )
                if len(names) != array.shape[0]:
                    raise DataError(
                        f"{path}: band_names has {len(names)} names for {array.shape[0]} bands"
                    )
            else:
                chosen = members if bands is None else [members[b] for b in bands]
                array = np.stack([archive[name] for name in chosen])
                return array, {"path": str(path), "band_names": tuple(chosen)}
    selected = take_bands(array, bands)
    names = names if bands is None else tuple(names[b] for b in bands)
    return selected, {"path": str(path), "band_names": names}


def _numpy_info(path: Path, options: ReadOptions) -> ImageInfo:
    if path.suffix.lower() == ".npy":
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        shape = (1, *array.shape) if array.ndim == 2 else array.shape
        if len(shape) != 3:
            raise DataError(f"{path}: expected a 2-D or 3-D image array, found shape {shape}")
        return ImageInfo(
            shape[0], shape[1], shape[2], array.dtype.str, default_band_names(shape[0])
        )
    layout, members = _npz_layout(path)
    if layout == "bands":
        arrays = _npz_arrays(path)
        height, width = arrays[members[0]][0]
        return ImageInfo(len(members), height, width, arrays[members[0]][1], tuple(members))
    array, meta = _read_numpy(path, None, None, options)
    return info_from_array(array, meta["band_names"])


# ---------------------------------------------------------------------------- pillow

_PILLOW_BAND_NAMES = {"L": ("L",), "I;16": ("L",), "I": ("L",), "F": ("L",), "LA": ("L", "A"),
                      "RGB": ("R", "G", "B"), "RGBA": ("R", "G", "B", "A")}  # fmt: skip


def _read_pillow(
    path: Path, index: int | None, bands: list[int] | None, options: ReadOptions
) -> tuple[np.ndarray, Meta]:
    with Image.open(path) as image:
        mode = image.mode
        decoded: Image.Image = image
        if mode == "P":
            decoded = image.convert("RGBA" if "transparency" in image.info else "RGB")
            mode = decoded.mode
        array = as_chw(np.asarray(decoded), path, channels_last=True)
    names = _PILLOW_BAND_NAMES.get(mode, default_band_names(array.shape[0]))
    if len(names) != array.shape[0]:
        names = default_band_names(array.shape[0])
    selected = take_bands(array, bands)
    names = names if bands is None else tuple(names[b] for b in bands)
    return selected, {"path": str(path), "band_names": names}


def _pillow_info(path: Path, options: ReadOptions) -> ImageInfo:
    with Image.open(path) as image:
        mode = image.mode
        if mode == "P":
            mode = "RGBA" if "transparency" in image.info else "RGB"
        names = _PILLOW_BAND_NAMES.get(mode)
        if names is None:  # unusual modes: decode to learn the layout
            array, meta = _read_pillow(path, None, None, options)
            return info_from_array(array, meta["band_names"])
        dtype = {"I;16": "<u2", "I": "<i4", "F": "<f4"}.get(mode, "|u1")
        return ImageInfo(len(names), image.height, image.width, dtype, names)


# ------------------------------------------------------------------------------ tiff


def _read_tiff(
    path: Path, index: int | None, bands: list[int] | None, options: ReadOptions
) -> tuple[np.ndarray, Meta]:
    """TIFF: rasterio (keeps georeferencing) when installed, else tifffile, else Pillow."""
    from ganlab.data import geotiff

    if geotiff.rasterio_available():
        return geotiff.read_geotiff(path, bands)
    try:
        import tifffile
    except ImportError:
        return _read_pillow(path, index, bands, options)
    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        array = series.asarray()
        axes = series.axes
    if array.ndim == 3 and axes[-1] in "SC":
        array = np.moveaxis(array, -1, 0)
    array = as_chw(array, path, channels_last=False)
    selected = take_bands(array, bands)
    names = default_band_names(array.shape[0])
    names = names if bands is None else tuple(names[b] for b in bands)
    return selected, {"path": str(path), "band_names": names}


def _tiff_info(path: Path, options: ReadOptions) -> ImageInfo:
    from ganlab.data import geotiff

    if geotiff.rasterio_available():
        return geotiff.geotiff_info(path)
    array, meta = _read_tiff(path, None, None, options)
    return info_from_array(array, meta["band_names"])


# -------------------------------------------------------------------------- registry


def _medical_read(
    path: Path, index: int | None, bands: list[int] | None, options: ReadOptions
) -> tuple[np.ndarray, Meta]:
    from ganlab.data import medical

    if path.name.lower().endswith((".nii", ".nii.gz")):
        return medical.read_nifti(path, index, bands, options.slice_axis)
    return medical.read_dicom(path, index, bands)


def _medical_info(path: Path, options: ReadOptions) -> ImageInfo:
    from ganlab.data import medical

    if path.name.lower().endswith((".nii", ".nii.gz")):
        return medical.nifti_info(path, options.slice_axis)
    return medical.dicom_info(path)


NUMPY = Format("numpy", _read_numpy, _numpy_info)
PILLOW = Format("pillow", _read_pillow, _pillow_info)
TIFF = Format("tiff", _read_tiff, _tiff_info)
MEDICAL = Format("medical", _medical_read, _medical_info)
