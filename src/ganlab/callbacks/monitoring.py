"""Monitoring callbacks: alerts during training, early stopping that alerts, and the builder
that makes them (with the gradient-norm logger) from the config, wired to one dispatcher."""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from ganlab._lightning import pl
from ganlab.callbacks.alerts import (
    AlertDispatcher,
    AlertSink,
    CommandSink,
    LogSink,
    WebhookSink,
    training_position,
)
from ganlab.callbacks.gradients import GradientNormLogger
from ganlab.config.schema import AlertsConfig, Config
from ganlab.engine.hooks import GeneratorStepCallback

log = logging.getLogger(__name__)


class AlertingEarlyStopping(pl.callbacks.EarlyStopping):
    """Lightning's ``EarlyStopping`` that, when it stops training, logs why and sends an
    ``early_stop`` alert (metric, mode, best and last value, patience, min_delta).

    Args:
        monitor: Logged validation metric watched.
        mode: Whether a higher (``max``) or lower (``min``) value is better.
        patience: Validations without improvement before training stops.
        min_delta: Smallest change that counts as an improvement.
        dispatcher: Sends the ``early_stop`` alert; None: the reason is only logged.
    """

    def __init__(
        self,
        monitor: str = "val/psnr",
        mode: Literal["max", "min"] = "max",
        patience: int = 5,
        min_delta: float = 0.0,
        dispatcher: AlertDispatcher | None = None,
    ) -> None:
        super().__init__(monitor=monitor, mode=mode, patience=patience, min_delta=min_delta)
        self.dispatcher = dispatcher
        self.improvement_delta = abs(float(min_delta))  # Lightning stores it signed by mode

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stopping = trainer.should_stop
        super().on_validation_end(trainer, pl_module)
        self._report_stop(trainer, pl_module, stopping)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        stopping = trainer.should_stop
        super().on_train_epoch_end(trainer, pl_module)
        self._report_stop(trainer, pl_module, stopping)

    def _report_stop(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, was_stopping: bool
    ) -> None:
        """Log and alert when this callback has just asked the trainer to stop."""
        if was_stopping or not trainer.should_stop:
            return
        current = trainer.callback_metrics.get(self.monitor)
        last = None if current is None else float(current)
        best = float(self.best_score)
        if last is not None and not math.isfinite(last):
            message = f"early stopping: {self.monitor} is {last}, training stops"
        else:
            message = (
                f"early stopping: {self.monitor} did not improve by more than "
                f"{self.improvement_delta:g} ({self.mode}) for {self.wait_count} validations "
                f"(patience {self.patience}); best {best:.6g}, last "
                + ("unknown" if last is None else f"{last:.6g}")
            )
        if trainer.is_global_zero:
            log.info(message)
        if self.dispatcher is None:
            return
        step, epoch = training_position(trainer, pl_module)
        details: dict[str, Any] = {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": best,
            "last": last,
            "patience": self.patience,
            "min_delta": self.improvement_delta,
            "validations_without_improvement": self.wait_count,
        }
        self.dispatcher.alert("early_stop", message, step=step, epoch=epoch, details=details)


class Alerts(GeneratorStepCallback):
    """Raises alert events during training and flushes the dispatcher at its end.

    Events (each sent only when the dispatcher selects it):

    * ``nonfinite``: after a generator step, when ``pl_module.nonfinite_total`` grew (a step
      with NaN/Inf losses or gradients was skipped);
    * ``no_improvement``: after ``no_improvement_validations`` validations in a row without a
      better ``monitor`` value (the sanity check does not count), then again after every
      further such run of validations;
    * ``exception``: from ``on_exception`` (type, message and traceback in ``details``), e.g.
      :class:`ganlab.engine.module.NonFiniteTrainingError` or a Ctrl-C.

    ``early_stop`` comes from :class:`AlertingEarlyStopping` and
    ``gradient_threshold`` from :class:`ganlab.callbacks.gradients.GradientNormLogger`, given
    the same dispatcher. This callback owns the dispatcher's end: it calls
    :meth:`AlertDispatcher.close` at teardown and after an exception.

    Args:
        dispatcher: Where events go.
        monitor: Logged validation metric watched for ``no_improvement``.
        mode: Whether a higher (``max``) or lower (``min``) value is better.
        no_improvement_validations: Validations without improvement before ``no_improvement``;
            None: never.
        close_timeout_s: Longest wait for pending events at the end; None: the dispatcher's
            :attr:`AlertDispatcher.close_timeout_s`.
    """

    def __init__(
        self,
        dispatcher: AlertDispatcher,
        monitor: str = "val/psnr",
        mode: Literal["max", "min"] = "max",
        no_improvement_validations: int | None = None,
        close_timeout_s: float | None = None,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.dispatcher = dispatcher
        self.monitor = monitor
        self.mode = mode
        self.no_improvement_validations = no_improvement_validations
        self.close_timeout_s = close_timeout_s
        self.best: float | None = None
        self.validations_without_improvement = 0
        self._nonfinite_seen = 0

    def _alert(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        event: str,
        message: str,
        details: Mapping[str, Any],
    ) -> None:
        step, epoch = training_position(trainer, pl_module)
        self.dispatcher.alert(event, message, step=step, epoch=epoch, details=details)

    # ------------------------------------------------------------------------- non-finite

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after a resume the restored count is history, not news
        self._nonfinite_seen = int(getattr(pl_module, "nonfinite_total", 0))

    def on_generator_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int
    ) -> None:
        total = int(getattr(pl_module, "nonfinite_total", 0))
        if total <= self._nonfinite_seen:
            return
        new, self._nonfinite_seen = total - self._nonfinite_seen, total
        self._alert(
            trainer,
            pl_module,
            "nonfinite",
            f"a training step had NaN/Inf losses or gradients and was skipped ({total} skipped "
            "in this run); the run stops after Training.max_nonfinite_steps consecutive ones",
            {"skipped_step": step - 1, "new": new, "nonfinite_total": total},
        )

    # ---------------------------------------------------------------------- no improvement

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (
            self.no_improvement_validations is None
            or trainer.sanity_checking
            or trainer.state.fn != "fit"
        ):
            return
        current = trainer.callback_metrics.get(self.monitor)
        if current is None:
            return
        value = float(current)
        if self._improved(value):
            self.best = value
            self.validations_without_improvement = 0
            return
        self.validations_without_improvement += 1
        if self.validations_without_improvement < self.no_improvement_validations:
            return
        count, self.validations_without_improvement = self.validations_without_improvement, 0
        self._alert(
            trainer,
            pl_module,
            "no_improvement",
            f"{self.monitor} has not improved for {count} validations "
            f"(best {self.best}, last {value:.6g}, mode {self.mode})",
            {"monitor": self.monitor, "mode": self.mode, "best": self.best, "current": value,
             "validations": count},
        )  # fmt: skip

    # ----------------------------------------------------------------------------- the end

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        kind = type(exception).__name__
        text = str(exception)
        trace = "".join(traceback.format_exception(exception))
        self._alert(
            trainer,
            pl_module,
            "exception",
            f"training stopped by {kind}: {text}" if text else f"training stopped by {kind}",
            {
                "type": f"{type(exception).__module__}.{type(exception).__qualname__}",
                "message": text,
                "traceback": trace[-4000:],
            },
        )
        # Lightning skips the teardown hooks after an exception
        self.dispatcher.close(self.close_timeout_s)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.dispatcher.close(self.close_timeout_s)

    # ------------------------------------------------------------------------------ resume

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "validations_without_improvement": self.validations_without_improvement,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.validations_without_improvement = int(
            state_dict.get("validations_without_improvement", 0)
        )


def build_alert_dispatcher(alerts: AlertsConfig, run_dir: Path) -> AlertDispatcher:
    """The dispatcher for ``Callbacks.alerts``: its sinks (log, command, webhook, in this
    order) and event selection."""
    sinks: list[AlertSink] = []
    if alerts.log:
        sinks.append(LogSink())
    if alerts.command:
        sinks.append(CommandSink(alerts.command, timeout_s=alerts.command_timeout_s))
    if alerts.webhook is not None:
        hook = alerts.webhook
        url, headers = hook.resolved()  # environment variables read here, never saved
        sinks.append(
            WebhookSink(url, timeout_s=hook.timeout_s, retries=hook.retries, headers=headers)
        )
    return AlertDispatcher(sinks, run_dir=run_dir, events=alerts.events)


def build_monitoring_callbacks(config: Config, run_dir: Path) -> list[pl.Callback]:
    """The gradient-norm logger (``Callbacks.gradient_norms.enabled``), early stopping
    (``Callbacks.early_stopping``) and alerts (``Callbacks.alerts``), sharing one dispatcher.

    The alerts callback comes last; it watches ``Callbacks.checkpoint.monitor`` for
    ``no_improvement`` and flushes the dispatcher when training ends.
    """
    callbacks_config = config.Callbacks
    alerts = callbacks_config.alerts
    dispatcher = build_alert_dispatcher(alerts, run_dir) if alerts is not None else None
    callbacks: list[pl.Callback] = []

    norms = callbacks_config.gradient_norms
    if norms.enabled:
        callbacks.append(
            GradientNormLogger(
                every_n_steps=norms.every_n_steps,
                norm_type=norms.norm_type,
                per_layer=norms.per_layer,
                generator_threshold=norms.generator_threshold,
                discriminator_threshold=norms.discriminator_threshold,
                warn_interval_steps=norms.warn_interval_steps,
                dispatcher=dispatcher,
            )
        )

    stopping = callbacks_config.early_stopping
    if stopping is not None:
        callbacks.append(
            AlertingEarlyStopping(
                monitor=stopping.monitor,
                mode=stopping.mode,
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                dispatcher=dispatcher,
            )
        )

    if alerts is not None and dispatcher is not None:
        checkpoint = callbacks_config.checkpoint
        callbacks.append(
            Alerts(
                dispatcher,
                monitor=checkpoint.monitor,
                mode=checkpoint.mode,
                no_improvement_validations=alerts.no_improvement_validations,
            )
        )
    return callbacks
