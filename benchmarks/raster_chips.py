"""Throughput and peak memory of ``raster_chips`` on GeoTIFFs of growing size, one JSON line each.

Usage:
    python benchmarks/raster_chips.py [--sizes 1000 10000] [--chip 128] [--items 200]
        [--bands 4] [--block 256] [--sparse] [--workers 0] [--batch 8] [--dir DIR]

For each size a ``size x size`` uint16 GeoTIFF (tiled, deflate) is written once (``--sparse``
writes only a corner tile, so a 10,000 x 10,000 raster takes seconds and kilobytes; otherwise
every tile holds smooth random texture), then a fresh Python process draws ``--items`` random
``--chip`` windows (x4 area degradation) through a DataLoader and reports samples/s and its peak
resident memory (``ru_maxrss``). Peak memory should stay flat as the raster grows: only the
windows' blocks are read (plus GDAL's block cache, bounded by ``GDAL_CACHEMAX``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_raster(path: Path, size: int, bands: int, block: int, sparse: bool) -> None:
    """A tiled, deflate-compressed uint16 GeoTIFF of ``size x size`` pixels."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = dict(
        driver="GTiff", height=size, width=size, count=bands, dtype="uint16", crs="EPSG:32633",
        transform=from_origin(500000, 4600000, 10, 10), tiled=True, blockxsize=block,
        blockysize=block, compress="deflate", predictor=2, SPARSE_OK=sparse,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as dataset:
        rows = range(0, block if sparse else size, block)
        for top in rows:
            height = min(block, size - top)
            width = block if sparse else size
            strip = rng.integers(1000, 9000, (bands, height, width), dtype=np.uint16)
            dataset.write(strip, window=Window(0, top, width, height))


def measure(path: Path, bands: int, chip: int, items: int, workers: int, batch: int) -> dict:
    """Draw ``items`` random windows through a DataLoader; samples/s and peak RSS."""
    import torch
    from torch.utils.data import DataLoader

    from ganlab.data.datasets import collate_samples
    from ganlab.data.raster_chips import RasterChipsDataset

    torch.manual_seed(0)
    dataset = RasterChipsDataset(
        [path], scale=4, bands=bands, train=True, chip_size=chip, repeats=items
    )
    loader = DataLoader(
        dataset, batch_size=batch, num_workers=workers, collate_fn=collate_samples, shuffle=True
    )
    start = time.perf_counter()
    count = sum(batch_["hr"].shape[0] for batch_ in loader)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if workers:
        peak_kib += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "samples_per_s": round(count / seconds, 1),
        "samples": count,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--chip", type=int, default=128, help="HR window side (default 128)")
    parser.add_argument("--items", type=int, default=200, help="windows drawn (default 200)")
    parser.add_argument("--bands", type=int, default=4, help="raster bands (default 4)")
    parser.add_argument("--block", type=int, default=256, help="GeoTIFF tile side (default 256)")
    parser.add_argument("--sparse", action="store_true", help="write only one tile (fast)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--dir", type=Path, default=None, help="where rasters are written")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:  # child process: one measurement, one JSON object
        result = measure(args.measure, args.bands, args.chip, args.items, args.workers, args.batch)
        print(json.dumps(result))
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="ganlab-raster-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        path = folder / f"raster_{size}{'_sparse' if args.sparse else ''}.tif"
        if not path.exists():
            write_raster(path, size, args.bands, args.block, args.sparse)
        command = [
            sys.executable, __file__, "--measure", str(path), "--bands", str(args.bands),
            "--chip", str(args.chip), "--items", str(args.items), "--workers", str(args.workers),
            "--batch", str(args.batch),
        ]  # fmt: skip
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(
            json.dumps(
                {
                    "benchmark": "raster_chips",
                    "raster": f"{size}x{size}x{args.bands} uint16",
                    "raster_bytes_uncompressed": size * size * args.bands * 2,
                    "file_bytes": path.stat().st_size,
                    "sparse": args.sparse,
                    "chip": args.chip,
                    "workers": args.workers,
                    **result,
                    "machine": platform.machine(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
