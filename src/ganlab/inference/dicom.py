"""Super-resolve DICOM files frame by frame, keeping the stored representation and every tag
but those the finer pixel grid changes (see :mod:`ganlab.inference.medical` for the value and
geometry conventions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.medical import import_pydicom
from ganlab.errors import DataError
from ganlab.files import atomic_write
from ganlab.inference.medical import Progress
from ganlab.inference.values import Resolve, cast_to_dtype, check_scale, checked_sr

DERIVATION = "super-resolved x{scale} by OpenSR GAN Lab"
"""Text added to a DICOM output's DerivationDescription."""


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
    check_scale(scale)
    pydicom = import_pydicom()
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
