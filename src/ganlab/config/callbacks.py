"""The `Callbacks` and `Logging` sections: checkpoints, monitoring, alerts, loggers."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from ganlab.config.base import Section
from ganlab.errors import ConfigError
from ganlab.redact import REDACTED, redact_url


class CheckpointConfig(Section):
    """Checkpointing into `<run dir>/checkpoints`. Every checkpoint file `X.ckpt` gets
    generator-only exports beside it: `X.generator.safetensors` (raw weights) and, with
    Training.EMA enabled, `X.generator-ema.safetensors`, each carrying the generator config."""

    monitor: str = Field("val/psnr", description="Logged metric that ranks checkpoints.")
    mode: Literal["max", "min"] = Field("max", description="Whether higher or lower is better.")
    save_top_k: int = Field(1, ge=-1, description="Best checkpoints kept (-1 keeps all, 0 none).")
    save_last: bool = Field(True, description="Also keep `last.ckpt`, the newest state.")
    filename: str = Field(
        "best-epoch{epoch:03d}", description="Name pattern of ranked checkpoints (no extension)."
    )
    every_n_steps: int | None = Field(
        None,
        ge=1,
        description="Also save `step-NNNNNNN.ckpt` every N generator steps (the run's own step "
        "counter, one per batch whatever the optimisation mode).",
    )
    keep_every_n_steps: int = Field(
        -1, ge=-1, description="Periodic `step-*.ckpt` files kept (the newest); -1 keeps all."
    )
    export_generator: bool = Field(
        True, description="Write the generator-only safetensors exports beside each checkpoint."
    )


class GradientNormsConfig(Section):
    """Per-network gradient norms (measured before clipping)."""

    enabled: bool = Field(
        False, description="Log `grad_norm/generator` and `grad_norm/discriminator`."
    )
    every_n_steps: int | None = Field(
        None,
        ge=1,
        description="Measure every N optimiser steps; null: Trainer.log_every_n_steps (a norm "
        "costs one device sync, so it is not measured on every step by default).",
    )
    norm_type: float = Field(2.0, gt=0, description="p of the p-norm (2: Euclidean).")
    per_layer: bool = Field(
        False, description="Also log `grad_norm/<network>/<parameter>` for every parameter."
    )
    generator_threshold: float | None = Field(
        None, gt=0, description="Warn (and alert) when the generator's norm exceeds this."
    )
    discriminator_threshold: float | None = Field(
        None, gt=0, description="Warn (and alert) when the discriminator's norm exceeds this."
    )
    warn_interval_steps: int = Field(
        100, ge=1, description="At most one threshold warning per network per this many steps."
    )

    @model_validator(mode="after")
    def _thresholds_need_measuring(self) -> GradientNormsConfig:
        for name in ("generator_threshold", "discriminator_threshold"):
            if getattr(self, name) is not None and not self.enabled:
                raise ValueError(
                    f"{name} needs the norms to be measured; set enabled: true (or remove the "
                    "threshold)"
                )
        return self


class ExtraValidationConfig(Section):
    """A validation hook class loaded by import path."""

    target: str = Field(
        ...,
        description="`package.module:Class` of a ganlab.callbacks.ValidationHook subclass "
        "(e.g. `ganlab.callbacks.extra:BandBias`).",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the class."
    )

    @field_validator("target")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module, _, name = value.partition(":")
        if not module or not name:
            raise ValueError(f"{value!r}: expected `package.module:Class`")
        return value


class EarlyStoppingConfig(Section):
    """Stop training when a validation metric stops improving."""

    monitor: str = Field("val/psnr", description="Logged validation metric watched.")
    mode: Literal["max", "min"] = Field("max", description="Whether higher or lower is better.")
    patience: int = Field(
        5, ge=1, description="Validations without improvement before training stops."
    )
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")


AlertEvent = Literal["early_stop", "nonfinite", "gradient_threshold", "no_improvement", "exception"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "early_stop", "nonfinite", "gradient_threshold", "no_improvement", "exception",
)  # fmt: skip


class WebhookConfig(Section):
    """HTTP POST of each alert as a JSON object.

    Webhook URLs and headers often carry tokens: name environment variables that hold them
    (``url_env``, ``headers_env``) rather than writing them here. Values written here are
    redacted wherever the config is saved or logged (``config.yaml``, checkpoints, loggers).
    """

    url: str | None = Field(
        None,
        description="http(s) URL that receives the JSON event (saved and logged redacted: "
        "scheme and host only); or use `url_env`.",
    )
    url_env: str | None = Field(
        None,
        description="Name of the environment variable holding the URL (read when training "
        "starts; only the name is saved).",
    )
    timeout_s: float = Field(5.0, gt=0, description="Seconds per attempt.")
    retries: int = Field(2, ge=0, description="Further attempts after a failed one.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers (values saved and logged redacted); for tokens "
        "prefer `headers_env`.",
    )
    headers_env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers whose values come from environment variables: "
        "header name -> variable name (e.g. {Authorization: ALERT_TOKEN}).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and REDACTED in value:
            raise ValueError(
                "holds a redacted URL (from a saved config.yaml); give the real URL or url_env"
            )
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _real_headers(cls, value: dict[str, str]) -> dict[str, str]:
        redacted = [name for name, text in value.items() if text == REDACTED]
        if redacted:
            raise ValueError(
                f"{', '.join(redacted)}: redacted values (from a saved config.yaml); give the "
                "real values or headers_env"
            )
        return value

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give the URL with url_env (an environment variable) or url")
        return self

    @field_serializer("url")
    def _redacted_url(self, value: str | None) -> str | None:
        return None if value is None else redact_url(value)

    @field_serializer("headers")
    def _redacted_headers(self, value: dict[str, str]) -> dict[str, str]:
        return {name: REDACTED for name in value}

    def resolved(self) -> tuple[str, dict[str, str]]:
        """The URL and headers, with the environment variables read.

        Raises:
            ConfigError: A named environment variable is not set.
        """

        def read(variable: str, key: str) -> str:
            value = os.environ.get(variable)
            if not value:
                raise ConfigError(
                    f"Callbacks.alerts.webhook.{key}: environment variable {variable} is not "
                    "set; export it before training (or remove the webhook)"
                )
            return value

        url = self.url if self.url_env is None else read(self.url_env, "url_env")
        assert url is not None
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"Callbacks.alerts.webhook.url_env: {self.url_env} does not hold an http:// "
                "or https:// URL"
            )
        headers = dict(self.headers)
        for name, variable in self.headers_env.items():
            headers[name] = read(variable, f"headers_env.{name}")
        return url, headers


class AlertsConfig(Section):
    """Notify operators when training stalls or breaks. Alerts are sent from a background
    thread, so a slow sink never blocks training."""

    events: list[AlertEvent] = Field(
        default_factory=lambda: list(ALERT_EVENTS),
        description="Events that alert: early_stop, nonfinite (a skipped NaN/Inf step), "
        "gradient_threshold, no_improvement, exception.",
    )
    log: bool = Field(True, description="Write each alert to the log (warning level).")
    command: list[str] | None = Field(
        None,
        description="Program and arguments run for each alert (no shell); the JSON event is "
        "passed on standard input and `{event}`/`{message}` in arguments are replaced.",
    )
    command_timeout_s: float = Field(
        10.0, gt=0, description="Seconds before the command is killed."
    )
    webhook: WebhookConfig | None = Field(None, description="HTTP POST sink.")
    no_improvement_validations: int | None = Field(
        None,
        ge=1,
        description="Raise `no_improvement` after this many validations without a better "
        "`Callbacks.checkpoint.monitor` value; null: never.",
    )


class CallbacksConfig(Section):
    """Callbacks attached to the Lightning Trainer."""

    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig, description="Checkpointing."
    )
    lr_monitor: bool = Field(
        False, description="Log learning rates as `lr/generator` and `lr/discriminator`."
    )
    gradient_norms: GradientNormsConfig = Field(
        default_factory=GradientNormsConfig, description="Gradient-norm logging and thresholds."
    )
    extra_validation: list[ExtraValidationConfig] = Field(
        default_factory=list,
        description="Validation hooks that receive the module and each batch's outputs (LR, "
        "bicubic, SR, HR in physical units, meta) and return metrics to log.",
    )
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="Early stopping; null: off."
    )
    alerts: AlertsConfig | None = Field(None, description="Operator alerts; null: off.")


LoggerName = Literal["csv", "tensorboard", "wandb"]


class WandbConfig(Section):
    """Weights & Biases logger options (`Logging.logger: wandb`)."""

    mode: Literal["online", "offline", "disabled"] = Field(
        "offline",
        description="offline writes the run under `<run dir>/logs/wandb` with no network "
        "(upload later with `wandb sync`); online needs `wandb login`.",
    )
    project: str = Field("opensr-gan-lab", description="W&B project name.")
    entity: str | None = Field(None, description="W&B team or user; null: your default.")
    name: str | None = Field(None, description="Run name; null: the run folder's name.")
    tags: list[str] = Field(default_factory=list, description="Run tags.")


class LoggingConfig(Section):
    """Where metrics and images go."""

    logger: LoggerName | list[LoggerName] = Field(
        "csv",
        description="csv (`<run dir>/logs/csv/metrics.csv`), tensorboard "
        "(`<run dir>/logs/tensorboard`), wandb (`<run dir>/logs/wandb`), or a list.",
    )
    wandb: WandbConfig = Field(default_factory=WandbConfig, description="W&B options.")
    num_val_images: int = Field(
        4,
        ge=0,
        description="Validation samples drawn in each LR | bicubic | SR | HR panel (PNG files in "
        "`<run dir>/panels` and images in TensorBoard/W&B); 0 draws none.",
    )
    log_images: bool = Field(
        True, description="Also send the panels to the image-capable loggers (TensorBoard, W&B)."
    )
    histograms: bool = Field(
        False,
        description="Log weight and gradient histograms of both networks at each validation "
        "(TensorBoard, W&B).",
    )
    lpips: bool = Field(
        False,
        description="Also compute LPIPS in validation when its weights are available locally "
        "(needs torchvision); otherwise skipped with one warning.",
    )
    display_bands: list[int] | None = Field(
        None,
        description="Bands shown as red, green, blue in panels (0-based); null shows bands 0-2 "
        "(or band 0 in grey for single-band data).",
    )

    @property
    def logger_names(self) -> list[str]:
        """Configured loggers as a list."""
        return [self.logger] if isinstance(self.logger, str) else list(self.logger)
