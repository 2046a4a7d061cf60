"""Config -> Lightning ``Trainer``: loggers, callbacks, strategy, precision and passthrough.

Precedence: arguments in the ``Trainer:`` block are passed to Lightning as given. Those the
product manages (callbacks, logger, default_root_dir, plugins) are refused there by the schema.
Those that also have a key of their own (precision, accelerator, devices, num_nodes, strategy,
gradient_clip_val/algorithm; see ``OWNED_TRAINER_ARGUMENTS``) are moved to that key when the
key is not set, and ignored with a logged warning when it is set to something else: the key of
its own wins. Clipping is applied by the module per network, and ``accumulate_grad_batches`` by
the module in the alternating (manual) mode, since Lightning refuses both there.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ganlab._lightning import (
    MisconfigurationException,
    ModelCheckpoint,
    PrecisionPlugin,
    new_trainer,
    pl,
    rank_zero_info,
)
from ganlab.callbacks import EMASwap, ValidationPanels
from ganlab.callbacks.checkpoints import PeriodicCheckpoint
from ganlab.callbacks.extra import ExtraValidation, build_validation_hook
from ganlab.callbacks.histograms import Histograms
from ganlab.callbacks.interrupts import GracefulInterrupt
from ganlab.callbacks.learning_rates import LearningRateLogger
from ganlab.callbacks.monitoring import build_monitoring_callbacks
from ganlab.config.load import dump_config
from ganlab.config.schema import Config
from ganlab.config.training import TrainingConfig
from ganlab.distributed.strategy import strategy_kwargs
from ganlab.engine.checkpoint import ExportingCheckpointIO
from ganlab.engine.module import resolve_manual_optimization
from ganlab.errors import CheckpointError, ConfigError
from ganlab.files import atomic_write
from ganlab.loggers import build_loggers

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "last"
"""File stem of the newest checkpoint in ``<run dir>/checkpoints``."""


def default_run_dir(config_path: str | Path | None, root: str | Path = "runs") -> Path:
    """``runs/<config name>-<YYYYmmdd-HHMMSS>``."""
    stem = Path(config_path).stem if config_path else "run"
    return Path(root) / f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"


def build_callbacks(config: Config, run_dir: Path) -> list[pl.Callback]:
    """Every callback the config asks for: checkpointing (ranked, ``last.ckpt``, periodic, and
    on Ctrl-C/SIGTERM), EMA swap, learning rates, extra validation, panels, histograms and
    monitoring (gradient norms, early stopping, alerts).

    ``last.ckpt`` comes from a second, unmonitored checkpoint callback that overwrites it at
    every save point: Lightning's own ``save_last`` only refreshes it when a ranked checkpoint
    is written, so it would fall behind the newest state whenever the metric stops improving.
    """
    ckpt = config.Callbacks.checkpoint
    folder = run_dir / "checkpoints"
    callbacks: list[pl.Callback] = []
    if ckpt.save_top_k != 0:
        callbacks.append(
            ModelCheckpoint(
                dirpath=str(folder),
                filename=ckpt.filename,
                monitor=ckpt.monitor,
                mode=ckpt.mode,
                save_top_k=ckpt.save_top_k,
                auto_insert_metric_name=False,
            )
        )
    if ckpt.save_last:
        callbacks.append(
            ModelCheckpoint(
                dirpath=str(folder),
                filename=LAST_CHECKPOINT,
                monitor=None,
                save_top_k=1,
                enable_version_counter=False,
            )
        )
    if ckpt.every_n_steps:
        callbacks.append(PeriodicCheckpoint(folder, ckpt.every_n_steps, ckpt.keep_every_n_steps))
    # Ctrl-C / SIGTERM: finish the step, save last.ckpt, stop (before the other step hooks'
    # work of that step is lost)
    callbacks.append(GracefulInterrupt(folder / f"{LAST_CHECKPOINT}.ckpt"))
    if config.Training.EMA.enabled:
        # before the panels and extra validation, so they see what the EMA generator produces
        callbacks.append(EMASwap())
    if config.Callbacks.lr_monitor:
        callbacks.append(LearningRateLogger())
    hooks = [
        build_validation_hook(entry, index)
        for index, entry in enumerate(config.Callbacks.extra_validation)
    ]
    if hooks:
        callbacks.append(ExtraValidation(hooks))
    logging_config = config.Logging
    if logging_config.num_val_images > 0:
        callbacks.append(
            ValidationPanels(
                run_dir / "panels",
                logging_config.num_val_images,
                logging_config.display_bands,
                to_loggers=logging_config.log_images,
            )
        )
    if logging_config.histograms:
        callbacks.append(Histograms())
    callbacks.extend(build_monitoring_callbacks(config, run_dir))
    return callbacks


def trainer_kwargs(config: Config) -> dict[str, Any]:
    """The ``Trainer:`` block as passed to Lightning.

    Accumulation is passed to Lightning in the joint mode and done by the module in the
    alternating mode (clipping arguments never reach this block: the schema moves them to
    ``Optimizers``, and the module applies them per network). With ``Training.max_steps`` the
    module stops the run, and ``max_epochs`` defaults to unlimited.
    """
    kwargs = dict(config.Trainer)
    manual, _ = resolve_manual_optimization(config.Training.manual_optimization)
    if manual:
        kwargs.pop("accumulate_grad_batches", None)
    if config.Training.max_steps is not None and "max_epochs" not in kwargs:
        # the module ends the run at Training.max_steps; Lightning's default of 1000 epochs
        # must not end it first
        kwargs["max_epochs"] = -1
    return kwargs


def log_automatic_choices(training: TrainingConfig) -> None:
    """Say what ``Training.precision``/``channels_last: auto`` chose for this machine, and why."""
    precision, reason = training.precision_choice()
    if reason is not None:
        rank_zero_info(f"Training.precision auto: {precision}, because {reason}")
    chosen, reason = training.channels_last_choice()
    if reason is not None:
        rank_zero_info(f"Training.channels_last auto: {str(chosen).lower()}, because {reason}")


def build_trainer(config: Config, run_dir: Path, **extra: Any) -> pl.Trainer:
    """A Lightning ``Trainer`` for ``config`` writing into ``run_dir``.

    Args:
        config: The validated config.
        run_dir: Run folder (checkpoints, logs, panels).
        **extra: Trainer arguments that win over the config (used by tests and the CLI);
            ``plugins`` are added to the product's own, and a precision plugin among them
            replaces ``Training.precision``.
    """
    kwargs = {**strategy_kwargs(config), **trainer_kwargs(config), **extra}
    plugins = [
        ExportingCheckpointIO(config.Callbacks.checkpoint.export_generator),
        *kwargs.pop("plugins", []),
    ]
    precision = config.Training.lightning_precision
    log_automatic_choices(config.Training)
    if not any(isinstance(plugin, PrecisionPlugin) for plugin in plugins):
        # a precision plugin passed in (e.g. with a gradient scaler of its own) replaces it
        kwargs["precision"] = precision
    kwargs.update(
        default_root_dir=str(run_dir),
        logger=build_loggers(config, run_dir) or False,
        callbacks=build_callbacks(config, run_dir),
        plugins=plugins,
    )
    try:
        trainer = new_trainer(**kwargs)
    except MisconfigurationException as exc:
        training = config.Training
        raise ConfigError(
            "Lightning cannot set up this machine for Training.accelerator="
            f"{training.accelerator}, devices={training.devices}, strategy={training.strategy}, "
            "precision="
            f"{training.precision}: {exc} Check those keys (e.g. accelerator cpu or auto on a "
            "machine without a GPU)."
        ) from None
    if precision == "16-mixed" and trainer.accelerator.__class__.__name__ == "CPUAccelerator":
        log.info(
            "Training.precision=16 on CPU: Lightning runs bfloat16 autocast instead of float16 "
            "(CPUs have no float16 gradient scaling)"
        )
    return trainer


def prepare_run_dir(config: Config, run_dir: Path) -> list[str]:
    """Create the run folder and write the effective config to ``config.yaml`` in it.

    A resumed run whose config differs from the folder's ``config.yaml`` keeps the earlier one
    as ``config.<n>.yaml`` (1 for the first earlier start, then 2, ...).

    Returns:
        What changed against the earlier ``config.yaml``, one ``key: old -> new`` line per
        value (empty for a new folder or an unchanged config).
    """
    text = dump_config(config)
    path = run_dir / "config.yaml"
    changes: list[str] = []
    if path.is_file():
        earlier = path.read_text(encoding="utf-8")
        if earlier != text:
            index = 1
            while (run_dir / f"config.{index}.yaml").exists():
                index += 1
            kept = run_dir / f"config.{index}.yaml"
            atomic_write(kept, lambda partial: partial.write_text(earlier, encoding="utf-8"))
            changes = [f"(earlier config kept as {kept.name})"]
            changes += config_changes(yaml.safe_load(earlier) or {}, config.model_dump(mode="json"))
    atomic_write(path, lambda partial: partial.write_text(text, encoding="utf-8"), "config")
    return changes


def config_changes(before: Any, after: Any, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every value that differs between two config mappings.

    Example:
        >>> config_changes({"Trainer": {"max_epochs": 1}}, {"Trainer": {"max_epochs": 2}})
        ['Trainer.max_epochs: 1 -> 2']
        >>> config_changes({"Model": {"continue_training": False}}, {"Model": {}})
        ['Model.continue_training: false -> (unset)']
    """
    if isinstance(before, dict) and isinstance(after, dict):
        lines: list[str] = []
        for key in [*before, *(k for k in after if k not in before)]:
            missing = "(unset)"
            lines += config_changes(
                before.get(key, missing), after.get(key, missing), f"{prefix}{key}."
            )
        return lines
    if before == after:
        return []
    return [f"{prefix.rstrip('.')}: {_yaml_text(before)} -> {_yaml_text(after)}"]


def _yaml_text(value: Any) -> str:
    """A value as it would be written in the config file (one line)."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=10**6)
    return text.strip().removesuffix("...").strip()


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written checkpoint of a run folder: ``checkpoints/*.ckpt`` and the
    ``hpc_ckpt_*.ckpt`` Lightning writes on SLURM's pre-timeout signal (None: there is none)."""
    candidates = [*run_dir.glob("checkpoints/*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    files = [path for path in candidates if path.is_file()]
    return max(files, key=lambda path: path.stat().st_mtime_ns) if files else None


def _newest_run_with_last(config_path: str | Path | None, root: Path) -> Path | None:
    """The most recently written run folder of this config that holds ``last.ckpt``."""
    stem = Path(config_path).stem if config_path else "run"
    candidates = [
        folder
        for folder in root.glob(f"{stem}-*")
        if (folder / "checkpoints" / f"{LAST_CHECKPOINT}.ckpt").is_file()
    ]
    if not candidates:
        return None
    return max(
        candidates, key=lambda f: (f / "checkpoints" / f"{LAST_CHECKPOINT}.ckpt").stat().st_mtime
    )


def resolve_run(
    config: Config,
    run_dir: str | Path | None,
    config_path: str | Path | None,
    root: str | Path = "runs",
) -> tuple[Path, Path | None]:
    """The run folder and the checkpoint to resume from (None: a fresh start).

    ``Model.continue_training``:

    * ``last``: ``<run dir>/checkpoints/last.ckpt`` of ``run_dir`` or, without one, of the
      newest ``<root>/<config name>-*`` folder that has it;
    * ``auto``: the newest checkpoint of ``run_dir`` (:func:`newest_checkpoint`), else a fresh
      start there (a job a scheduler requeues runs the same command each time);
    * a path: that checkpoint; the run folder is ``run_dir``, else the folder the checkpoint
      sits in (``<run>/checkpoints/X.ckpt``), else a new one;
    * false: a fresh run in ``run_dir`` or a new timestamped folder. A folder that already
      holds checkpoints is refused, so an earlier run is never overwritten by mistake.

    Raises:
        CheckpointError: Nothing to resume from, or a fresh start in a used run folder.
    """
    resume = config.Model.continue_training
    root = Path(root)
    if resume == "auto":
        if not run_dir:
            raise CheckpointError(
                "Model.continue_training: auto resumes the run folder given with --run-dir "
                "when it holds a checkpoint; give --run-dir"
            )
        return Path(run_dir), newest_checkpoint(Path(run_dir))
    if resume == "last":
        folder = Path(run_dir) if run_dir else _newest_run_with_last(config_path, root)
        if folder is None:
            raise CheckpointError(
                f"Model.continue_training is last but no run of this config under {root}/ "
                f"holds checkpoints/{LAST_CHECKPOINT}.ckpt; give --run-dir or a checkpoint path"
            )
        checkpoint = folder / "checkpoints" / f"{LAST_CHECKPOINT}.ckpt"
        if not checkpoint.is_file():
            raise CheckpointError(
                f"Model.continue_training is last but {checkpoint} does not exist; give the "
                "run folder that holds it (--run-dir) or a checkpoint path"
            )
        return folder, checkpoint
    if resume:
        checkpoint = Path(resume)
        if not checkpoint.is_file():
            raise CheckpointError(
                f"Model.continue_training: checkpoint {checkpoint} does not exist"
            )
        if run_dir:
            return Path(run_dir), checkpoint
        if checkpoint.parent.name == "checkpoints":
            return checkpoint.parent.parent, checkpoint
        return default_run_dir(config_path, root), checkpoint
    folder = Path(run_dir) if run_dir else default_run_dir(config_path, root)
    if any((folder / "checkpoints").glob("*.ckpt")):
        raise CheckpointError(
            f"run folder {folder} already holds checkpoints; resume it with "
            "Model.continue_training: last (--set Model.continue_training=last) or choose "
            "another --run-dir"
        )
    return folder, None
