"""Training throughput of each generator family, and the data pipeline's rate on its own.

Usage:
    python benchmarks/throughput.py [--families srresnet rcan rrdb lka swinir] [--lr-size 64]
        [--bands 4] [--batch 8] [--channels 32] [--blocks 4] [--steps 4] [--warmup 2]
        [--datasets degrade paired raster_chips] [--data-batches 30] [--skip-data]
        [--skip-training]

Training: for each generator family, a fresh Python process trains ``--steps`` adversarial
steps (generator + SRGAN discriminator, both updated every step) through ``ganlab`` (module +
the product's Trainer, as ``benchmarks/step_overhead.py`` does) on in-memory batches of
``--bands`` x ``--lr-size``^2 LR inputs at x4, and reports training samples/s (median step
after ``--warmup``) and the process's peak resident memory. The networks use ``--channels``
channels and ``--blocks`` blocks (the same for every family, so that the families compare at
equal width and depth; the registry's defaults, 64 x 16, take minutes per step on a small CPU)
and the device-aware defaults (``Training.precision``/``channels_last: auto``).

Data: the default recipe's training rate (``configs/quickstart.yaml``, generator-only and
adversarial steps, on in-memory batches) against the samples/s of each dataset's training
loader on its own, with the recipe's crop, batch size and loader settings:

* ``degrade``: the recipe's data (bundled Landsat-8 tiles, area x4);
* ``paired``: the same tiles with their LR written to disk beside them (``.npy`` pairs);
* ``raster_chips``: random windows of the bundled six-band Landsat-7 GeoTIFF (the
  ``eo_multispectral`` recipe's data and degradation: PSF blur, area x4, noise; needs rasterio).

``ratio`` is the loader's samples/s over the recipe's faster (generator-only) training rate;
the data must never be the bottleneck (target >= 5). One JSON line per measurement, also
appended to ``benchmarks/results/throughput.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, results_folder
from step_overhead import ganlab_step_times

from ganlab.config import load_config
from ganlab.config.schema import Config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = results_folder() / "throughput.jsonl"
FAMILIES = ("srresnet", "rcan", "rrdb", "lka", "swinir")
DATASETS = ("degrade", "paired", "raster_chips")
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def family_config(args: argparse.Namespace, family: str) -> Config:
    """The standard training setup for ``family`` (see the module docstring)."""
    scale = 4
    low, high = 7000, 9000
    return load_config(
        None,
        [
            f"Generator.model_type={family}",
            f"Generator.scaling_factor={scale}",
            f"Generator.n_channels={args.channels}",
            f"Generator.n_blocks={args.blocks}",
            f"Model.in_bands={args.bands}",
            f"Data.hr_patch_size={args.lr_size * scale}",
            f"Data.batch_size={args.batch}",
            "Data.normalization.type=percentile",
            f"Data.normalization.low={[low] * args.bands}",
            f"Data.normalization.high={[high] * args.bands}",
            "Discriminator.model_type=srgan",
            f"Discriminator.n_channels={args.channels}",
            "Training.g_pretrain_steps=0",
            "Training.d_update_interval=1",
            "Trainer.enable_progress_bar=false",
            f"Training.accelerator={'gpu' if torch.cuda.is_available() else 'cpu'}",
        ],
    )


def train_rate(config: Config, steps: int, warmup: int) -> float:
    """Median seconds per training step of ``config`` on in-memory batches."""
    return statistics.median(ganlab_step_times(config, steps, warmup))


def measure_family(args: argparse.Namespace) -> dict[str, Any]:
    """One family's training rate (run in its own process, so that peak memory is its own)."""
    config = family_config(args, args.family)
    seconds = train_rate(config, args.steps, args.warmup)
    return {
        "benchmark": "throughput_training",
        "family": args.family,
        "lr_size": args.lr_size,
        "bands": args.bands,
        "batch": args.batch,
        "channels": args.channels,
        "blocks": args.blocks,
        "s_per_step": round(seconds, 4),
        "samples_per_s": round(args.batch / seconds, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "precision": config.Training.lightning_precision,
        "channels_last": config.Training.use_channels_last,
        "torch": torch.__version__,
    }


def write_pairs(config: Config, folder: Path) -> tuple[Path, Path]:
    """The recipe's training tiles as ``.npy`` HR files with their area x4 LR beside them."""
    from ganlab.data.datamodule import SRDataModule

    datamodule = SRDataModule(config)
    datamodule.setup("fit")
    hr_dir, lr_dir = folder / "hr", folder / "lr"
    hr_dir.mkdir(parents=True)
    lr_dir.mkdir()
    scale = config.Generator.scaling_factor
    dataset = datamodule.train_set
    for index, ref in enumerate(dataset.entries):  # type: ignore[attr-defined]
        hr, _, _ = dataset._read(ref)  # type: ignore[attr-defined]
        hr = hr.numpy()
        hr = hr[:, : hr.shape[1] // scale * scale, : hr.shape[2] // scale * scale]
        channels, height, width = hr.shape
        lr = hr.reshape(channels, height // scale, scale, width // scale, scale).mean((2, 4))
        np.save(hr_dir / f"tile_{index:03d}.npy", hr.astype(np.float32))
        np.save(lr_dir / f"tile_{index:03d}.npy", lr.astype(np.float32))
    return lr_dir, hr_dir


def dataset_config(name: str, scratch: Path) -> Config:
    """The default recipe's crop, batch and loader settings on dataset ``name``."""
    base = load_config(QUICKSTART, [])
    if name == "degrade":
        return base
    crop = [f"Data.hr_patch_size={base.Data.hr_patch_size}", "Data.val_patch_size=null"]
    if name == "paired":
        lr_dir, hr_dir = write_pairs(base, scratch)
        return load_config(
            QUICKSTART,
            [
                "Data.dataset=paired",
                f"Data.train_dir={hr_dir}",
                f"Data.train_lr_dir={lr_dir}",
                f"Data.val_dir={hr_dir}",
                f"Data.val_lr_dir={lr_dir}",
                *crop,
            ],
        )
    recipe = str(ROOT / "configs" / "eo_multispectral.yaml")
    return load_config(
        recipe,
        [f"Data.batch_size={base.Data.batch_size}", *crop[:1], "Data.repeats=200"],
    )


def loader_rate(config: Config, batches: int) -> float:
    """Samples/s of the training loader of ``config`` (first batch left out: worker start)."""
    from ganlab.data.datamodule import SRDataModule

    datamodule = SRDataModule(config)
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    next(iterator)
    count, start = 0, time.perf_counter()
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        count += batch["hr"].shape[0]
    return count / (time.perf_counter() - start)


def measure_data(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The recipe's training rate and each dataset's loader rate."""
    device = [  # the recipe says cpu; on a GPU machine the training rate is the GPU's
        "Trainer.enable_progress_bar=false",
        f"Training.accelerator={'gpu' if torch.cuda.is_available() else 'cpu'}",
    ]
    recipe = load_config(QUICKSTART, device)
    pretrain = load_config(QUICKSTART, [*device, "Training.g_pretrain_steps=1000"])
    adversarial = load_config(QUICKSTART, [*device, "Training.g_pretrain_steps=0"])
    batch = recipe.Data.batch_size
    training = {
        "generator_only": batch / train_rate(pretrain, args.steps + 2, args.warmup),
        "adversarial": batch / train_rate(adversarial, args.steps + 2, args.warmup),
    }
    fastest = max(training.values())
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.datasets:
            config = dataset_config(name, Path(scratch) / name)
            rate = loader_rate(config, args.data_batches)
            rows.append(
                {
                    "benchmark": "throughput_data",
                    "dataset": name,
                    "samples_per_s": round(rate, 2),
                    "recipe_training_samples_per_s": {k: round(v, 3) for k, v in training.items()},
                    "ratio": round(rate / fastest, 2),
                    "num_workers": config.Data.num_workers,
                    "hr_patch_size": config.Data.hr_patch_size,
                    "batch": config.Data.batch_size,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--lr-size", type=int, default=64)
    parser.add_argument("--bands", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4, help="training steps per family")
    parser.add_argument("--warmup", type=int, default=2, help="steps left out (default 2)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data-batches", type=int, default=30)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-data", action="store_true")
    parser.add_argument("--family", help=argparse.SUPPRESS)  # the per-family child process
    args = parser.parse_args(argv)
    if args.family:
        row = measure_family(args)
        print(json.dumps(row), flush=True)
        return [row]
    rows: list[dict[str, Any]] = []
    if not args.skip_training:
        common = [
            *("--lr-size", str(args.lr_size), "--bands", str(args.bands)),
            *("--batch", str(args.batch), "--channels", str(args.channels)),
            *("--blocks", str(args.blocks), "--steps", str(args.steps)),
            *("--warmup", str(args.warmup)),
        ]
        for family in args.families:
            child = subprocess.run(
                [sys.executable, __file__, "--family", family, *common],
                capture_output=True,
                text=True,
            )
            lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
            if child.returncode or not lines:
                raise SystemExit(f"{family}: the training run failed:\n{child.stderr[-3000:]}")
            rows.append(json.loads(lines[-1]))
            print(lines[-1], flush=True)
    if not args.skip_data:
        for row in measure_data(args):
            rows.append(row)
            print(json.dumps(row), flush=True)
    append_results(RESULTS, rows)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
