"""The one place that imports Lightning: ``pytorch_lightning``, 1.9.5 or 2.6 and newer.

Everything else imports ``pl`` and the classes it needs from here, written against the 2.x API;
this module hides what differs on the 1.x line:

* precision names (``16-mixed`` is ``16`` on 1.x; ``*-true`` precisions do not exist there);
* ``toggle_optimizer``/``untoggle_optimizer`` (1.x takes an optimiser index);
* ``on_before_optimizer_step`` of modules and callbacks (1.x passes an optimiser index too);
* ``on_validation_model_zero_grad`` (1.x zeroes the gradients without asking the module);
* renamed Trainer arguments (``use_distributed_sampler`` was ``replace_sampler_ddp``);
* classes that moved or are missing (precision plugins, ``ModelParallelStrategy``);
* ``ModelCheckpoint(enable_version_counter=False)`` (a 2.x argument).

The namespace is ``pytorch_lightning`` on both lines (the distribution exists for 1.9 and 2.x),
so classes of the unified ``lightning`` package are never mixed with these in one process.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from packaging.version import Version

try:
    import pytorch_lightning as pl
except ModuleNotFoundError as _error:  # pragma: no cover - depends on the environment
    if _error.name == "pkg_resources":
        raise ImportError(
            "pytorch-lightning 1.x needs pkg_resources, which setuptools 81 and newer no longer "
            'ship; run `pip install "setuptools<81"` (or upgrade to pytorch-lightning 2.6+)'
        ) from _error
    raise

from lightning_fabric.utilities.seed import pl_worker_init_function as seed_worker
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.callbacks import ModelCheckpoint as _ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.plugins.io import TorchCheckpointIO
from pytorch_lightning.strategies import (
    DDPStrategy,
    DeepSpeedStrategy,
    Strategy,
    StrategyRegistry,
)
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException

LIGHTNING_VERSION = Version(pl.__version__)
"""Installed Lightning version (``.post``/``rc`` suffixes compare as packaging defines)."""

IS_LIGHTNING_2 = LIGHTNING_VERSION.major >= 2
"""True on Lightning 2.x and newer."""

SUPPORTED = "pytorch-lightning 1.9.5 or >= 2.6"
"""The Lightning versions this package supports, as the install hint says it."""

if IS_LIGHTNING_2:
    from pytorch_lightning.plugins.precision import MixedPrecision
    from pytorch_lightning.plugins.precision import Precision as PrecisionPlugin
    from pytorch_lightning.strategies import ModelParallelStrategy
else:
    from pytorch_lightning.plugins.precision import (  # type: ignore[attr-defined,no-redef]
        MixedPrecisionPlugin,
        PrecisionPlugin,
    )

    class MixedPrecision(MixedPrecisionPlugin):  # type: ignore[no-redef]
        """1.x ``MixedPrecisionPlugin`` taking the 2.x precision names (``16-mixed``)."""

        def __init__(self, precision: str, device: str, scaler: Any = None) -> None:
            super().__init__(trainer_precision(precision), device, scaler)

    class ModelParallelStrategy(Strategy):  # type: ignore[no-redef]
        """Stand-in on 1.x, where Lightning has no ``ModelParallelStrategy`` (2.4+)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(
                f"ModelParallelStrategy (FSDP2) needs Lightning >= 2.4; installed: "
                f"pytorch-lightning {pl.__version__}"
            )


def _check_supported(version: Version) -> None:
    """Refuse the Lightning lines this package was not built and tested for."""
    if version.major < 2:
        supported = version.release[:2] == (1, 9) and version >= Version("1.9.5")
    else:
        supported = version >= Version("2.6")
    if not supported:
        raise ImportError(
            f"opensr-gan-lab supports {SUPPORTED}; found pytorch-lightning {version}. "
            'Install one of them, e.g. `pip install "pytorch-lightning==1.9.5" "setuptools<81"` '
            'or `pip install -U "pytorch-lightning>=2.6"`'
        )


_check_supported(LIGHTNING_VERSION)


# ------------------------------------------------------------------------------ versions

MIN_VERSIONS = {
    "fsdp": Version("2.6"),
    "true-precision": Version("2.6"),
}
"""Lowest supported Lightning version of the features missing on 1.9: ``Training.strategy:
fsdp`` (FSDP2 through ``ModelParallelStrategy``, new in 2.4) and the ``*-true`` precisions
(16-true, bf16-true, new in 2.0); the 2.x line is supported from 2.6."""


def missing_feature(feature: str) -> str | None:
    """The minimum Lightning version ``feature`` (a key of :data:`MIN_VERSIONS`) needs, or None
    when the installed Lightning has it."""
    needed = MIN_VERSIONS[feature]
    return None if needed <= LIGHTNING_VERSION else str(needed)


_PRECISIONS_1X: dict[str, int | str] = {
    "32-true": 32,
    "64-true": 64,
    "16-mixed": 16,
    "bf16-mixed": "bf16",
}


def trainer_precision(name: str) -> int | str:
    """The ``Trainer(precision=...)`` value of a 2.x precision name on the installed Lightning.

    Raises:
        ValueError: The precision does not exist on the installed Lightning (``*-true`` on 1.x).
    """
    if IS_LIGHTNING_2:
        return name
    if name not in _PRECISIONS_1X:
        raise ValueError(
            f"precision {name} needs Lightning >= {MIN_VERSIONS['true-precision']} "
            f"(installed: pytorch-lightning {LIGHTNING_VERSION}); use one of "
            f"{', '.join(_PRECISIONS_1X)}"
        )
    return _PRECISIONS_1X[name]


_RENAMED_TRAINER_ARGUMENTS = {"use_distributed_sampler": "replace_sampler_ddp"}
"""2.x ``Trainer`` argument -> its 1.x name."""


def trainer_argument_names() -> list[str]:
    """Names of the keyword arguments accepted by the installed ``Trainer`` (with the 2.x names
    of arguments that 1.x spells differently)."""
    params = inspect.signature(pl.Trainer.__init__).parameters
    names = [name for name in params if name != "self"]
    if not IS_LIGHTNING_2:
        names += [new for new, old in _RENAMED_TRAINER_ARGUMENTS.items() if old in names]
    return names


def trainer_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``Trainer`` keyword arguments written with 2.x names, as the installed Lightning takes
    them (``precision`` included)."""
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("precision"), str):
        kwargs["precision"] = trainer_precision(kwargs["precision"])
    if not IS_LIGHTNING_2:
        for new, old in _RENAMED_TRAINER_ARGUMENTS.items():
            if new in kwargs:
                kwargs[old] = kwargs.pop(new)
    return kwargs


def new_trainer(**kwargs: Any) -> pl.Trainer:
    """A ``Trainer`` from keyword arguments written with 2.x names (see
    :func:`trainer_arguments`)."""
    return pl.Trainer(**trainer_arguments(kwargs))


def run_fit(trainer: pl.Trainer, model: pl.LightningModule, **kwargs: Any) -> None:
    """``trainer.fit(model, **kwargs)`` (resuming with ``weights_only=True`` on 2.x), ending in
    ``KeyboardInterrupt`` when interrupted, on both lines (after Ctrl-C, 1.x returns as if
    training had finished and 2.x exits with ``sys.exit(1)``; Lightning has run the
    ``on_exception`` hooks either way)."""
    if IS_LIGHTNING_2 and kwargs.get("ckpt_path") is not None:
        kwargs.setdefault("weights_only", True)  # a checkpoint never runs code when resumed
    try:
        trainer.fit(model, **kwargs)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    if trainer.interrupted:
        raise KeyboardInterrupt


def is_model_parallel(strategy: Any) -> bool:
    """Whether ``strategy`` is Lightning's ``ModelParallelStrategy`` (never on 1.x)."""
    return isinstance(strategy, ModelParallelStrategy)


def is_last_batch(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether batch ``batch_idx`` is the epoch's last, also when ``limit_train_batches`` cuts
    the epoch (1.x's ``trainer.is_last_batch`` only turns true when the loader runs out)."""
    return bool(trainer.is_last_batch) or batch_idx + 1 >= trainer.num_training_batches


def logged_batches(trainer: pl.Trainer) -> int:
    """The step Lightning gives the loggers for this batch's training scalars: batches that
    stepped (``global_step`` counts each optimiser's steps)."""
    epoch_loop = trainer.fit_loop.epoch_loop
    return int(getattr(epoch_loop, "_batches_that_stepped", trainer.global_step))


# ------------------------------------------------------------------ hook signatures, 1.x


def _drop_optimizer_index(hook: Callable[..., Any], arguments: int) -> Callable[..., Any]:
    """``hook`` written for 2.x, callable with the optimiser index 1.x passes after its
    ``arguments`` positional arguments."""

    def adapted(self: Any, *args: Any) -> Any:
        return hook(self, *args[:arguments])

    adapted.__name__ = hook.__name__
    adapted.__doc__ = hook.__doc__
    adapted.__wrapped__ = hook  # type: ignore[attr-defined]
    return adapted


class Callback(pl.Callback):
    """Lightning's ``Callback`` with 2.x hook signatures on every line: on 1.x the optimiser
    index passed to ``on_before_optimizer_step`` is dropped."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hook = cls.__dict__.get("on_before_optimizer_step")
        if not IS_LIGHTNING_2 and hook is not None:
            cls.on_before_optimizer_step = _drop_optimizer_index(hook, 3)  # type: ignore[method-assign]


def complete_loop_state(trainer: Any, checkpoint: dict[str, Any]) -> None:
    """Call from ``on_save_checkpoint``. On 1.x, a checkpoint saved from ``on_train_batch_end``
    gets the batch and logger-step counts Lightning adds right after that hook, as 2.x adds
    them on restore; otherwise a resumed 1.x run repeats the batch index (shifting
    accumulation windows) and the logger step. Nothing to do on 2.x."""
    if IS_LIGHTNING_2:
        return
    fit = (checkpoint.get("loops") or {}).get("fit_loop")
    if fit is None or trainer is None or trainer.state.fn != "fit" or not trainer.training:
        return
    epoch_loop = trainer.fit_loop.epoch_loop
    current = epoch_loop.batch_progress.current
    if current.processed <= current.completed:  # not between a batch and its end
        return
    saved = fit["epoch_loop.batch_progress"]
    for part in ("total", "current"):
        saved[part]["completed"] = saved[part]["processed"]
    if not epoch_loop._should_accumulate():
        fit["epoch_loop.state_dict"]["_batches_that_stepped"] += 1


class LightningModule(pl.LightningModule):
    """Lightning's ``LightningModule`` with the 2.x API on every line.

    On 1.x: ``toggle_optimizer``/``untoggle_optimizer`` take the optimiser,
    ``on_before_optimizer_step`` gets no optimiser index, and the gradients zeroed when
    validation starts go through ``on_validation_model_zero_grad``, as on 2.x (see also
    :func:`complete_loop_state`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if IS_LIGHTNING_2:
            return
        hook = cls.__dict__.get("on_before_optimizer_step")
        if hook is not None:
            cls.on_before_optimizer_step = _drop_optimizer_index(hook, 1)  # type: ignore[method-assign]

    if not IS_LIGHTNING_2:

        def _optimizer_index(self, optimizer: Any) -> int:
            inner = getattr(optimizer, "optimizer", optimizer)  # a LightningOptimizer wraps it
            for index, candidate in enumerate(self.trainer.optimizers):
                if candidate is inner:
                    return index
            raise ValueError("the optimiser is not one of the trainer's")

        def toggle_optimizer(self, optimizer: Any) -> None:
            super().toggle_optimizer(optimizer, self._optimizer_index(optimizer))  # type: ignore[call-arg]

        def untoggle_optimizer(self, optimizer: Any) -> None:
            super().untoggle_optimizer(self._optimizer_index(optimizer))  # type: ignore[arg-type]

        def on_validation_model_zero_grad(self) -> None:
            """Zero the gradients before validation (what 1.x does without this hook)."""
            super().zero_grad()

        def zero_grad(self, set_to_none: bool = True) -> None:
            # pytorch-lightning 1.x calls this directly when validation starts; route that
            # call through the hook 2.x asks, so a module can keep an open accumulation window
            if self._trainer is not None and (
                self.trainer.validating or self.trainer.sanity_checking
            ):
                self.on_validation_model_zero_grad()
            else:
                super().zero_grad(set_to_none=set_to_none)


# --------------------------------------------------------------------------- checkpoints


if IS_LIGHTNING_2:
    ModelCheckpoint = _ModelCheckpoint
else:

    class ModelCheckpoint(_ModelCheckpoint):  # type: ignore[no-redef]
        """1.x ``ModelCheckpoint`` with 2.x's ``enable_version_counter`` argument."""

        def __init__(self, *args: Any, enable_version_counter: bool = True, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._enable_version_counter = enable_version_counter

        def _get_metric_interpolated_filepath_name(
            self, monitor_candidates: Any, trainer: Any, del_filepath: str | None = None
        ) -> str:
            if self._enable_version_counter:
                return super()._get_metric_interpolated_filepath_name(
                    monitor_candidates, trainer, del_filepath
                )
            return self.format_checkpoint_name(monitor_candidates)


__all__ = [
    "IS_LIGHTNING_2",
    "LIGHTNING_VERSION",
    "MIN_VERSIONS",
    "SUPPORTED",
    "CPUAccelerator",
    "CSVLogger",
    "Callback",
    "DDPStrategy",
    "DeepSpeedStrategy",
    "LightningModule",
    "Logger",
    "MisconfigurationException",
    "MixedPrecision",
    "ModelCheckpoint",
    "ModelParallelStrategy",
    "PrecisionPlugin",
    "Strategy",
    "StrategyRegistry",
    "TensorBoardLogger",
    "TorchCheckpointIO",
    "WandbLogger",
    "complete_loop_state",
    "is_last_batch",
    "is_model_parallel",
    "logged_batches",
    "missing_feature",
    "new_trainer",
    "pl",
    "rank_zero_experiment",
    "rank_zero_info",
    "rank_zero_only",
    "run_fit",
    "seed_worker",
    "trainer_argument_names",
    "trainer_arguments",
    "trainer_precision",
]
