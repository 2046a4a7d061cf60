"""Framework overhead: a ganlab training step against a bare PyTorch loop doing the same math.

Usage:
    python benchmarks/step_overhead.py [--config configs/quickstart.yaml] [--steps 12]
        [--warmup 3] [--runs 3] [--modes manual joint] [--set KEY=VALUE ...] [--threads N]

Both sides use the same networks (built from the config with the same seed), losses,
optimisers, learning-rate factors, gradient clipping and EMA, on the same in-memory batches
(random LR/HR in the data's units), in the adversarial phase from the first step (both
networks update every step):

* ganlab: ``SRGANModule`` + the product's ``Trainer`` (``ganlab.trainer.build_trainer``: the
  recipe's callbacks, CSV logging at its default interval), progress bar and validation off;
* bare: a hand-written loop: normalise, generator, discriminator loss and step, generator loss
  (discriminator frozen) and step, clipping per network, EMA follow. ``joint`` does one backward
  of the summed losses and one optimiser step, as the joint mode does.

Runs are interleaved (ganlab, bare, ganlab, ...) so that drifts of a busy machine hit both.
Each run's step time is the median of its steps after ``warmup``. One JSON line per mode with
``mode``, ``precision``, ``ganlab_median_s``, ``bare_median_s``, ``ratio`` (ganlab / bare,
target <= 1.05) and the per-run medians; also appended to
``benchmarks/results/step_overhead.jsonl``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_results, results_folder

from ganlab._lightning import Callback, pl
from ganlab.config import load_config
from ganlab.config.schema import Config
from ganlab.engine import SRGANModule
from ganlab.engine.stability import clip_gradients
from ganlab.engine.steps import frozen
from ganlab.trainer import build_trainer

RESULTS = results_folder() / "step_overhead.jsonl"
MODES = {
    "manual": "Training.manual_optimization=true",
    "joint": "Training.manual_optimization=false",
}


class Batches(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The same precomputed samples for both sides (no data loading cost on either)."""

    def __init__(self, samples: list[dict[str, torch.Tensor]]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.samples[index]


def make_batches(config: Config, count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` batches of random HR crops and their LR (area-averaged), in the data's units
    (the normaliser's offset + scale * U(0, 1))."""
    from ganlab.data.normalizers import build_normalizers

    data, scale = config.Data, config.Generator.scaling_factor
    _, hr_norm = build_normalizers(config)
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        unit = torch.rand(data.batch_size, config.Model.in_bands, data.hr_patch_size,
                          data.hr_patch_size, generator=generator)  # fmt: skip
        hr = hr_norm.denormalize(unit)
        lr = torch.nn.functional.avg_pool2d(hr, scale)
        batches.append({"lr": lr, "hr": hr})
    return batches


class StepTimes(Callback):
    """Wall time between the ends of consecutive training batches."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # GPU work is queued: time it done
        self.ends.append(time.perf_counter())


def run_ganlab(config: Config, batches: list[dict[str, torch.Tensor]], steps: int) -> list[float]:
    pl.seed_everything(config.Training.seed, workers=True)
    module = SRGANModule(config)
    times = StepTimes()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = build_trainer(
            config, Path(run_dir), max_steps=-1, max_epochs=1, limit_train_batches=steps,
            limit_val_batches=0, enable_progress_bar=False, enable_model_summary=False,
        )  # fmt: skip
        trainer.callbacks.append(times)  # type: ignore[attr-defined]
        loader = torch.utils.data.DataLoader(
            Batches(batches[:steps]), batch_size=None, shuffle=False
        )
        trainer.fit(module, train_dataloaders=loader)
    return [b - a for a, b in itertools.pairwise(times.ends)]


def ganlab_step_times(config: Config, steps: int, warmup: int) -> list[float]:
    """Step times of ``steps`` ganlab steps of ``config`` on in-memory batches, the first
    ``warmup`` steps left out (the timing the precision and throughput scripts report)."""
    return run_ganlab(config, make_batches(config, steps), steps)[max(0, warmup - 1) :]


def run_bare(config: Config, batches: list[dict[str, torch.Tensor]], steps: int) -> list[float]:
    """The same math as the module's step, written out as a plain loop."""
    pl.seed_everything(config.Training.seed, workers=True)
    module = SRGANModule(config)  # only for its parts: networks, losses, EMA, schedules
    on_gpu = config.Training.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    device = torch.device("cuda" if on_gpu else "cpu")  # where the Trainer puts the module
    module.to(device)
    generator, discriminator = module.generator.train(), module.discriminator.train()
    lr_norm, hr_norm = module.lr_normalizer, module.hr_normalizer
    optimizers = module.configure_optimizers()
    joint = len(optimizers) == 1
    value, algorithm = module.clip_value, module.clip_algorithm
    g_params = [p for p in generator.parameters() if p.requires_grad]
    d_params = [p for p in discriminator.parameters() if p.requires_grad]
    ends = []
    for step, batch in enumerate(batches[:steps]):
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * module.schedules.factor(group["name"], step)
        lr = lr_norm.normalize(batch["lr"].to(device, non_blocking=True))
        hr = hr_norm.normalize(batch["hr"].to(device, non_blocking=True))
        sr = generator(lr)
        update = module.adversarial.discriminator_update(step)
        d_loss, _ = module.gan_objective.discriminator_step_loss(discriminator, hr, sr, update)
        content, _ = module.content_loss(sr, hr)
        ramp = module.adversarial.ramp(step)
        if joint:
            with frozen(discriminator):
                g_adv, matching = module.gan_objective.generator_terms(discriminator, hr, sr)
        else:
            (opt_g, opt_d) = optimizers
            opt_d.zero_grad()
            d_loss.backward()
            clip_gradients(d_params, value, algorithm)
            opt_d.step()
            with frozen(discriminator):
                g_adv, matching = module.gan_objective.generator_terms(discriminator, hr, sr)
        g_loss = content + ramp * module.adversarial.beta * g_adv
        if matching is not None:
            g_loss = g_loss + ramp * module.gan_objective.feature_matching_weight * matching
        if joint:
            (optimizer,) = optimizers
            optimizer.zero_grad()
            (d_loss + g_loss).backward()
            clip_gradients(g_params, value, algorithm)
            clip_gradients(d_params, value, algorithm)
            optimizer.step()
        else:
            opt_g.zero_grad()
            g_loss.backward()
            clip_gradients(g_params, value, algorithm)
            opt_g.step()
        if module.ema is not None:
            module.ema.follow(generator, step)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        ends.append(time.perf_counter())
    return [b - a for a, b in itertools.pairwise(ends)]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--steps", type=int, default=12, help="steps per run (default 12)")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out (default 3)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs (default 3)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for mode in args.modes:
        overrides = [
            "Training.g_pretrain_steps=0",  # adversarial from the first step: D and G update
            "Training.adv_loss_ramp_steps=0",
            "Training.d_update_interval=1",
            "Trainer.enable_progress_bar=false",
            "Training.precision=32",  # as the bare loop, which has no autocast
            MODES[mode],
            *args.set,
        ]
        config = load_config(args.config, overrides)
        batches = make_batches(config, args.steps)
        medians: dict[str, list[float]] = {"ganlab": [], "bare": []}
        for _ in range(args.runs):
            for side, function in (("ganlab", run_ganlab), ("bare", run_bare)):
                times = function(config, batches, args.steps)[max(0, args.warmup - 1) :]
                medians[side].append(statistics.median(times))
        ganlab, bare = statistics.median(medians["ganlab"]), statistics.median(medians["bare"])
        row = {
            "benchmark": "step_overhead",
            "mode": mode,
            "precision": config.Training.lightning_precision,
            "channels_last": config.Training.use_channels_last,
            "config": args.config,
            "steps": args.steps,
            "runs": args.runs,
            "ganlab_median_s": ganlab,
            "bare_median_s": bare,
            "ratio": ganlab / bare,
            "ganlab_run_medians_s": medians["ganlab"],
            "bare_run_medians_s": medians["bare"],
            "torch": torch.__version__,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    append_results(RESULTS, rows)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
