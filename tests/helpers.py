"""Helpers shared by the test modules (and by ``tests/distributed_run.py``).

* :data:`TINY_OVERRIDES` and :func:`tiny_config`: a config with tiny networks on the bundled
  Landsat-8 sample (``conftest.py`` hands it to the tests as the ``make_config`` fixture);
* :data:`MODES`: the override that forces each optimisation mode;
* :func:`fit` and :func:`one_epoch`: a seeded training run through the product's own trainer;
* :class:`NaNContentLoss`: a callback that makes the content loss non-finite at chosen steps;
* :class:`RecordingSink`: an alert sink that keeps every event it is sent;
* :func:`wait_for_file`: wait until a subprocess writes a marker file.
"""

from __future__ import annotations

import copy
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import torch

from ganlab._lightning import Callback, pl
from ganlab.callbacks.alerts import AlertSink
from ganlab.config import Config, load_config
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.trainer import build_trainer

TINY_OVERRIDES = [
    "Data.train_dir=sample://landsat8/train",
    "Data.val_dir=sample://landsat8/val",
    "Data.hr_patch_size=32",
    "Data.val_patch_size=64",
    "Data.batch_size=2",
    "Data.normalization.type=percentile",
    "Data.normalization.low=[7460, 6720, 6033]",
    "Data.normalization.high=[8770, 8528, 8888]",
    "Generator.n_channels=8",
    "Generator.n_blocks=1",
    "Discriminator.n_channels=8",
    "Discriminator.n_blocks=2",
    "Discriminator.fc_size=16",
    "Logging.num_val_images=1",
    "Trainer.accelerator=cpu",
    "Training.precision=32",  # the default (auto) is bf16-mixed on CPUs with native bf16
    "Trainer.devices=1",
    "Trainer.enable_progress_bar=false",
    "Trainer.enable_model_summary=false",
    "Trainer.num_sanity_val_steps=0",
    "Trainer.log_every_n_steps=1",
]
"""Overrides for tiny networks on the bundled Landsat-8 sample (3 bands, x4, 10 training
images: 5 batches of 2 per epoch), one CPU device in float32 (the figures the tests compare
are float32's on every CPU), no progress bar or sanity check."""

MODES = {
    "manual": "Training.manual_optimization=true",
    "joint": "Training.manual_optimization=false",
}
"""The override that forces each optimisation mode, by name (``manual``: alternating, two
optimisers; ``joint``: one optimiser with a parameter group per network)."""


def tiny_config(*overrides: str) -> Config:
    """A config with tiny networks on the bundled Landsat-8 sample, plus ``overrides``."""
    return load_config(None, [*TINY_OVERRIDES, *overrides])


def one_epoch(batches: int) -> dict[str, int]:
    """Trainer arguments for one epoch of ``batches`` training batches and no validation."""
    return {"max_epochs": 1, "limit_train_batches": batches, "limit_val_batches": 0}


def fit(
    config: Config,
    run_dir: Path,
    module: SRGANModule | None = None,
    callbacks: Iterable[Callback] = (),
    ckpt_path: Path | str | None = None,
    loggers: Iterable[Any] = (),
    **trainer_kwargs: Any,
) -> tuple[SRGANModule, pl.Trainer]:
    """Train ``module`` (default: a new one from ``config``) as ``ganlab train`` does.

    Seeds with ``Training.seed`` first (also on a resume, as ``ganlab train`` does), then
    builds the module when none is given, the product's trainer and a fresh ``SRDataModule``.

    Args:
        config: The validated config.
        run_dir: Run folder (checkpoints, logs, panels).
        module: The module to train; built from ``config`` after seeding when ``None``.
        callbacks: Added after the callbacks the config asks for.
        ckpt_path: Checkpoint to resume from.
        loggers: Lightning loggers added to the ones the config asks for.
        **trainer_kwargs: ``Trainer`` arguments that win over the config (see
            :func:`ganlab.trainer.build_trainer`), e.g. ``**one_epoch(3)``.

    Returns:
        The trained module and its trainer.
    """
    pl.seed_everything(config.Training.seed, workers=True)
    if module is None:
        module = SRGANModule(config)
    trainer = build_trainer(config, run_dir, **trainer_kwargs)
    trainer.callbacks.extend(callbacks)
    if loggers:
        trainer.loggers = [*trainer.loggers, *loggers]
    trainer.fit(
        module,
        datamodule=SRDataModule(config),
        ckpt_path=str(ckpt_path) if ckpt_path is not None else None,
    )
    return module, trainer


class NaNContentLoss(Callback):
    """Makes the content loss NaN at the chosen steps and records whether each batch changed
    the generator.

    Args:
        steps: The module's own step counts (``step_count``) to poison; ``None``: every step.
        rank: Poison on this global rank only; ``None``: on every rank.

    Attributes:
        changed: One entry per training batch: whether any generator weight or buffer changed.
    """

    def __init__(self, steps: set[int] | None, rank: int | None = None) -> None:
        self.steps = steps
        self.rank = rank
        self.changed: list[bool] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self.before = copy.deepcopy(pl_module.generator.state_dict())
        loss = pl_module.content_loss
        original = type(loss).forward  # the class's: patches of earlier batches do not stack
        poisoned = (self.rank is None or trainer.global_rank == self.rank) and (
            self.steps is None or pl_module.step_count in self.steps
        )

        def forward(this: Any, sr: torch.Tensor, hr: torch.Tensor) -> Any:
            total, terms = original(this, sr, hr)
            return (total * float("nan"), terms) if poisoned else (total, terms)

        loss.forward = forward.__get__(loss)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        after = pl_module.generator.state_dict()
        self.changed.append(any(not torch.equal(v, after[k]) for k, v in self.before.items()))


class RecordingSink(AlertSink):
    """An alert sink that keeps every event it is sent, in order.

    Args:
        block: When given, each ``send`` waits for this event first (a sink that hangs).
    """

    name = "recording"

    def __init__(self, block: threading.Event | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.block = block

    def send(self, event: dict[str, Any]) -> None:
        if self.block is not None:
            self.block.wait()
        self.events.append(event)


def wait_for_file(process: subprocess.Popen[str], path: Path, what: str) -> None:
    """Wait until ``process`` creates ``path`` (a marker it writes at a chosen point); fail with
    its stderr when it ends first or takes more than 300 s (a bound for a broken run only, not
    a speed check)."""
    deadline = time.monotonic() + 300
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"{what} (exit {process.returncode}):\n{err}")
        time.sleep(0.05)
