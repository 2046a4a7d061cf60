"""GeoTIFF in, GeoTIFF out, streamed: a strip of tiles is read, super-resolved and written
before the next, so memory depends on the tile and the scene's width, not its size.

The output keeps the input's georeferencing with the pixel size divided by the scale (same
extent, same upper-left corner), its CRS, nodata value, band descriptions, dataset and band
tags and dtype (integers rounded and clipped). It is tiled (256 x 256 blocks) and
deflate-compressed; with ``cog=True`` it is a Cloud-Optimised GeoTIFF (with overviews).
Nodata: LR pixels without data (the raster's masks) are filled with the value the network
sees as 0 before the generator runs, and every SR pixel of such an LR pixel is nodata.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.geotiff import band_names, open_raster
from ganlab.data.readers import resolve_bands
from ganlab.errors import DataError, UserInputError
from ganlab.files import atomic_write
from ganlab.inference.resolver import SuperResolver
from ganlab.inference.tiling import TilePlan, Tiling, run_tiled
from ganlab.inference.values import round_in_place

log = logging.getLogger(__name__)

BLOCK = 256
"""Block side of the output GeoTIFF (pixels)."""
GDAL_CACHE_MB = 8
"""GDAL's block cache while writing: bounded, so memory does not grow with the scene."""


def select_bands(resolver: SuperResolver, names: tuple[str, ...], path: Path) -> list[int]:
    """0-based bands of a file to feed the model: the training data's ``Data.bands`` when the
    file has them, else all bands when their count matches the model.

    Raises:
        DataError: The file's bands do not fit the model (names the file and the counts).
    """
    if resolver.bands is not None:
        try:
            selected = resolve_bands(resolver.bands, names, str(path))
        except DataError as exc:
            log.warning("%s; reading the file's bands in order instead", exc)
            selected = None
        if selected is not None:
            resolver.check_bands(len(selected), f"{path} (bands {resolver.bands})")
            return selected
    resolver.check_bands(len(names), str(path))
    return list(range(len(names)))


class RasterSource:
    """Rows of selected bands of an open raster as float32, nodata filled (a TileSource)."""

    def __init__(self, dataset: Any, bands: list[int], fill: np.ndarray, path: Path) -> None:
        self.dataset = dataset
        self.path = path
        self.indexes = [band + 1 for band in bands]
        self.fill = fill.astype(np.float32)[:, None, None]
        self.bands, self.height, self.width = len(bands), dataset.height, dataset.width

    def _window(self, top: int, height: int) -> Any:
        from rasterio.windows import Window

        return Window(0, top, self.width, height)

    def _read(self, masks: bool, top: int, height: int) -> np.ndarray:
        # a truncated or corrupt file fails here, midway: name the input (an OSError would be
        # taken for a failure to write the output)
        read = self.dataset.read_masks if masks else self.dataset.read
        try:
            return np.asarray(read(self.indexes, window=self._window(top, height)))
        except Exception as exc:
            raise DataError(
                f"{self.path}: cannot read rows {top}..{top + height - 1} "
                f"({type(exc).__name__}: {exc})"
            ) from None

    def valid(self, top: int, height: int) -> np.ndarray:
        """``[height, width]`` True where every selected band has data."""
        return np.all(self._read(True, top, height) > 0, axis=0)

    @property
    def masked(self) -> bool:
        """Whether the raster marks missing data (nodata value, mask or alpha band)."""
        from rasterio.enums import MaskFlags

        flags = [self.dataset.mask_flag_enums[index - 1] for index in self.indexes]
        return any(MaskFlags.all_valid not in band for band in flags)

    def read_rows(self, top: int, height: int) -> np.ndarray:
        rows = self._read(False, top, height).astype(np.float32)
        valid = self.valid(top, height)
        if not valid.all():
            rows = np.where(valid[None], rows, self.fill)
        return rows


class RasterSink:
    """Writes finished SR rows into an open output raster in whole block rows (a RowSink);
    SR pixels of LR nodata become nodata (or masked, without a nodata value).

    Rows wait in one buffer allocated once (a block row plus the largest hand-over), so the
    memory per scene width stays fixed; the float rows handed over are rounded in place.
    """

    def __init__(self, output: Any, source: RasterSource, scale: int, nodata: float | None):
        self.output = output
        self.source = source
        self.scale = scale
        self.nodata = nodata
        # without a nodata value, missing data (mask or alpha band) goes into a mask band
        self.mask = nodata is None and source.masked
        self.dtype = np.dtype(output.dtypes[0])
        self.values = np.empty((output.count, 0, output.width), self.dtype)
        self.masks = np.empty((0, output.width), np.uint8)
        self.held = 0  # rows waiting in the buffers
        self.top = 0  # output row of the first waiting row

    def _reserve(self, rows: int) -> None:
        if self.held + rows > self.values.shape[1]:
            size = BLOCK + rows
            values = np.empty((self.values.shape[0], size, self.values.shape[2]), self.dtype)
            values[:, : self.held] = self.values[:, : self.held]
            masks = np.empty((size, self.masks.shape[1]), np.uint8)
            masks[: self.held] = self.masks[: self.held]
            self.values, self.masks = values, masks

    def write_rows(self, top: int, rows: np.ndarray) -> None:
        count = rows.shape[1]
        self._reserve(count)
        waiting = slice(self.held, self.held + count)
        np.copyto(self.values[:, waiting], round_in_place(rows, self.dtype), casting="unsafe")
        if self.nodata is not None or self.mask:
            s = self.scale
            first, last = top // s, (top + count - 1) // s
            valid = self.source.valid(first, last - first + 1)
            valid = np.repeat(np.repeat(valid, s, axis=0), s, axis=1)
            valid = valid[top - first * s : top - first * s + count]
            if self.mask:
                self.masks[waiting] = valid * np.uint8(255)
            else:
                self.values[:, waiting][:, ~valid] = self.dtype.type(self.nodata)
        self.held += count
        if self.held >= BLOCK:
            self.flush(whole_blocks=True)

    def flush(self, whole_blocks: bool = False) -> None:
        """Write the rows held back: whole block rows only (each compressed block is then
        written once, complete), or all of them at the end."""
        from rasterio.windows import Window

        count = self.held // BLOCK * BLOCK if whole_blocks else self.held
        if not count:
            return
        window = Window(0, self.top, self.values.shape[2], count)
        self.output.write(self.values[:, :count], window=window)
        if self.mask:
            self.output.write_mask(self.masks[:count], window=window)
        rest = self.held - count
        self.values[:, :rest] = self.values[:, count : self.held]
        self.masks[:rest] = self.masks[count : self.held]
        self.top += count
        self.held = rest


def _profile(dataset: Any, bands: int, scale: int, dtype: str) -> dict[str, Any]:
    from affine import Affine

    integer = np.issubdtype(np.dtype(dtype), np.integer)
    return {
        "driver": "GTiff",
        "width": dataset.width * scale,
        "height": dataset.height * scale,
        "count": bands,
        "dtype": dtype,
        "crs": dataset.crs,
        # a plain TIFF (no CRS, identity transform) stays without georeferencing
        "transform": dataset.transform @ Affine.scale(1 / scale)
        if dataset.crs or not dataset.transform.is_identity
        else Affine.identity(),
        "nodata": dataset.nodata,
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "deflate",
        "predictor": 2 if integer else 3,
        "BIGTIFF": "IF_SAFER",
    }


def _copy_metadata(source: Any, output: Any, bands: list[int], resolver: SuperResolver) -> None:
    """Dataset tags, and band descriptions and tags where the model keeps the band count."""
    output.update_tags(**source.tags())
    output.update_tags(
        GANLAB_SUPER_RESOLVED=f"x{resolver.scale} by OpenSR GAN Lab "
        f"({resolver.weights} weights of {Path(str(resolver.source)).name})"
    )
    if resolver.out_bands != len(bands):
        return
    output.scales = tuple(source.scales[band] for band in bands)
    output.offsets = tuple(source.offsets[band] for band in bands)
    output.units = tuple(source.units[band] or "" for band in bands)
    for out_index, band in enumerate(bands, start=1):
        description = source.descriptions[band]
        if description:
            output.set_band_description(out_index, description)
        output.update_tags(out_index, **source.tags(band + 1))


def release_large_buffers() -> None:
    """Let glibc hand buffers of 1 MiB and more back to the system when they are freed.

    By default glibc raises its mmap threshold to the size of the largest buffer freed so far
    (up to 32 MiB), after which a scene's per-strip buffers come from the heap and fragment it:
    memory then grows with the scene. A fixed threshold keeps it flat. No-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass


M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number of the mmap threshold."""


def _open(path: Path) -> Any:
    """The raster, or DataError naming it (corrupt, truncated, not a TIFF)."""
    try:
        return open_raster(path)
    except UserInputError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def raster_tiles(resolver: SuperResolver, path: Path, tiling: Tiling) -> int:
    """Number of tiles a GeoTIFF takes (for a progress bar)."""
    with _open(path) as dataset:
        return TilePlan.of(tiling, dataset.height, dataset.width).count


def super_resolve_geotiff(
    source: Path,
    target: Path,
    resolver: SuperResolver,
    tiling: Tiling,
    progress: Callable[[int], None] | None = None,
    cog: bool = False,
) -> Path:
    """Super-resolve a GeoTIFF into ``target`` (streamed, see the module docstring).

    Raises:
        DataError: Unreadable file or bands that do not fit the model.
        OutputError: ``target`` cannot be written (nothing is left behind).
    """
    import rasterio
    import rasterio.shutil

    dataset = _open(source)
    release_large_buffers()
    with dataset, rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        bands = select_bands(resolver, band_names(dataset), source)
        zeros = torch.zeros(1, len(bands), 1, 1, device=resolver.device)
        fill = resolver.lr_normalizer.denormalize(zeros).flatten().cpu().numpy()
        reader = RasterSource(dataset, bands, fill, source)
        dtype = dataset.dtypes[bands[0]]
        profile = _profile(dataset, resolver.out_bands, resolver.scale, dtype)

        def write_tiff(path: Path) -> None:
            with rasterio.open(path, "w", **profile) as output:
                _copy_metadata(dataset, output, bands, resolver)
                sink = RasterSink(output, reader, resolver.scale, dataset.nodata)
                run_tiled(reader, sink, resolver.run, tiling, resolver.scale, progress)
                sink.flush()

        def write(path: Path) -> None:
            if not cog:
                write_tiff(path)
                return
            plain = path.with_name(path.name + ".tiles.tif")
            try:
                write_tiff(plain)
                rasterio.shutil.copy(
                    plain, path, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=str(2 * BLOCK),
                    PREDICTOR="YES", BIGTIFF="IF_SAFER",
                )  # fmt: skip
            finally:
                plain.unlink(missing_ok=True)
                Path(str(plain) + ".aux.xml").unlink(missing_ok=True)

        atomic_write(target, write, "GeoTIFF")
    return target
