"""Streamed GeoTIFF inference at growing scene sizes: time, tiles/s and peak memory.

Usage:
    python benchmarks/inference_scaling.py [--sizes 1024 2048 4096] [--scale 2] [--tile N]
        [--channels 8] [--blocks 1] [--threads N]

For each size a square uint16 3-band GeoTIFF (UTM, 30 m, smooth synthetic reflectance) is made
on the fly, then super-resolved by ``ganlab predict``'s code path in a fresh process with a
small SRResNet export (random weights: the work, not the quality, is measured). That process
reports the seconds of the prediction alone (model loading excluded), tiles/s and its peak RSS
(``ru_maxrss``). One JSON line per size, then a summary line with the RSS growth from the
smallest to the largest scene (target: < 20%) and the seconds per LR megapixel relative to the
smallest scene (linear work: within 15%). All lines are also written to
``benchmarks/results/inference_scaling.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, cpu_model, results_folder

RESULTS = results_folder() / "inference_scaling.jsonl"

WORKER = """
import json, resource, sys, time
from pathlib import Path
import torch
from ganlab.inference.predict import predict_file
from ganlab.inference.resolver import SuperResolver
from ganlab.inference.tiling import TilePlan
checkpoint, scene, target, tile, threads = sys.argv[1:6]
if int(threads):
    torch.set_num_threads(int(threads))
resolver = SuperResolver.from_checkpoint(checkpoint)
tiling = resolver.tiling(int(tile) or None)
import rasterio
with rasterio.open(scene) as dataset:
    tiles = TilePlan.of(tiling, dataset.height, dataset.width).count
start = time.perf_counter()
predict_file(resolver, Path(scene), Path(target), tiling, overwrite=True)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "tiles": tiles, "peak_rss_mib": peak_kib / 1024,
                  "tile": tiling.tile, "overlap": tiling.overlap}))
"""


def make_scene(path: Path, size: int) -> None:
    """A smooth uint16 3-band scene written strip by strip (memory does not grow with it)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint16",
        "crs": "EPSG:32721", "transform": Affine(30, 0, 600000, 0, -30, 7000000), "nodata": 0,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }  # fmt: skip
    columns = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dataset:
        for top in range(0, size, 256):
            rows = np.arange(top, min(top + 256, size), dtype=np.float32)[:, None]
            base = 7500 + 600 * np.sin(rows / 37.0) * np.cos(columns / 53.0)
            strip = np.stack([base, base * 0.95 + 200, base * 1.05 - 300]).astype(np.uint16)
            dataset.write(strip, window=Window(0, top, size, strip.shape[1]))


def make_export(path: Path, scale: int, channels: int, blocks: int) -> None:
    import torch

    from ganlab.config import load_config
    from ganlab.export import generator_description, save_generator
    from ganlab.models import build_generator

    config = load_config(
        None,
        [
            f"Generator.scaling_factor={scale}",
            f"Generator.n_channels={channels}",
            f"Generator.n_blocks={blocks}",
            "Data.normalization={type: percentile, low: [6500, 6000, 6000], "
            "high: [8500, 8500, 8500]}",
        ],
    )
    torch.manual_seed(0)
    generator = build_generator(config)
    save_generator(path, generator.state_dict(), generator_description(generator, config), "ema")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--scale", type=int, default=2, help="upscaling factor (default 2)")
    parser.add_argument(
        "--tile", type=int, default=0, help="tile side, LR px (default 0: ganlab's default)"
    )
    parser.add_argument("--channels", type=int, default=8, help="generator width (default 8)")
    parser.add_argument("--blocks", type=int, default=1, help="generator blocks (default 1)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "bench.generator-ema.safetensors"
        make_export(export, args.scale, args.channels, args.blocks)
        for size in args.sizes:
            scene, target = Path(folder) / f"scene_{size}.tif", Path(folder) / f"sr_{size}.tif"
            make_scene(scene, size)
            command = [sys.executable, "-c", WORKER, str(export), str(scene), str(target),
                       str(args.tile), str(args.threads)]  # fmt: skip
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                sys.exit(f"size {size} failed:\n{result.stderr}")
            measured = json.loads(result.stdout.strip().splitlines()[-1])
            row = {
                "benchmark": "inference_scaling",
                "size": size,
                "scale": args.scale,
                **measured,
                "tiles_per_s": measured["tiles"] / measured["seconds"],
                "s_per_lr_megapixel": measured["seconds"] / (size * size / 1e6),
                "output_mib": target.stat().st_size / 2**20,
                "cpu": cpu_model(),
                "torch_threads": args.threads or "default",
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            scene.unlink()
            target.unlink()
    first, last = rows[0], rows[-1]
    summary = {
        "benchmark": "inference_scaling_summary",
        "sizes": args.sizes,
        "rss_growth": last["peak_rss_mib"] / first["peak_rss_mib"] - 1,
        "rss_target": "< 0.20",
        "time_per_pixel_ratios": [
            r["s_per_lr_megapixel"] / first["s_per_lr_megapixel"] for r in rows
        ],
        "linearity_target": "within 0.85 .. 1.15",
        "cpu": cpu_model(),
    }
    print(json.dumps(summary), flush=True)
    append_results(RESULTS, [*rows, summary])


if __name__ == "__main__":
    main()
