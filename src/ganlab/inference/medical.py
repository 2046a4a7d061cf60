"""Super-resolve medical files: NIfTI volumes slice by slice, DICOM images frame by frame.

Each output keeps the input's stored representation and metadata, updates what the finer pixel
grid changes (sizes, spacings, geometry, identifiers), and is written atomically through
:func:`ganlab.files.atomic_write`, so a failure leaves nothing at the target.

**Values.** ``resolve`` sees float32 physical values, as the readers in
:mod:`ganlab.data.medical` return them: NIfTI with ``scl_slope``/``scl_inter`` applied, DICOM
with ``RescaleSlope``/``RescaleIntercept`` applied (Hounsfield units for CT). Its results are
stored back through the *same* slope and intercept (``stored = (value - intercept) / slope``),
rounded and clipped to the stored integer type, so the output keeps the input's on-disk dtype
and scaling and reads back in the same units, on the input's quantisation grid.

**Geometry.** Super-resolving by ``s`` splits each pixel into ``s x s``: output pixel ``i'``
has its centre at input pixel coordinate ``(i' + 0.5) / s - 0.5``. The spacing is divided by
``s`` and the position of the first pixel's centre moves by ``(0.5 / s - 0.5)`` input pixels
along each in-plane axis, so the image covers the same physical region as the input.

pydicom and nibabel come with the ``medical`` extra; they are imported when first needed.
"""

from __future__ import annotations

import gzip
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.medical import INSTALL_HINT, dicom_info, nifti_info
from ganlab.errors import DataError, OutputError
from ganlab.files import atomic_write
from ganlab.inference.photos import Resolve, cast_to_dtype, checked_sr

Progress = Callable[[int], None]
"""``progress(n)``: ``n`` more slices or frames are done."""

DERIVATION = "super-resolved x{scale} by OpenSR GAN Lab"
"""Text added to a DICOM output's DerivationDescription."""

NIFTI_SUFFIXES = (".nii", ".nii.gz")
GZIP_LEVEL = 6
"""Compression of ``.nii.gz`` outputs (gzip's usual trade-off of size and speed)."""


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise DataError(f"super-resolving medical files needs {name}; {INSTALL_HINT}") from None


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def work_units(path: str | Path, axis: int = 2) -> int:
    """How many times ``resolve`` is called for a medical file (a progress bar's total).

    Read from the header only: the slices along ``axis`` of a NIfTI volume (``.nii``,
    ``.nii.gz``), the frames of any other file, which is taken to be DICOM.

    Raises:
        DataError: The file cannot be read (names it).
    """
    path = Path(path)
    try:
        info = nifti_info(path, axis) if _is_nifti(path) else dicom_info(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return info.count


# ----------------------------------------------------------------------------- NIfTI


def super_resolve_nifti(
    source: str | Path,
    target: str | Path,
    resolve: Resolve,
    scale: int,
    axis: int = 2,
    progress: Progress | None = None,
) -> Path:
    """Super-resolve a NIfTI volume slice by slice along ``axis``.

    Each slice goes to ``resolve`` as float32 ``[C, H, W]`` physical values, as
    :func:`ganlab.data.medical.read_nifti` reads it: H and W are the two other axes in file
    order, C is the 4th axis (1 for 3-D volumes). The output volume has H and W multiplied by
    ``scale`` and the through-plane (and 4th) axis unchanged.

    Kept or updated:

    - **dtype**: the input's on-disk dtype. With ``scl_slope``/``scl_inter`` the results are
      stored through the same slope and intercept, which stay in the header, so the output
      reads back in physical units; integer results are rounded and clipped to the dtype's
      range (NaN becomes 0).
    - **geometry**: qform and sform (codes kept) get their in-plane columns divided by
      ``scale`` and their origin moved by the half-voxel shift, so output voxel ``i'`` sits at
      input voxel coordinate ``(i' + 0.5) / scale - 0.5``; the header zooms follow.
    - the rest of the header (units, intent, description, extensions).

    Args:
        source: A ``.nii`` or ``.nii.gz`` file (NIfTI-1 or NIfTI-2), 3-D or 4-D (a 2-D image
            counts as one slice along axis 2).
        target: The output, ``.nii`` or ``.nii.gz`` (gzip-compressed).
        resolve: Physical ``[C, h, w]`` -> physical ``[C, h*scale, w*scale]``, float32.
        scale: The upscaling factor.
        axis: The through-plane axis (0, 1 or 2).
        progress: Called with 1 after each slice.

    Returns:
        ``target``.

    Raises:
        DataError: ``source`` cannot be read or is not a 3-D/4-D real-valued NIfTI volume
            (names it), or ``resolve`` returns another band count than it is given.
        OutputError: ``target`` is not named ``.nii``/``.nii.gz`` or cannot be written.
    """
    source, target = Path(source), Path(target)
    _check_scale(scale)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if not _is_nifti(target):
        raise OutputError(f"{target}: a NIfTI output needs a .nii or .nii.gz name")
    nibabel = _import("nibabel")
    image, volume = _load_nifti(source, nibabel, axis)
    slope, inter = _nifti_scaling(image)
    disk = image.get_data_dtype().newbyteorder("=")
    plane = [a for a in range(3) if a != axis]
    shape = list(volume.shape)
    for a in plane:
        shape[a] *= scale
    sr_volume = np.empty(shape, disk)
    for index in range(volume.shape[axis]):
        where: list[Any] = [slice(None)] * volume.ndim
        where[axis] = index
        lr = volume[tuple(where)]
        lr = np.moveaxis(lr, -1, 0) if lr.ndim == 3 else lr[None]  # 4th axis: bands
        sr = checked_sr(resolve(lr.astype(np.float32)), lr.shape, scale, f"{source} slice {index}")
        stored = cast_to_dtype((sr - inter) / slope if (slope, inter) != (1, 0) else sr, disk)
        sr_volume[tuple(where)] = np.moveaxis(stored, 0, -1) if volume.ndim == 4 else stored[0]
        if progress is not None:
            progress(1)
    if len(image.shape) == 2:
        sr_volume = sr_volume[..., 0]
    header = _sr_header(image.header, sr_volume.shape, plane, scale)
    output = type(image)(sr_volume, header.get_best_affine(), header)
    if (slope, inter) != (1, 0):
        # set after construction, which resets the scaling; nibabel then stores the values as
        # given and writes this slope and intercept
        output.header.set_slope_inter(slope, inter)
    return atomic_write(
        target, lambda partial: _write_nifti(output, partial, target.name), "NIfTI volume"
    )


def _load_nifti(source: Path, nibabel: Any, axis: int) -> tuple[Any, np.ndarray]:
    """The image and its whole volume in physical units (3-D or 4-D)."""
    try:
        image = nibabel.load(source)
        if not isinstance(image, (nibabel.Nifti1Image, nibabel.Nifti2Image)):
            raise DataError(f"{source}: not a single-file NIfTI image ({type(image).__name__})")
        # read once: slicing a gzipped file along the first axes would decompress it per slice
        volume = np.asanyarray(image.dataobj)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{source}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if volume.ndim == 2 and axis == 2:
        volume = volume[..., None]
    if volume.ndim not in (3, 4):
        raise DataError(
            f"{source}: expected a 3-D or 4-D NIfTI volume, found shape {image.shape}"
            + (" (a 2-D image needs axis 2)" if volume.ndim == 2 else "")
        )
    if image.get_data_dtype().kind not in "iuf":
        raise DataError(
            f"{source}: NIfTI data type {image.get_data_dtype()} is not supported; "
            "use integer or float data"
        )
    return image, volume


def _nifti_scaling(image: Any) -> tuple[float, float]:
    """``(slope, intercept)`` from stored to physical values; ``(1, 0)`` when unscaled.

    A loaded image keeps its scaling in its data proxy (nibabel resets the header copy).
    """
    slope = float(getattr(image.dataobj, "slope", 1.0))
    inter = float(getattr(image.dataobj, "inter", 0.0))
    if not np.isfinite(slope) or slope == 0:
        return 1.0, 0.0
    return slope, inter if np.isfinite(inter) else 0.0


def _sr_header(header: Any, shape: tuple[int, ...], plane: Sequence[int], scale: int) -> Any:
    """A copy of ``header`` for the super-resolved volume: shape, zooms, qform and sform."""
    # read before the zooms change: the qform is built from them
    qform, qcode = header.get_qform(coded=True)
    sform, scode = header.get_sform(coded=True)
    header = header.copy()
    header.set_data_shape(shape)
    zooms = [float(z) for z in header.get_zooms()]
    for a in plane:
        zooms[a] /= scale
    header.set_zooms(zooms)
    # output voxel index -> input voxel index: i = (i' + 0.5) / scale - 0.5 in-plane
    to_input = np.eye(4)
    for a in plane:
        to_input[a, a] = 1 / scale
        to_input[a, 3] = 0.5 / scale - 0.5
    if qcode:
        header.set_qform(qform @ to_input, code=int(qcode))
    if scode:
        header.set_sform(sform @ to_input, code=int(scode))
    return header


def _write_nifti(image: Any, partial: Path, name: str) -> None:
    """Serialise ``image`` to ``partial``; gzip-compressed when ``name`` ends in ``.gz``.

    nibabel picks the format from the file name, which the temporary name does not carry, so
    the image is streamed into a file opened here.
    """
    with open(partial, "wb") as raw:
        if name.lower().endswith(".gz"):
            # the gzip header records the final name, not the temporary one
            with gzip.GzipFile(name, "wb", GZIP_LEVEL, fileobj=raw) as stream:
                image.to_stream(stream)
        else:
            image.to_stream(raw)


# ----------------------------------------------------------------------------- DICOM


def super_resolve_dicom(
    source: str | Path,
    target: str | Path,
    resolve: Resolve,
    scale: int,
    progress: Progress | None = None,
) -> Path:
    """Super-resolve a DICOM image, frame by frame for multi-frame files.

    Each frame goes to ``resolve`` as float32 ``[C, H, W]`` physical values ``stored *
    RescaleSlope + RescaleIntercept`` (C is SamplesPerPixel: 1, or 3 for RGB), as
    :func:`ganlab.data.medical.read_dicom` reads it. The results are stored back as
    ``(value - RescaleIntercept) / RescaleSlope``, rounded and clipped to the range the stored
    type allows (BitsAllocated, BitsStored, PixelRepresentation), so the rescale tags stay valid.

    Updated: Rows and Columns; PixelSpacing and ImagerPixelSpacing (wherever they occur,
    functional groups included) divided by ``scale``; ImagePositionPatient moved to the new
    first pixel's centre; a new SOPInstanceUID (also the file meta's
    MediaStorageSOPInstanceUID); ImageType's first value DERIVED; DerivationDescription extended
    with "super-resolved x{scale} by OpenSR GAN Lab"; Smallest/LargestImagePixelValue when
    present. The output is uncompressed Explicit VR Little Endian even when the input was
    compressed (its icon image, compressed too, is then dropped); YBR colour comes out as RGB.
    All other tags are kept. Rescale values inside per-frame functional groups are not applied,
    as in :func:`~ganlab.data.medical.read_dicom`.

    Args:
        source: The DICOM file (any name).
        target: The output file.
        resolve: Physical ``[C, h, w]`` -> physical ``[C, h*scale, w*scale]``, float32.
        scale: The upscaling factor.
        progress: Called with 1 after each frame.

    Returns:
        ``target``.

    Raises:
        DataError: ``source`` cannot be read or decoded, or holds no image of a supported kind
            (names it), or ``resolve`` returns another band count than it is given.
        OutputError: ``target`` cannot be written.
    """
    source, target = Path(source), Path(target)
    _check_scale(scale)
    pydicom = _import("pydicom")
    dataset, frames = _read_dicom_frames(source, pydicom)
    dtype, limits = _stored_type(dataset)
    slope, intercept = _rescale(dataset)
    stored = []
    for index, frame in enumerate(frames):
        physical = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        sr = checked_sr(resolve(physical), frame.shape, scale, f"{source} frame {index}")
        stored.append(cast_to_dtype((sr - intercept) / slope, dtype, limits))
        if progress is not None:
            progress(1)
    _update_dataset(dataset, np.stack(stored), scale, pydicom)
    return atomic_write(
        target, lambda partial: _save_dicom(dataset, partial, pydicom), "DICOM file"
    )


def _pydicom_major(pydicom: Any) -> int:
    return int(str(pydicom.__version__).split(".")[0])


def _read_dicom_frames(source: Path, pydicom: Any) -> tuple[Any, np.ndarray]:
    """The dataset and its stored pixel values as ``[frames, samples, rows, columns]``."""
    try:
        dataset = pydicom.dcmread(source)
    except Exception as exc:
        raise DataError(f"{source}: cannot be read as DICOM ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in dataset or "Rows" not in dataset or "Columns" not in dataset:
        raise DataError(f"{source}: DICOM file holds no integer pixel data (no PixelData)")
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    bits = int(dataset.get("BitsAllocated", 0) or 0)
    if photometric == "PALETTE COLOR":
        raise DataError(f"{source}: palette-colour DICOM images are not supported")
    if bits not in (8, 16, 32):
        raise DataError(f"{source}: BitsAllocated {bits} is not supported (8, 16 or 32)")
    if photometric.startswith("YBR") and _pydicom_major(pydicom) < 3:
        raise DataError(f"{source}: YBR colour needs pydicom 3 or later (pip install -U pydicom)")
    try:
        # pydicom 3 returns YBR colour as RGB; _update_dataset records that
        pixels = np.asarray(dataset.pixel_array)
    except Exception as exc:
        syntax = getattr(dataset.file_meta.get("TransferSyntaxUID"), "name", "unknown")
        raise DataError(
            f"{source}: cannot decode its pixel data, transfer syntax {syntax} "
            f"({type(exc).__name__}: {exc}); install the decoder pydicom names for it"
        ) from exc
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    # pixel_array is [frames?, rows, columns, samples?] whatever the planar configuration
    frames = pixels.reshape(count, rows, columns, samples)
    return dataset, np.moveaxis(frames, -1, 1)


def _rescale(dataset: Any) -> tuple[float, float]:
    """``(RescaleSlope, RescaleIntercept)``, defaults 1 and 0, as the reader applies them."""
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return slope, intercept


def _stored_type(dataset: Any) -> tuple[np.dtype[Any], tuple[int, int]]:
    """The stored dtype and the range BitsStored allows inside it."""
    bits = int(dataset.BitsAllocated)
    used = int(dataset.get("BitsStored", bits) or bits)
    signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    if signed:
        return dtype, (-(1 << (used - 1)), (1 << (used - 1)) - 1)
    return dtype, (0, (1 << used) - 1)


def _decimal(value: float) -> str:
    """A number as a valid DICOM decimal string (at most 16 characters)."""
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(value)))


def _item(dataset: Any, keyword: str) -> Any:
    """The first item of sequence ``keyword`` in ``dataset``, or None."""
    sequence = dataset.get(keyword) if dataset is not None else None
    return sequence[0] if sequence else None


def _group_value(groups: Sequence[Any], sequence: str, keyword: str) -> Any:
    """``keyword`` from the first functional-group item of ``groups`` holding it in ``sequence``."""
    for group in groups:
        item = _item(group, sequence)
        if item is not None and keyword in item:
            return item.get(keyword)
    return None


def _move_first_pixel(dataset: Any, scale: int) -> None:
    """Move every ImagePositionPatient to the centre of the new first pixel.

    Uses the input's PixelSpacing, so it runs before the spacings are divided. Orientation
    cosines: the first three follow a row (column index grows), the last three a column.
    """
    shift = 0.5 / scale - 0.5
    places = []
    if all(
        k in dataset for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
    ):
        places.append((dataset, dataset.ImageOrientationPatient, dataset.PixelSpacing))
    shared = _item(dataset, "SharedFunctionalGroupsSequence")
    for frame in dataset.get("PerFrameFunctionalGroupsSequence") or []:
        position = _item(frame, "PlanePositionSequence")
        groups = (frame, shared)
        orientation = _group_value(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _group_value(groups, "PixelMeasuresSequence", "PixelSpacing")
        if position is not None and "ImagePositionPatient" in position and orientation and spacing:
            places.append((position, orientation, spacing))
    for holder, orientation, spacing in places:
        cosines = [float(c) for c in orientation]
        row_step, column_step = float(spacing[1]), float(spacing[0])
        moved = [
            float(p) + shift * (along_row * row_step + along_column * column_step)
            for p, along_row, along_column in zip(
                holder.ImagePositionPatient, cosines[:3], cosines[3:], strict=True
            )
        ]
        holder.ImagePositionPatient = [_decimal(v) for v in moved]


def _divide_spacings(dataset: Any, scale: int) -> None:
    """Divide every PixelSpacing and ImagerPixelSpacing, in sequences too, by ``scale``."""

    def divide(_: Any, element: Any) -> None:
        if element.keyword in ("PixelSpacing", "ImagerPixelSpacing") and element.value:
            spacing = np.atleast_1d(np.asarray(element.value, dtype=np.float64))
            element.value = [_decimal(s / scale) for s in spacing]

    dataset.walk(divide)


def _update_dataset(dataset: Any, stored: np.ndarray, scale: int, pydicom: Any) -> None:
    """Put ``stored`` (``[frames, samples, rows, columns]``) and the updated tags in ``dataset``."""
    _, samples, rows, columns = stored.shape
    compressed = bool(getattr(dataset.file_meta.get("TransferSyntaxUID"), "is_compressed", False))
    _move_first_pixel(dataset, scale)
    _divide_spacings(dataset, scale)
    dataset.Rows, dataset.Columns = rows, columns
    if samples > 1:
        dataset.PlanarConfiguration = 0  # written interleaved, as pixel_array returns it
        if str(dataset.get("PhotometricInterpretation", "")).startswith("YBR"):
            dataset.PhotometricInterpretation = "RGB"
    for keyword, value in (
        ("SmallestImagePixelValue", stored.min()),
        ("LargestImagePixelValue", stored.max()),
    ):
        if keyword in dataset:
            dataset[keyword].value = int(value)
    uid = pydicom.uid.generate_uid()
    dataset.SOPInstanceUID = uid
    dataset.file_meta.MediaStorageSOPInstanceUID = uid
    if "SOPClassUID" in dataset:
        dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    image_type = dataset.get("ImageType")
    values = [image_type] if isinstance(image_type, str) else [str(v) for v in image_type or []]
    dataset.ImageType = ["DERIVED", *values[1:]] if values else ["DERIVED", "SECONDARY"]
    note = DERIVATION.format(scale=scale)
    previous = str(dataset.get("DerivationDescription", "") or "")
    dataset.DerivationDescription = f"{previous}; {note}" if previous else note

    interleaved = np.moveaxis(stored, 1, -1)
    interleaved = interleaved[..., 0] if samples == 1 else interleaved
    data = np.ascontiguousarray(interleaved, dtype=stored.dtype.newbyteorder("<")).tobytes()
    dataset.PixelData = data + b"\0" * (len(data) % 2)  # DICOM values have even lengths
    element = dataset["PixelData"]
    element.VR = "OB" if stored.dtype.itemsize == 1 else "OW"
    element.is_undefined_length = False  # it was, for encapsulated (compressed) data
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in dataset:  # they index compressed frames only
            del dataset[keyword]
    if compressed and "IconImageSequence" in dataset:
        del dataset.IconImageSequence  # encapsulated like the image; invalid once uncompressed
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian


def _save_dicom(dataset: Any, path: Path, pydicom: Any) -> None:
    if _pydicom_major(pydicom) >= 3:
        # encodes the dataset as the file meta's transfer syntax says (Explicit VR LE)
        pydicom.dcmwrite(path, dataset, enforce_file_format=True)
    else:
        dataset.is_little_endian, dataset.is_implicit_VR = True, False
        dataset.save_as(path, write_like_original=False)
