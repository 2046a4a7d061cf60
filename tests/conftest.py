"""Shared fixtures: tiny configs on the bundled sample data (from :mod:`tests.helpers`) and
small image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import tiny_config


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
