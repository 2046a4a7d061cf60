"""Small data makers shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CRS = "EPSG:32633"


def write_geotiff(
    path: Path,
    array: np.ndarray,
    names: tuple[str, ...] | None = None,
    nodata: float | None = None,
    origin: tuple[float, float] = (500000.0, 4600000.0),
    pixel: float = 10.0,
) -> Path:
    """Write ``array`` ``[C, H, W]`` as a tiled GeoTIFF with band descriptions."""
    import rasterio
    from rasterio.transform import from_origin

    bands, height, width = array.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=bands,
        dtype=array.dtype,
        crs=CRS,
        transform=from_origin(origin[0], origin[1], pixel, pixel),
        nodata=nodata,
        tiled=True,
        blockxsize=16,
        blockysize=16,
    ) as dataset:
        dataset.write(array)
        if names:
            dataset.descriptions = names
    return path


def smooth_image(bands: int, size: int, seed: int = 0, dtype: type = np.uint16) -> np.ndarray:
    """A textured but smooth-ish ``[bands, size, size]`` image in 1000..9000."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    layers = []
    for band in range(bands):
        f1, f2 = rng.uniform(1, 6, 2)
        layer = 5000 + 2500 * np.sin(2 * np.pi * f1 * x + band) * np.cos(2 * np.pi * f2 * y)
        layers.append(layer + rng.normal(0, 300, (size, size)))
    return np.clip(np.stack(layers), 0, 65535).astype(dtype)
