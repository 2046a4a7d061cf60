"""GeoTIFF reading through rasterio (the optional ``geo`` extra), whole files or windows.

Georeferencing travels in ``meta``: ``crs`` (a string such as ``EPSG:32621``), ``transform``
(the six affine coefficients ``(a, b, c, d, e, f)`` of rasterio's ``Affine``: x = a*col + b*row
+ c, y = d*col + e*row + f) and ``nodata``. Band names are the band descriptions, ``band<i>``
where a band has none.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.files import ImageInfo, Meta
from ganlab.errors import DataError

Window = tuple[int, int, int, int]
"""``(top, left, height, width)`` in pixels."""

INSTALL_HINT = "pip install 'opensr-gan-lab[geo]' (installs rasterio)"


def rasterio_available() -> bool:
    """Whether rasterio can be imported."""
    try:
        import rasterio  # noqa: F401
    except ImportError:
        return False
    return True


def open_raster(path: Path) -> Any:
    """Open a raster with rasterio (without the not-georeferenced warning for plain TIFFs).

    Raises:
        DataError: rasterio is missing (with the install command).
    """
    try:
        import rasterio
    except ImportError:
        raise DataError(f"{path}: reading GeoTIFFs needs rasterio; {INSTALL_HINT}") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path)


def band_names(dataset: Any) -> tuple[str, ...]:
    """Band descriptions of an open rasterio dataset, ``band<i>`` (0-based) where missing."""
    return tuple(description or f"band{i}" for i, description in enumerate(dataset.descriptions))


def georeference(dataset: Any, window: Window | None = None) -> Meta:
    """``crs``, ``transform`` (of the window, if given) and ``nodata`` of an open dataset.

    ``crs`` and ``transform`` are None for a file without georeferencing.
    """
    from rasterio.windows import Window as RasterioWindow

    crs = dataset.crs.to_string() if dataset.crs else None
    if window is None:
        affine = dataset.transform
    else:
        top, left, height, width = window
        affine = dataset.window_transform(RasterioWindow(left, top, width, height))
    transform: tuple[float, ...] | None = tuple(float(v) for v in tuple(affine)[:6])
    if crs is None and transform == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0):
        transform = None
    nodata = dataset.nodata
    return {
        "crs": crs,
        "transform": transform,
        "nodata": None if nodata is None else float(nodata),
    }


def geotiff_info(path: Path) -> ImageInfo:
    """Band count, size, dtype and band names from the header."""
    with open_raster(path) as dataset:
        return ImageInfo(
            dataset.count,
            dataset.height,
            dataset.width,
            np.dtype(dataset.dtypes[0]).str,
            band_names(dataset),
        )


def read_geotiff(
    path: Path, bands: list[int] | None = None, window: Window | None = None
) -> tuple[np.ndarray, Meta]:
    """Read bands of a GeoTIFF (all of it, or one window) in the file's dtype.

    Args:
        path: The raster.
        bands: 0-based band indices; None reads all.
        window: ``(top, left, height, width)``; None reads the whole raster.

    Returns:
        ``(array[C, H, W], meta)`` with ``path``, ``band_names``, ``crs``, ``transform`` (of the
        window), ``nodata`` and ``valid`` (``[H, W]`` bool, True where every selected band has
        data; from the raster's masks).
    """
    from rasterio.windows import Window as RasterioWindow

    with open_raster(path) as dataset:
        return read_open_window(dataset, path, bands, window, RasterioWindow)


def valid_from_nodata(dataset: Any, indexes: list[int], array: np.ndarray) -> np.ndarray | None:
    """``[H, W]`` True where every band of ``array`` has data, when the bands' masks come only
    from nodata values (or all pixels are valid): what GDAL's masks would say, without reading
    the window a second time. None when a band has a real mask (mask band, alpha, ...) or an
    integer band's nodata value is not one of its values (GDAL's masks then decide)."""
    from rasterio.enums import MaskFlags

    valid = np.ones(array.shape[1:], dtype=bool)
    for band, index in zip(array, indexes, strict=True):
        flags = dataset.mask_flag_enums[index - 1]
        if list(flags) == [MaskFlags.all_valid]:
            continue
        if list(flags) != [MaskFlags.nodata]:
            return None
        nodata = dataset.nodatavals[index - 1]
        if nodata is None:
            return None
        if np.isnan(nodata):
            valid &= ~np.isnan(band)
        elif np.issubdtype(band.dtype, np.integer):
            limits = np.iinfo(band.dtype)
            if not (float(nodata).is_integer() and limits.min <= nodata <= limits.max):
                return None  # GDAL truncates such a value; its masks say what it matches
            valid &= band != int(nodata)
        else:
            valid &= band != band.dtype.type(nodata)
    return valid


def read_open_window(
    dataset: Any, path: Path, bands: list[int] | None, window: Window | None, window_type: Any
) -> tuple[np.ndarray, Meta]:
    """:func:`read_geotiff` on an already open dataset (kept open by :mod:`raster_chips`)."""
    indexes = [b + 1 for b in bands] if bands is not None else list(range(1, dataset.count + 1))
    rio_window = None
    if window is not None:
        top, left, height, width = window
        if top < 0 or left < 0 or top + height > dataset.height or left + width > dataset.width:
            raise DataError(
                f"{path}: window {window} lies outside the raster of "
                f"{dataset.height} x {dataset.width} pixels"
            )
        rio_window = window_type(left, top, width, height)
    array = dataset.read(indexes, window=rio_window)
    valid = valid_from_nodata(dataset, indexes, array)
    if valid is None:  # mask bands, alpha or per-dataset masks: GDAL reads them
        valid = np.all(dataset.read_masks(indexes, window=rio_window) > 0, axis=0)
    names = band_names(dataset)
    meta: Meta = {
        "path": str(path),
        "band_names": tuple(names[i - 1] for i in indexes),
        "valid": valid,
    }
    meta.update(georeference(dataset, window))
    return array, meta
