"""Super-resolve files and folders: the format is chosen by the file suffix, metadata kept,
outputs written atomically, progress counted in tiles (``ganlab predict``).

======================= ============================================================
input                   output
======================= ============================================================
``.tif`` ``.tiff``      GeoTIFF, streamed by strips (:mod:`ganlab.inference.rasters`);
                        plain TIFFs without georeferencing too (needs rasterio, else
                        read as photos)
``.png`` ``.jpg``       same format and bit depth (:mod:`ganlab.inference.photos`)
``.nii`` ``.nii.gz``    NIfTI, slice by slice (:mod:`ganlab.inference.medical`)
``.dcm``                DICOM, frame by frame (:mod:`ganlab.inference.medical`)
======================= ============================================================
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganlab.data.geotiff import rasterio_available
from ganlab.data.readers import file_suffix
from ganlab.errors import ArgumentError, DataError, OutputError, UserInputError
from ganlab.inference.dicom import super_resolve_dicom
from ganlab.inference.medical import super_resolve_nifti
from ganlab.inference.photos import read_photo, super_resolve_photo
from ganlab.inference.resolver import SuperResolver
from ganlab.inference.tiling import TilePlan, Tiling

log = logging.getLogger(__name__)

RASTER = (".tif", ".tiff")
PHOTO = (".png", ".jpg", ".jpeg")
NIFTI = (".nii", ".nii.gz")
DICOM = (".dcm",)
SUPPORTED = RASTER + PHOTO + NIFTI + DICOM
"""Suffixes ``ganlab predict`` reads."""

Progress = Callable[[int], None]
ProgressFactory = Callable[[Path, int], "ProgressBar"]


class ProgressBar:
    """Counts tiles of one file; the CLI shows a bar (tiles done, tiles/s, ETA)."""

    def __init__(self, path: Path, total: int, enabled: bool = True) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=path.name, unit="tile", leave=False, dynamic_ncols=True
            )

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _kind(path: Path) -> str:
    suffix = file_suffix(path)
    if suffix in RASTER:
        return "raster" if rasterio_available() else "photo"
    if suffix in PHOTO:
        return "photo"
    if suffix in NIFTI:
        return "nifti"
    if suffix in DICOM:
        return "dicom"
    raise DataError(
        f"{path}: unsupported file type {suffix!r}; ganlab predict reads {', '.join(SUPPORTED)}"
    )


def _image_tiles(tiling: Tiling, height: int, width: int) -> int:
    return TilePlan.of(tiling, height, width).count


def count_tiles(resolver: SuperResolver, path: Path, tiling: Tiling) -> int:
    """Tiles a file takes (every slice/frame of a volume counted), for the progress bar."""
    kind = _kind(path)
    if kind == "raster":
        from ganlab.inference.rasters import raster_tiles

        return raster_tiles(resolver, path, tiling)
    if kind == "photo":
        array, _ = read_photo(path)
        return _image_tiles(tiling, *array.shape[-2:])
    from ganlab.data.readers import ReadOptions, read_info

    info = read_info(path, ReadOptions(slice_axis=resolver.slice_axis))
    return info.count * _image_tiles(tiling, info.height, info.width)  # slices or frames


def _resolve_function(
    resolver: SuperResolver, path: Path, tiling: Tiling, progress: Progress | None
) -> Callable[[np.ndarray], np.ndarray]:
    def resolve(lr: np.ndarray) -> np.ndarray:
        resolver.check_bands(lr.shape[0], str(path))
        return resolver.super_resolve_array(lr, tiling, progress)

    return resolve


def predict_file(
    resolver: SuperResolver,
    source: Path,
    target: Path,
    tiling: Tiling,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    cog: bool = False,
) -> Path:
    """Super-resolve one file into ``target`` (the format follows the suffixes, see the
    module docstring).

    Raises:
        DataError: Unsupported or unreadable input, or bands that do not fit the model.
        OutputError: ``target`` exists (without ``overwrite``) or cannot be written; no
            partial output is left.
    """
    kind = _kind(source)
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    if target.resolve() == source.resolve():
        raise OutputError(f"{target} is the input file; choose another output")
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; pass --overwrite to replace it")
    if kind != "raster" and cog:
        raise ArgumentError(f"--cog applies to GeoTIFF outputs, not to {source.name}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {target.parent} ({exc})") from None
    scale = resolver.scale
    if kind == "raster":
        from ganlab.inference.rasters import super_resolve_geotiff

        return super_resolve_geotiff(source, target, resolver, tiling, progress, cog)
    resolve = _resolve_function(resolver, source, tiling, progress)
    if kind == "photo":
        return super_resolve_photo(source, target, resolve, scale)
    if kind == "nifti":
        return super_resolve_nifti(source, target, resolve, scale, resolver.slice_axis)
    return super_resolve_dicom(source, target, resolve, scale)


def output_path(source: Path, output: Path, root: Path | None) -> Path:
    """Where the SR of ``source`` goes: inside ``output`` (a folder) with the same name, or
    relative path under ``root`` for folder inputs; else ``output`` itself."""
    if root is not None:
        return output / source.relative_to(root)
    if output.is_dir():
        return output / source.name
    return output


def input_files(root: Path) -> tuple[list[Path], list[Path]]:
    """Files of a folder (recursively, hidden ones left out): ``(supported, unsupported)``."""
    supported: list[Path] = []
    unsupported: list[Path] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        (supported if file_suffix(path) in SUPPORTED else unsupported).append(path)
    return supported, unsupported


@dataclass
class PredictSummary:
    """What a ``ganlab predict`` run did."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    tiles: int = 0
    seconds: float = 0.0
    unexpected: bool = False

    def line(self, resolver: SuperResolver) -> str:
        """One summary line."""
        rate = self.tiles / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"Super-resolved {len(self.written)} file{'s' if len(self.written) != 1 else ''} "
            f"(x{resolver.scale}, {resolver.weights} weights) in {self.seconds:.1f} s "
            f"({self.tiles} tiles, {rate:.2f} tiles/s)"
        ]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (unsupported type)")
        return "; ".join(parts)


def predict_paths(
    resolver: SuperResolver,
    source: Path,
    output: Path,
    tiling: Tiling,
    *,
    overwrite: bool = False,
    fail_fast: bool = False,
    cog: bool = False,
    progress: Callable[[Path, int], ProgressBar] | None = None,
    report: Callable[[str], None] = log.error,
) -> PredictSummary:
    """Super-resolve a file or every supported file of a folder (recursively, mirrored under
    ``output``). A failing file is reported through ``report`` and the rest continue, unless
    ``fail_fast`` (then the error is raised).

    Raises:
        DataError: ``source`` does not exist, or is a folder and ``output`` is a file.
    """
    if not source.exists():
        raise DataError(f"input {source} does not exist")
    summary = PredictSummary()
    root: Path | None = None
    if source.is_dir():
        if output.exists() and not output.is_dir():
            raise OutputError(f"input {source} is a folder, so --output must be a folder, "
                              f"but {output} is a file")  # fmt: skip
        root = source
        files, summary.skipped = input_files(source)
        if not files:
            raise DataError(
                f"input folder {source} holds no file ganlab predict reads ({', '.join(SUPPORTED)})"
            )
        for path in summary.skipped:
            report(f"{path}: skipped (unsupported type {file_suffix(path)!r})")
    else:
        files = [source]
    start = time.perf_counter()
    for path in files:
        target = output_path(path, output, root)
        bar = None
        try:
            tiles = count_tiles(resolver, path, tiling)
            bar = progress(path, tiles) if progress is not None else None
            predict_file(
                resolver, path, target, tiling, overwrite=overwrite,
                progress=bar.update if bar is not None else None, cog=cog,
            )  # fmt: skip
            summary.written.append(target)
            summary.tiles += tiles
        except Exception as exc:
            if fail_fast or root is None:
                raise
            if not isinstance(exc, UserInputError):
                summary.unexpected = True
                log.debug("".join(traceback.format_exception(exc)))
            message = (
                str(exc) if isinstance(exc, UserInputError) else f"{type(exc).__name__}: {exc}"
            )
            summary.failed.append((path, message))
            report(f"{path}: failed: {message}")
        finally:
            if bar is not None:
                bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
