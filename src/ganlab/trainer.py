"""Config -> Lightning ``Trainer``: loggers, callbacks, precision and the passthrough block.

Precedence: values in the ``Trainer:`` block are passed to Lightning as given; arguments the
product manages itself (callbacks, logger, default_root_dir, precision) are refused there by
the schema; ``gradient_clip_val``/``gradient_clip_algorithm`` (or ``Optimizers.gradient_clip_*``)
are applied by the module per network, and ``accumulate_grad_batches`` by the module in manual
mode (Lightning's manual optimisation rejects both).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from ganlab._lightning import pl
from ganlab.callbacks import EMASwap, ValidationPanels
from ganlab.config.load import dump_config
from ganlab.config.schema import Config
from ganlab.engine.module import resolve_manual_optimization
from ganlab.errors import ConfigError
from ganlab.strategies import strategy_kwargs

log = logging.getLogger(__name__)

MODULE_APPLIED_ARGUMENTS = ("gradient_clip_val", "gradient_clip_algorithm")
"""Trainer arguments the module applies itself (Lightning refuses them in manual mode)."""


LAST_CHECKPOINT = "last"
"""File stem of the newest checkpoint in ``<run dir>/checkpoints``."""


def default_run_dir(config_path: str | Path | None, root: str | Path = "runs") -> Path:
    """``runs/<config name>-<YYYYmmdd-HHMMSS>``."""
    stem = Path(config_path).stem if config_path else "run"
    return Path(root) / f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"


def build_loggers(config: Config, run_dir: Path) -> list[Logger]:
    """The loggers named in ``Logging.logger``, writing under ``run_dir/logs``."""
    loggers: list[Logger] = []
    for name in config.Logging.logger_names:
        if name == "csv":
            loggers.append(CSVLogger(save_dir=str(run_dir), name="logs", version="csv"))
        elif name == "tensorboard":
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "Logging.logger: tensorboard needs the tensorboard package; "
                    "pip install 'opensr-gan-lab[tensorboard]' or use csv"
                ) from None
            loggers.append(
                TensorBoardLogger(save_dir=str(run_dir), name="logs", version="tensorboard")
            )
    return loggers


def build_callbacks(config: Config, run_dir: Path) -> list[pl.Callback]:
    """Checkpointing (ranked, and ``last.ckpt``), the EMA swap and validation panels.

    ``last.ckpt`` comes from a second, unmonitored checkpoint callback that overwrites it at
    every save point: Lightning's own ``save_last`` only refreshes it when a ranked checkpoint
    is written, so it would fall behind the newest state whenever the metric stops improving.
    """
    ckpt = config.Callbacks.checkpoint
    folder = str(run_dir / "checkpoints")
    callbacks: list[pl.Callback] = [
        ModelCheckpoint(
            dirpath=folder,
            filename=ckpt.filename,
            monitor=ckpt.monitor,
            mode=ckpt.mode,
            save_top_k=ckpt.save_top_k,
            auto_insert_metric_name=False,
        )
    ]
    if ckpt.save_last:
        callbacks.append(
            ModelCheckpoint(
                dirpath=folder,
                filename=LAST_CHECKPOINT,
                monitor=None,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
    if config.Training.EMA.enabled:
        # before the panels, so they draw what the EMA generator produces
        callbacks.append(EMASwap())
    if config.Logging.num_val_images > 0:
        callbacks.append(
            ValidationPanels(
                run_dir / "panels", config.Logging.num_val_images, config.Logging.display_bands
            )
        )
    return callbacks


def trainer_kwargs(config: Config) -> dict[str, Any]:
    """The ``Trainer:`` block minus what the module applies itself.

    Gradient clipping is always applied by the module (per network, in both modes).
    Accumulation is passed to Lightning in joint mode and done by the module in manual mode.
    """
    kwargs = {k: v for k, v in config.Trainer.items() if k not in MODULE_APPLIED_ARGUMENTS}
    manual, _ = resolve_manual_optimization(config.Training.manual_optimization)
    if manual:
        kwargs.pop("accumulate_grad_batches", None)
    return kwargs


def build_trainer(config: Config, run_dir: Path, **extra: Any) -> pl.Trainer:
    """A Lightning ``Trainer`` for ``config`` writing into ``run_dir``.

    Args:
        config: The validated config.
        run_dir: Run folder (checkpoints, logs, panels).
        **extra: Trainer arguments that win over the config (used by tests and the CLI).
    """
    kwargs = {**strategy_kwargs(config), **trainer_kwargs(config), **extra}
    precision = config.Training.lightning_precision
    trainer = pl.Trainer(
        default_root_dir=str(run_dir),
        precision=precision,  # type: ignore[arg-type]
        logger=build_loggers(config, run_dir) or False,
        callbacks=build_callbacks(config, run_dir),
        **kwargs,
    )
    if precision == "16-mixed" and trainer.accelerator.__class__.__name__ == "CPUAccelerator":
        log.info(
            "Training.precision=16 on CPU: Lightning runs bfloat16 autocast instead of float16 "
            "(CPUs have no float16 gradient scaling)"
        )
    return trainer


def prepare_run_dir(config: Config, run_dir: Path) -> Path:
    """Create the run folder and write the effective config to ``config.yaml`` in it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    return run_dir
