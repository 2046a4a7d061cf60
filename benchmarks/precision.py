"""Training step time of each precision and memory format on the current device.

Usage:
    python benchmarks/precision.py [--config configs/quickstart.yaml] [--steps 8] [--warmup 2]
        [--precisions 32 bf16-mixed] [--set KEY=VALUE ...] [--threads N]

Runs the recipe's adversarial step (both networks update every step) through ``ganlab`` (the
product's module and Trainer, as ``benchmarks/step_overhead.py`` does) for every combination of
``Training.precision`` and ``Training.channels_last``, on the same in-memory batches, and prints
one JSON line per combination (median seconds per step after ``warmup`` and the speed relative
to float32 in the standard format), then a summary line with the device, the CPU flags that
decide bf16 speed (``avx512_bf16``, ``amx_bf16``) and the fastest combination. This is the table
that justifies a device-aware default: on a CPU without native bf16 support, bf16 autocast is a
slow path; with it (or on a CUDA GPU with bf16), bf16-mixed is faster.
Lines are also appended to ``benchmarks/results/precision.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, cpu_model, results_folder
from step_overhead import ganlab_step_times

from ganlab.config import load_config
from ganlab.devices import cpu_flags

RESULTS = results_folder() / "precision.jsonl"
BF16_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description() -> dict[str, Any]:
    """CPU model and the flags that decide whether bf16 has native kernels."""
    flags = cpu_flags()
    return {"cpu": cpu_model(), "bf16_flags": sorted(flag for flag in BF16_FLAGS if flag in flags)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=8, help="steps per combination")
    parser.add_argument("--warmup", type=int, default=2, help="steps left out (default 2)")
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16-mixed"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    rows: list[dict[str, Any]] = []
    for precision in args.precisions:
        for channels_last in (False, True):
            overrides = [
                "Training.g_pretrain_steps=0",
                "Training.adv_loss_ramp_steps=0",
                "Training.d_update_interval=1",
                "Trainer.enable_progress_bar=false",
                f"Training.accelerator={accelerator}",
                f"Training.precision={precision}",
                f"Training.channels_last={str(channels_last).lower()}",
                *args.set,
            ]
            config = load_config(args.config, overrides)
            times = ganlab_step_times(config, args.steps, args.warmup)
            rows.append(
                {
                    "benchmark": "precision",
                    "precision": precision,
                    "channels_last": channels_last,
                    "median_s": statistics.median(times),
                    "steps_timed": len(times),
                    "device": accelerator,
                }
            )
    baseline = next(
        (
            r["median_s"]
            for r in rows
            if r["precision"] in ("32", "32-true") and not r["channels_last"]
        ),
        rows[0]["median_s"],
    )
    for row in rows:
        row["speed_vs_fp32"] = baseline / row["median_s"]
        print(json.dumps(row), flush=True)
    fastest = min(rows, key=lambda r: r["median_s"])
    summary = {
        "benchmark": "precision_summary",
        "fastest": {"precision": fastest["precision"], "channels_last": fastest["channels_last"]},
        "device": accelerator,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "cuda_bf16": torch.cuda.is_bf16_supported() if torch.cuda.is_available() else None,
        **cpu_description(),
        "torch": torch.__version__,
        "config": args.config,
    }
    print(json.dumps(summary), flush=True)
    append_results(RESULTS, [*rows, summary])
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
