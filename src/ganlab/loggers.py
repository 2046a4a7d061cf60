"""``Logging.logger`` -> Lightning loggers writing under ``<run dir>/logs``."""

from __future__ import annotations

import csv
import importlib
import os
import secrets
from pathlib import Path
from typing import Any

import torch
import yaml

from ganlab._lightning import (
    CSVLogger,
    Logger,
    TensorBoardLogger,
    WandbLogger,
    rank_zero_experiment,
    rank_zero_only,
)
from ganlab.config.schema import Config
from ganlab.errors import ConfigError
from ganlab.files import atomic_write


class RunCSVWriter:
    """Writes ``metrics.csv`` and ``hparams.yaml`` into ``log_dir``.

    Rows are buffered until :meth:`save`, then appended; an existing ``metrics.csv`` is
    continued (a resumed run keeps its history), and when a row brings a new column the file is
    rewritten once with the widened header. The same on every Lightning line (pytorch-lightning
    1.x rewrote the whole file from memory, dropping the rows of an earlier run).

    Args:
        log_dir: Folder of the two files (created if missing).
    """

    METRICS_FILE = "metrics.csv"
    HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        self.metrics_file_path = os.path.join(log_dir, self.METRICS_FILE)
        self.metrics: list[dict[str, Any]] = []
        """Rows logged since the last :meth:`save`."""
        self.hparams: dict[str, Any] = {}
        self.metrics_keys: list[str] = []
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])

    def log_hparams(self, params: dict[str, Any]) -> None:
        """Record hyperparameters (written by :meth:`save`)."""
        self.hparams.update(params)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Buffer one row: the metric values (tensors as numbers) and its ``step``."""
        row = {
            name: value.item() if isinstance(value, torch.Tensor) else value
            for name, value in metrics.items()
        }
        row["step"] = len(self.metrics) if step is None else step
        self.metrics.append(row)

    def save(self) -> None:
        """Write ``hparams.yaml`` and append the buffered rows to ``metrics.csv``."""
        if self.hparams:
            with open(os.path.join(self.log_dir, self.HPARAMS_FILE), "w") as file:
                yaml.safe_dump(_plain(self.hparams), file, sort_keys=False)
        if not self.metrics:
            return
        new = sorted({name for row in self.metrics for name in row} - set(self.metrics_keys))
        exists = os.path.isfile(self.metrics_file_path)
        if new:
            self.metrics_keys = sorted([*self.metrics_keys, *new])
            if exists:
                self._rewrite_header()
        with open(self.metrics_file_path, "a" if exists else "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            if not exists:
                writer.writeheader()
            writer.writerows(self.metrics)
        self.metrics = []

    def _rewrite_header(self) -> None:
        with open(self.metrics_file_path, newline="") as file:
            rows = list(csv.DictReader(file))
        with open(self.metrics_file_path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(rows)


def _plain(value: Any) -> Any:
    """``value`` with mappings, sequences, numbers and strings kept, anything else as text."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class RunCSVLogger(CSVLogger):
    """``<run dir>/logs/csv/metrics.csv`` (and ``hparams.yaml``), continued on resume."""

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            self._experiment = RunCSVWriter(log_dir=self.log_dir)  # type: ignore[assignment]
        return self._experiment


def build_loggers(config: Config, run_dir: Path) -> list[Logger]:
    """The loggers named in ``Logging.logger``, writing under ``run_dir/logs``.

    Each receives the whole config as hyperparameters when training starts (CSV:
    ``hparams.yaml``, TensorBoard: hparams, W&B: the run config).
    """
    loggers: list[Logger] = []
    for name in config.Logging.logger_names:
        if name == "csv":
            loggers.append(RunCSVLogger(save_dir=str(run_dir), name="logs", version="csv"))
        elif name == "tensorboard":
            _require("tensorboard", "tensorboard", "Logging.logger: tensorboard")
            loggers.append(
                TensorBoardLogger(save_dir=str(run_dir), name="logs", version="tensorboard")
            )
        elif name == "wandb":
            loggers.append(_wandb_logger(config, run_dir))
    return loggers


def _require(module: str, extra: str, what: str) -> None:
    """Raise a ConfigError naming the extra to install when ``module`` is missing."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{what} needs the {module} package; pip install 'opensr-gan-lab[{extra}]'"
        ) from None


def _wandb_logger(config: Config, run_dir: Path) -> Logger:
    """A W&B logger writing under ``run_dir/logs/wandb`` (offline by default: no network)."""
    _require("wandb", "wandb", "Logging.logger: wandb")
    options = config.Logging.wandb
    folder = run_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        save_dir=str(folder),
        project=options.project,
        entity=options.entity,
        name=options.name or run_dir.name,
        tags=options.tags,
        offline=options.mode == "offline",
        mode=options.mode,
        id=wandb_run_id(folder),
        resume="allow",
    )


WANDB_ID_FILE = "wandb-run-id"
"""File in ``<run dir>/logs`` holding the run's W&B id, so a resumed run continues it."""


def wandb_run_id(folder: Path) -> str:
    """The W&B run id of the run whose logs are in ``folder``: the stored one when the run is
    resumed, else a new one (stored)."""
    path = folder / WANDB_ID_FILE
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    run_id = secrets.token_hex(4)
    if getattr(rank_zero_only, "rank", 0) != 0:
        return run_id  # only the first process opens the W&B run (and stores its id)
    atomic_write(path, lambda partial: partial.write_text(run_id, encoding="ascii"), "W&B run id")
    return run_id
