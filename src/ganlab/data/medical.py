"""Medical formats (the optional ``medical`` extra): DICOM with pydicom, NIfTI with nibabel.

- **DICOM**: pixel data with the modality rescale applied (``value * RescaleSlope +
  RescaleIntercept``): Hounsfield units for CT. Stored integers come back as integers when the
  rescale keeps them integral (slope 1, integral intercept), otherwise as float32. Multi-frame
  files hold one image per frame. ``meta`` adds ``modality``, ``units`` and ``pixel_spacing``.
- **NIfTI**: each 2-D slice along the configured axis is one image (rows and columns are the
  two remaining axes in file order); a 4th axis (echoes, contrasts, time) becomes bands. The
  header's ``scl_slope``/``scl_inter`` are applied when set (then float32). ``meta`` adds
  ``pixel_spacing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.files import ImageInfo, Meta, default_band_names
from ganlab.errors import DataError

INSTALL_HINT = "pip install 'opensr-gan-lab[medical]' (installs pydicom and nibabel)"


def import_pydicom() -> Any:
    """pydicom, or a DataError with the install command."""
    try:
        import pydicom
    except ImportError:
        raise DataError(f"reading DICOM needs pydicom; {INSTALL_HINT}") from None
    return pydicom


def import_nibabel() -> Any:
    """nibabel, or a DataError with the install command."""
    try:
        import nibabel
    except ImportError:
        raise DataError(f"reading NIfTI needs nibabel; {INSTALL_HINT}") from None
    return nibabel


# ----------------------------------------------------------------------------- DICOM


def _rescale(dataset: Any) -> tuple[float, float]:
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return slope, intercept


def _dicom_frames(dataset: Any) -> int:
    return int(dataset.get("NumberOfFrames", 1) or 1)


def _dicom_names(dataset: Any, bands: int) -> tuple[str, ...]:
    if bands == 3:
        return ("R", "G", "B")
    return (
        (str(dataset.get("Modality", "") or "band0"),) if bands == 1 else default_band_names(bands)
    )


def dicom_info(path: Path) -> ImageInfo:
    """Size, band count and frame count from the DICOM header (no pixel data read)."""
    pydicom = import_pydicom()
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    if "Rows" not in dataset or "Columns" not in dataset:
        raise DataError(f"{path}: DICOM file holds no image (no Rows/Columns)")
    bands = int(dataset.get("SamplesPerPixel", 1) or 1)
    slope, intercept = _rescale(dataset)
    integral = slope == 1 and float(intercept).is_integer()
    dtype = "<i4" if integral and (slope, intercept) != (1, 0) else "<f4"
    if (slope, intercept) == (1, 0):
        bits = int(dataset.get("BitsAllocated", 16))
        signed = int(dataset.get("PixelRepresentation", 0)) == 1
        dtype = np.dtype(f"{'i' if signed else 'u'}{max(bits, 8) // 8}").str
    return ImageInfo(
        bands,
        int(dataset.Rows),
        int(dataset.Columns),
        dtype,
        _dicom_names(dataset, bands),
        _dicom_frames(dataset),
    )


def read_dicom(
    path: Path, index: int | None = None, bands: list[int] | None = None
) -> tuple[np.ndarray, Meta]:
    """Read one DICOM image (frame ``index`` of a multi-frame file) with the rescale applied.

    Returns:
        ``(array[C, H, W], meta)``; CT values in Hounsfield units.
    """
    pydicom = import_pydicom()
    dataset = pydicom.dcmread(path)
    if "PixelData" not in dataset:
        raise DataError(f"{path}: DICOM file holds no pixel data")
    pixels = dataset.pixel_array
    frames = _dicom_frames(dataset)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    if frames > 1:
        frame = 0 if index is None else index
        if not 0 <= frame < frames:
            raise DataError(f"{path}: frame {frame} out of range (0..{frames - 1})")
        pixels = pixels[frame]
    array = np.moveaxis(pixels, -1, 0) if samples > 1 else pixels[None]
    slope, intercept = _rescale(dataset)
    if (slope, intercept) != (1.0, 0.0):
        if slope == 1 and intercept.is_integer():
            array = array.astype(np.int32) + int(intercept)
        else:
            array = array.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    names = _dicom_names(dataset, array.shape[0])
    if bands is not None:
        array, names = array[bands], tuple(names[b] for b in bands)
    modality = str(dataset.get("Modality", ""))
    spacing = dataset.get("PixelSpacing")
    return np.ascontiguousarray(array), {
        "path": str(path),
        "band_names": names,
        "modality": modality,
        "units": "HU" if modality == "CT" and "RescaleIntercept" in dataset else "",
        "pixel_spacing": None if spacing is None else tuple(float(s) for s in spacing),
    }


# ----------------------------------------------------------------------------- NIfTI


def _volume_shape(path: Path, image: Any, axis: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in image.shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) not in (3, 4):
        raise DataError(f"{path}: expected a 3-D or 4-D NIfTI volume, found shape {shape}")
    return shape


def _nifti_dtype(image: Any) -> str:
    slope, intercept = image.header.get_slope_inter()
    scaled = slope is not None and (slope, intercept or 0.0) != (1.0, 0.0)
    return "<f4" if scaled else image.get_data_dtype().newbyteorder("<").str


def nifti_info(path: Path, axis: int) -> ImageInfo:
    """Slice count along ``axis``, slice size and band count (4th axis) from the header."""
    image = import_nibabel().load(path)
    shape = _volume_shape(path, image, axis)
    plane = [s for i, s in enumerate(shape[:3]) if i != axis]
    bands = shape[3] if len(shape) == 4 else 1
    return ImageInfo(
        bands, plane[0], plane[1], _nifti_dtype(image), default_band_names(bands), shape[axis]
    )


def read_nifti(
    path: Path, index: int | None, bands: list[int] | None, axis: int
) -> tuple[np.ndarray, Meta]:
    """Read slice ``index`` along ``axis`` of a NIfTI volume.

    Returns:
        ``(array[C, H, W], meta)``: C is 1 for 3-D volumes, the 4th axis for 4-D ones.
    """
    image = import_nibabel().load(path)
    shape = _volume_shape(path, image, axis)
    position = 0 if index is None else index
    if not 0 <= position < shape[axis]:
        raise DataError(f"{path}: slice {position} out of range along axis {axis} "
                        f"(0..{shape[axis] - 1})")  # fmt: skip
    slicer: list[Any] = [slice(None)] * len(image.shape)
    slicer[axis] = position
    array = np.asanyarray(image.dataobj[tuple(slicer)])
    array = np.moveaxis(array, -1, 0) if array.ndim == 3 else array[None]  # 4th axis: bands
    if array.dtype == np.float64 and _nifti_dtype(image) == "<f4":
        array = array.astype(np.float32)
    names = default_band_names(array.shape[0])
    if bands is not None:
        array, names = array[bands], tuple(names[b] for b in bands)
    zooms = [float(z) for i, z in enumerate(image.header.get_zooms()[:3]) if i != axis]
    return np.ascontiguousarray(array), {
        "path": str(path),
        "band_names": names,
        "pixel_spacing": tuple(zooms),
    }
