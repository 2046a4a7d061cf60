"""Values between the model and the files: the resolve callable, storing floats in integer
dtypes, checking what a resolve returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganlab.errors import DataError

Resolve = Callable[[np.ndarray], np.ndarray]
"""``resolve(lr)``: float32 ``[C, h, w]`` in the file's units -> float32 ``[C, h*s, w*s]``."""


def cast_to_dtype(
    values: np.ndarray, dtype: np.dtype[Any] | type, limits: tuple[int, int] | None = None
) -> np.ndarray:
    """``values`` converted to ``dtype`` for storing.

    Integer dtypes: rounded to the nearest integer (halves to even) and clipped to ``limits``
    (default: the dtype's whole range); NaN becomes 0, infinities the nearest limit. Float
    dtypes: cast as they are.

    Args:
        values: Any real array.
        dtype: The stored dtype.
        limits: Smallest and largest stored integer (e.g. a 12-bit range inside uint16).

    Example:
        >>> cast_to_dtype(np.array([-3.0, 0.4, 0.6, 300.0, np.nan]), np.uint8)
        array([  0,   0,   1, 255,   0], dtype=uint8)
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return values.astype(dtype)
    # float32 holds every integer of 8- and 16-bit types exactly
    work = values.astype(np.float32 if dtype.itemsize <= 2 else np.float64)
    return round_in_place(work, dtype, limits).astype(dtype)


def round_in_place(
    values: np.ndarray, dtype: np.dtype[Any] | type, limits: tuple[int, int] | None = None
) -> np.ndarray:
    """``values`` (floats) made ready for an integer ``dtype`` in place, as
    :func:`cast_to_dtype` stores them (rounded, NaN to 0, clipped to ``limits`` or the
    dtype's range); returned as they are for float dtypes. The caller casts: no working copy
    (a scene's strips are large)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return values
    info = np.iinfo(dtype)
    low, high = limits if limits is not None else (int(info.min), int(info.max))
    np.nan_to_num(values, copy=False, nan=0.0, posinf=high, neginf=low)
    np.rint(values, out=values)
    np.clip(values, low, high, out=values)
    return values


def checked_sr(sr: object, lr_shape: tuple[int, ...], scale: int, source: str) -> np.ndarray:
    """The output of ``resolve`` as float32 ``[C, h*scale, w*scale]``, checked against the input.

    Args:
        sr: What ``resolve`` returned.
        lr_shape: The ``[C, h, w]`` shape it was given.
        scale: The upscaling factor.
        source: The file (and slice/frame), for messages.

    Raises:
        DataError: ``resolve`` returned another band count than it was given (the model does
            not fit this file's bands).
        ValueError: ``resolve`` returned no array or the wrong height/width (a bug in it).
    """
    if not isinstance(sr, np.ndarray) or sr.ndim != 3:
        shape = getattr(sr, "shape", type(sr).__name__)
        raise ValueError(f"{source}: resolve must return a [C, H, W] array, got {shape}")
    bands, height, width = lr_shape
    if sr.shape[0] != bands:
        raise DataError(
            f"{source}: the model returns {sr.shape[0]} bands for {bands}-band input; the "
            f"output keeps the input's bands, so use a model with {bands} input and output bands"
        )
    if sr.shape[1:] != (height * scale, width * scale):
        raise ValueError(
            f"{source}: resolve returned {tuple(sr.shape)} for {tuple(lr_shape)} at x{scale}; "
            f"expected {(bands, height * scale, width * scale)}"
        )
    return sr.astype(np.float32, copy=False)


def upsample_nearest(array: np.ndarray, scale: int) -> np.ndarray:
    """``[C, H, W]`` -> ``[C, H*scale, W*scale]``, each pixel repeated ``scale x scale`` times."""
    return np.repeat(np.repeat(array, scale, axis=1), scale, axis=2)


def check_scale(scale: int) -> None:
    """Raise ValueError unless ``scale`` is a positive integer."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
