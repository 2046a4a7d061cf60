"""Fixtures of the report tests: one real tiny run, and its report, shared by every module."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlab.report import Report, write_report
from ganlab.trainer import prepare_run_dir
from tests.helpers import fit, tiny_config


@pytest.fixture(scope="package")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from 6 real steps: 3 of pretraining, 3 adversarial, validation every 2,
    learning rates and gradient norms logged."""
    config = tiny_config(
        "Training.max_steps=6",
        "Training.g_pretrain_steps=3",
        "Trainer.limit_val_batches=2",
        "Trainer.val_check_interval=2",
        "Callbacks.lr_monitor=true",
        "Callbacks.gradient_norms.enabled=true",
        "Callbacks.gradient_norms.every_n_steps=1",
    )
    folder = tmp_path_factory.mktemp("run") / "tiny-run"
    prepare_run_dir(config, folder)
    fit(config, folder)
    return folder


@pytest.fixture(scope="package")
def report(run_dir: Path) -> Report:
    """The report on :func:`run_dir`, written into its ``report`` folder."""
    return write_report(run_dir)
