"""Super-resolve medical files: NIfTI volumes slice by slice here, DICOM images frame by frame
in :mod:`ganlab.inference.dicom` (which shares this module's conventions).

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.medical import dicom_info, import_nibabel, nifti_info
from ganlab.errors import DataError, OutputError
from ganlab.files import atomic_write
from ganlab.inference.values import Resolve, cast_to_dtype, check_scale, checked_sr

Progress = Callable[[int], None]
"""``progress(n)``: ``n`` more slices or frames are done."""

NIFTI_SUFFIXES = (".nii", ".nii.gz")
GZIP_LEVEL = 6
"""Compression of ``.nii.gz`` outputs (gzip's usual trade-off of size and speed)."""


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
    check_scale(scale)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis!r}")
    if not _is_nifti(target):
        raise OutputError(f"{target}: a NIfTI output needs a .nii or .nii.gz name")
    nibabel = import_nibabel()
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
