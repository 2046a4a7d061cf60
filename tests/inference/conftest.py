"""Tiny generator exports with random weights (not just the bicubic skip) for inference tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ganlab.config import load_config
from ganlab.export import generator_description, save_generator
from ganlab.models import build_generator

MakeExport = Callable[..., Path]


def make_export(path: Path, *overrides: str, seed: int = 0) -> Path:
    """A generator export (x4, 3 bands, 8 channels, one block unless ``overrides`` say
    otherwise) whose weights are randomised, so that its output differs from the skip."""
    config = load_config(None, ["Generator.n_channels=8", "Generator.n_blocks=1", *overrides])
    torch.manual_seed(seed)
    generator = build_generator(config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    description = generator_description(generator, config)
    return save_generator(path, generator.state_dict(), description, "ema", step=1)


@pytest.fixture
def export(tmp_path: Path) -> MakeExport:
    """``export(*overrides, name=...)``: write a tiny generator export under ``tmp_path``."""

    def make(*overrides: str, name: str = "tiny.generator-ema.safetensors") -> Path:
        return make_export(tmp_path / name, *overrides)

    return make
