"""Quality at a fixed budget: train a recipe, then validate SR against bicubic, in both modes.

Usage:
    python benchmarks/quality.py [--config configs/quickstart.yaml] [--steps N]
        [--modes manual joint] [--lr-consistency none hard soft] [--set KEY=VALUE ...]
        [--keep DIR]
    python benchmarks/quality.py --recipes [configs/*.yaml ...] [--modes ...]

Each run trains the recipe from scratch with its seed (``Training.seed``) through ``ganlab``
(``SRDataModule`` + ``SRGANModule`` + the product's Trainer, as ``ganlab train`` does), then
validates the final weights (the EMA generator where the recipe keeps one) on the recipe's
validation set. One JSON line per run with:

* ``psnr``/``ssim``/``sam`` of SR and of the bicubic upsample (``*_bicubic``; SAM only for
  more than one band), ``psnr_gain`` and ``ssim_gain`` (SR minus bicubic),
  ``beats_bicubic`` (both gains positive; null, like the gains, when the SR bands differ from
  the LR bands and there is no bicubic baseline);
* ``steps`` (generator steps), ``pretrain_steps``, ``train_s`` (wall time of training,
  validations included) and ``s_per_step``;
* the fidelity figures (docs/losses.md, "Faithful SR"): ``consistency_psnr`` and
  ``consistency_sam`` (the degraded SR against the LR input), ``synthesis``, and the
  ``improvement``/``omission``/``hallucination`` fractions;
* ``mode`` (``manual``: alternating updates; ``joint``: one optimiser), ``lr_consistency``,
  ``precision`` and ``channels_last`` as resolved for this machine, the CPU model and torch
  version.

``--lr-consistency none hard`` runs each setting of ``Generator.lr_consistency`` in turn (the
same seed, so the same initial weights and batches): the layer's effect at the same budget.

``--steps N`` shortens (or lengthens) the run to N generator steps and keeps the recipe's
share of generator-only pretraining, its adversarial ramp and its schedules' warm-up and step
sizes in proportion; the schedules' lengths follow ``Training.max_steps``. Without it the
recipe runs for its documented budget.
``--recipes`` runs every shipped recipe (or those named) for its budget. Lines are also
appended to ``benchmarks/results/quality.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, cpu_model, results_folder
from step_overhead import MODES

from ganlab._lightning import pl, run_fit
from ganlab.config import load_config
from ganlab.config.schema import Config
from ganlab.data.datamodule import SRDataModule
from ganlab.devices import cpu_flags
from ganlab.engine import SRGANModule
from ganlab.metrics import FIDELITY_FIGURES
from ganlab.trainer import build_trainer, prepare_run_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = results_folder() / "quality.jsonl"


def budget(config: Config, path: str) -> int:
    """The recipe's length in generator steps: ``Training.max_steps``, else
    ``Trainer.max_epochs`` x batches per epoch."""
    if config.Training.max_steps is not None:
        return config.Training.max_steps
    datamodule = SRDataModule(config)
    datamodule.setup("fit")
    epochs = dict(config.Trainer).get("max_epochs")
    if not epochs or epochs < 1:
        raise SystemExit(f"{path}: no Training.max_steps or Trainer.max_epochs to follow")
    return int(epochs) * len(datamodule.train_dataloader())


def length_overrides(config: Config, path: str, steps: int) -> list[str]:
    """Overrides that run ``config`` for ``steps`` generator steps with its phases in proportion."""
    total = budget(config, path)
    training = config.Training
    share = steps / total
    overrides = [
        f"Training.max_steps={steps}",
        f"Training.g_pretrain_steps={round(training.g_pretrain_steps * share)}",
        f"Training.adv_loss_ramp_steps={round(training.adv_loss_ramp_steps * share)}",
        "Trainer.max_epochs=-1",  # the module ends the run at Training.max_steps
        "Trainer.max_steps=-1",
    ]
    for name, schedule in config.Schedulers.model_dump().items():
        if not isinstance(schedule, dict):
            continue
        if schedule.get("total_steps"):  # null: follows Training.max_steps on its own clock
            overrides.append(f"Schedulers.{name}.total_steps=null")
        for key in ("warmup_steps", "step_size"):
            if schedule.get(key):
                overrides.append(f"Schedulers.{name}.{key}={max(1, round(schedule[key] * share))}")
    return overrides


def gains(metrics: dict[str, float]) -> dict[str, Any]:
    """SR and bicubic figures of a validation, with the gains."""
    row: dict[str, Any] = {}
    for name in ("psnr", "ssim", "sam"):
        for suffix in ("", "_bicubic"):
            key = f"val/{name}{suffix}"
            if key in metrics:
                row[f"{name}{suffix}"] = round(float(metrics[key]), 5)
    if "psnr_bicubic" not in row:  # SR bands differ from the LR bands: no bicubic baseline
        row.update(psnr_gain=None, ssim_gain=None, beats_bicubic=None)
        return row
    row["psnr_gain"] = round(row["psnr"] - row["psnr_bicubic"], 4)
    row["ssim_gain"] = round(row["ssim"] - row["ssim_bicubic"], 5)
    row["beats_bicubic"] = row["psnr_gain"] > 0 and row["ssim_gain"] > 0
    return row


def fidelity(metrics: dict[str, float]) -> dict[str, Any]:
    """The fidelity figures of a validation (those it has)."""
    return {
        name: round(float(metrics[f"val/{name}"]), 5)
        for name in FIDELITY_FIGURES
        if f"val/{name}" in metrics
    }


def run(config: Config, run_dir: Path) -> tuple[dict[str, float], float, int]:
    """Train ``config`` into ``run_dir``; ``(validation metrics, train seconds, steps)``."""
    datamodule = SRDataModule(config)
    pl.seed_everything(config.Training.seed, workers=True)
    module = SRGANModule(config)
    trainer = build_trainer(config, run_dir, enable_progress_bar=False)
    prepare_run_dir(config, run_dir)
    start = time.perf_counter()
    run_fit(trainer, module, datamodule=datamodule)
    seconds = time.perf_counter() - start
    (metrics,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return metrics, seconds, module.step_count


def measure(path: str, mode: str, steps: int | None, sets: list[str], keep: Path | None) -> dict:
    """One training run of the recipe at ``path`` in ``mode``; its JSON row."""
    overrides = [MODES[mode], "Trainer.enable_progress_bar=false", *sets]
    config = load_config(path, overrides)
    if steps is not None:
        lengths = length_overrides(config, path, steps)
        config = load_config(path, [*overrides[:1], *lengths, *overrides[1:]])
    with tempfile.TemporaryDirectory() as scratch:
        name = f"{Path(path).stem}-{mode}-{config.Generator.lr_consistency}"
        run_dir = (keep / name) if keep else Path(scratch)
        metrics, seconds, done = run(config, run_dir)
    training = config.Training
    return {
        "benchmark": "quality",
        "config": path,
        "mode": mode,
        "steps": done,
        "pretrain_steps": training.g_pretrain_steps,
        "lr_consistency": config.Generator.lr_consistency,
        **gains(metrics),
        **fidelity(metrics),
        "train_s": round(seconds, 1),
        "s_per_step": round(seconds / max(done, 1), 4),
        "precision": training.lightning_precision,
        "channels_last": training.use_channels_last,
        "cpu": cpu_model(),
        "avx512_bf16": "avx512_bf16" in cpu_flags(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (recipe's)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument(
        "--recipes", nargs="*", default=None, help="run these recipes (all shipped: no names)"
    )
    parser.add_argument(
        "--lr-consistency",
        nargs="+",
        default=None,
        choices=["none", "hard", "soft"],
        help="run each Generator.lr_consistency setting (default: the recipe's)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs under DIR")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.recipes is None:
        paths = [args.config]
    else:
        paths = args.recipes or [str(p) for p in sorted((ROOT / "configs").glob("*.yaml"))]
    settings = [[f"Generator.lr_consistency={c}"] for c in args.lr_consistency or []] or [[]]
    rows = []
    for path in paths:
        for mode in args.modes:
            for setting in settings:
                row = measure(path, mode, args.steps, [*setting, *args.set], args.keep)
                rows.append(row)
                print(json.dumps(row), flush=True)
                append_results(RESULTS, [row])  # each run as it ends (a long --recipes run)
    compared = [row for row in rows if row["beats_bicubic"] is not None]
    if len(rows) > 1 and compared:
        summary = {
            "benchmark": "quality_summary",
            "all_beat_bicubic": all(row["beats_bicubic"] for row in compared),
            "worst_psnr_gain": min(row["psnr_gain"] for row in compared),
            "worst_ssim_gain": min(row["ssim_gain"] for row in compared),
            "runs": len(rows),
        }
        print(json.dumps(summary), flush=True)
    if any(not math.isfinite(row["psnr"]) for row in rows):
        raise SystemExit("a run ended with a non-finite PSNR")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
