"""Monitoring callbacks from the config: gradient norms, early stopping and alerts, wired to
one alert dispatcher."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal

from ganlab._lightning import pl
from ganlab.callbacks.alerts import (
    AlertDispatcher,
    Alerts,
    AlertSink,
    CommandSink,
    LogSink,
    WebhookSink,
    training_position,
)
from ganlab.callbacks.gradients import GradientNormLogger
from ganlab.config.schema import AlertsConfig, Config

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
                f"(patience {self.patience}); best {best:.6g}, last {last}"
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
        sinks.append(
            WebhookSink(
                hook.url, timeout_s=hook.timeout_s, retries=hook.retries, headers=hook.headers
            )
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
    elif norms.generator_threshold is not None or norms.discriminator_threshold is not None:
        log.warning(
            "Callbacks.gradient_norms thresholds are set but gradient_norms.enabled is false: "
            "gradient norms are not measured, so the thresholds are ignored"
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
