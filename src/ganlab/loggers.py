"""``Logging.logger`` -> Lightning loggers writing under ``<run dir>/logs``."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from ganlab.config.schema import Config
from ganlab.errors import ConfigError


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued instead of
    deleted (a resumed run keeps its history)."""

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if path.is_file():
            with path.open(newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])


class RunCSVLogger(CSVLogger):
    """``<run dir>/logs/csv/metrics.csv`` (and ``hparams.yaml``), continued on resume."""

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
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
    from lightning.pytorch.loggers import WandbLogger

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
    )
