"""Shared fixtures: tiny configs on the bundled sample data and small image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganlab.config import Config, load_config

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
    "Trainer.devices=1",
    "Trainer.enable_progress_bar=false",
    "Trainer.enable_model_summary=false",
    "Trainer.num_sanity_val_steps=0",
    "Trainer.log_every_n_steps=1",
]


def tiny_config(*overrides: str) -> Config:
    """A config with tiny networks on the bundled Landsat-8 sample, plus ``overrides``."""
    return load_config(None, [*TINY_OVERRIDES, *overrides])


@pytest.fixture
def make_config() -> Any:
    """Factory fixture for :func:`tiny_config`."""
    return tiny_config


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder with three 4-band uint16 .npy images of 64x64 pixels."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        array = rng.integers(0, 10000, size=(4, 64, 64), dtype=np.uint16)
        np.save(folder / f"img{index}.npy", array)
    return folder


@pytest.fixture(autouse=True)
def _no_inherited_run_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ganlab train`` hands its run folder to child processes through the environment; keep
    one test's folder from leaking into the next (restored after each test)."""
    monkeypatch.setenv("GANLAB_RUN_DIR", "")
