"""The configuration schema: every section, key, type, default and description.

These pydantic models are the single source of truth for the YAML interface. The configuration
reference (``docs/configuration.md``) is generated from them by ``ganlab config reference``.
Unknown keys are rejected (``extra="forbid"``); see :mod:`ganlab.config.load` for the messages.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------- Data


class NormalizationConfig(Section):
    """How raw (physical) values are mapped to network values, per band: ``(x - offset) / scale``.

    The module applies it on device to both branches and inverts it exactly for outputs,
    panels and metrics.
    """

    type: Literal["identity", "zero_one", "percentile"] = Field(
        "identity",
        description="identity: values used as they are; zero_one: divide by `max_value`; "
        "percentile: map per-band `low`..`high` to 0..1.",
    )
    max_value: float | None = Field(
        None, description="zero_one: the value mapped to 1 (e.g. 255, 10000, 65535).", gt=0
    )
    low: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 0 (e.g. the 1st percentile)."
    )
    high: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 1 (e.g. the 99th percentile)."
    )

    @model_validator(mode="after")
    def _check_parameters(self) -> NormalizationConfig:
        if self.type == "zero_one" and self.max_value is None:
            raise ValueError("type zero_one needs `max_value` (e.g. 255 for 8-bit images)")
        if self.type == "percentile":
            if self.low is None or self.high is None:
                raise ValueError("type percentile needs per-band `low` and `high` lists")
            if len(self.low) != len(self.high):
                raise ValueError(
                    f"`low` has {len(self.low)} values but `high` has {len(self.high)}; "
                    "give one value per band in both"
                )
            bad = [
                i for i, (lo, hi) in enumerate(zip(self.low, self.high, strict=True)) if hi <= lo
            ]
            if bad:
                raise ValueError(
                    f"`high` must be greater than `low` for every band; not for bands {bad}"
                )
        return self


class DataConfig(Section):
    """Where the images come from and how training/validation samples are made."""

    dataset: Literal["degrade"] = Field(
        "degrade",
        description="degrade: high-resolution images only; the low-resolution input is made by "
        "downsampling each image by `Generator.scaling_factor`.",
    )
    train_dir: str | None = Field(
        None,
        description="Folder of training images (.npy, .npz, .png, .jpg, .tif). "
        "`sample://landsat8/train` is the bundled sample set. Relative paths are taken from the "
        "current directory.",
    )
    val_dir: str | None = Field(
        None, description="Folder of validation images; `sample://landsat8/val` is bundled."
    )
    hr_patch_size: int = Field(
        128,
        gt=0,
        description="Side of the random high-resolution training crop, in pixels; a multiple of "
        "`Generator.scaling_factor`.",
    )
    val_patch_size: int | None = Field(
        None,
        gt=0,
        description="Side of the centre crop used for validation; null validates whole images.",
    )
    downsample: Literal["area", "bicubic"] = Field(
        "area",
        description="How the low-resolution input is made: area (pixel-block mean, like a sensor "
        "footprint) or antialiased bicubic.",
    )
    augment: bool = Field(
        True, description="Random flips and 90-degree rotations of training crops (both branches)."
    )
    repeats: int = Field(
        1,
        ge=1,
        description="Random crops taken from each training image per epoch (small sets need many).",
    )
    batch_size: int = Field(8, ge=1, description="Training batch size per device.")
    val_batch_size: int = Field(1, ge=1, description="Validation batch size per device.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    normalization: NormalizationConfig = Field(
        default_factory=NormalizationConfig, description="Normaliser for both branches."
    )


# -------------------------------------------------------------------------------------- Models


class ModelConfig(Section):
    """What the networks see: band counts shared by generator and discriminator."""

    in_bands: int = Field(3, ge=1, description="Bands of the low-resolution input.")
    out_bands: int | None = Field(
        None, ge=1, description="Bands of the super-resolved output; null means `in_bands`."
    )

    @property
    def output_bands(self) -> int:
        """Output band count with the default applied."""
        return self.out_bands if self.out_bands is not None else self.in_bands


class GeneratorConfig(Section):
    """The super-resolution network."""

    model_type: str = Field(
        "srresnet", description="Registered generator name, or `package.module:Name`."
    )
    scaling_factor: Literal[2, 3, 4, 8] = Field(4, description="Upscaling factor.")
    n_channels: int = Field(64, ge=1, description="Feature channels in the body.")
    n_blocks: int = Field(16, ge=1, description="Residual blocks in the body.")
    large_kernel_size: int = Field(9, ge=1, description="Kernel of the first and last conv.")
    small_kernel_size: int = Field(3, ge=1, description="Kernel inside the residual blocks.")
    block_type: Literal["standard", "res"] = Field(
        "res",
        description="standard: SRGAN blocks with batch norm; res: without normalisation "
        "(EDSR-style, usually better for SR).",
    )
    global_skip: Literal["bicubic", "nearest", "none"] = Field(
        "bicubic",
        description="Add the interpolated input to the output, so the network learns a residual "
        "and an untrained network starts at interpolation quality. Needs out_bands == in_bands.",
    )
    zero_init_last: bool = Field(
        True,
        description="Zero-initialise the last conv, so with a global skip the untrained output "
        "equals the interpolated input exactly.",
    )

    @field_validator("scaling_factor", mode="before")
    @classmethod
    def _int_scale(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value


class DiscriminatorConfig(Section):
    """The network that tells real high-resolution images from generated ones."""

    model_type: str = Field(
        "srgan", description="Registered discriminator name, or `package.module:Name`."
    )
    n_channels: int = Field(64, ge=1, description="Channels of the first conv layer.")
    n_blocks: int = Field(
        8, ge=2, description="Conv layers; channels double every second layer up to max_channels."
    )
    max_channels: int = Field(512, ge=1, description="Upper bound on conv channels.")
    fc_size: int = Field(1024, ge=1, description="Width of the hidden fully connected layer.")


# ------------------------------------------------------------------------------------ Training


class LossesConfig(Section):
    """Weights of the generator's loss terms."""

    l1_weight: float = Field(1.0, ge=0, description="Weight of the L1 content term.")
    mse_weight: float = Field(0.0, ge=0, description="Weight of the mean squared error term.")
    adv_loss_type: Literal["vanilla"] = Field(
        "vanilla", description="Adversarial formulation: vanilla (non-saturating BCE with logits)."
    )
    adv_loss_beta: float = Field(
        1e-3, ge=0, description="Final weight of the generator's adversarial term."
    )

    @model_validator(mode="after")
    def _some_content_term(self) -> LossesConfig:
        if self.l1_weight == 0 and self.mse_weight == 0:
            raise ValueError("all content weights are 0; set l1_weight or mse_weight above 0")
        return self


class EMAConfig(Section):
    """Exponential moving average of the generator (keys arrive with the training engine)."""


PrecisionName = Literal[
    "32", "16", "bf16", "64", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"
]


class TrainingConfig(Section):
    """How the generator and discriminator are trained."""

    seed: int = Field(42, description="Seed for Python, NumPy and torch (and dataloader workers).")
    precision: PrecisionName = Field(
        "32",
        description="Numeric precision: 32, 16 (16-mixed), bf16 (bf16-mixed), 64, or any Lightning "
        "precision string.",
    )
    g_pretrain_steps: int = Field(
        0,
        ge=0,
        description="Generator-only steps (content loss only) before the adversarial phase.",
    )
    pretrain_g_only: bool = Field(
        True, description="Train only the generator during the first `g_pretrain_steps` steps."
    )
    d_update_interval: int = Field(
        1, ge=1, description="Update the discriminator every N steps of the adversarial phase."
    )
    adv_loss_ramp_steps: int = Field(
        0,
        ge=0,
        description="Steps over which the adversarial weight rises linearly from 0 to "
        "`Losses.adv_loss_beta` once the adversarial phase starts.",
    )
    Losses: LossesConfig = Field(default_factory=LossesConfig, description="Loss weights.")
    EMA: EMAConfig = Field(default_factory=EMAConfig, description="Generator EMA.")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def lightning_precision(self) -> str:
        """The precision string Lightning expects."""
        short = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}
        return short.get(self.precision, self.precision)


class OptimizersConfig(Section):
    """Optimisers of the two networks."""

    optimizer: Literal["adam", "adamw"] = Field("adam", description="Optimiser for both networks.")
    optim_g_lr: float = Field(2e-4, gt=0, description="Generator learning rate.")
    optim_d_lr: float = Field(1e-4, gt=0, description="Discriminator learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas for both networks.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay for both networks.")


class SchedulersConfig(Section):
    """Learning-rate schedules (keys arrive with the training engine); constant for now."""


class CheckpointConfig(Section):
    """Lightning ModelCheckpoint settings; checkpoints go to `<run dir>/checkpoints`."""

    monitor: str = Field("val/psnr", description="Logged metric that ranks checkpoints.")
    mode: Literal["max", "min"] = Field("max", description="Whether higher or lower is better.")
    save_top_k: int = Field(1, ge=-1, description="Best checkpoints kept (-1 keeps all).")
    save_last: bool = Field(True, description="Also keep `last.ckpt`, the newest state.")
    filename: str = Field(
        "best-epoch{epoch:03d}", description="Name pattern of ranked checkpoints (no extension)."
    )


class CallbacksConfig(Section):
    """Callbacks attached to the Lightning Trainer."""

    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig, description="Checkpointing."
    )


LoggerName = Literal["csv", "tensorboard"]


class LoggingConfig(Section):
    """Where metrics and images go."""

    logger: LoggerName | list[LoggerName] = Field(
        "csv",
        description="csv (`<run dir>/logs/csv/metrics.csv`), tensorboard "
        "(`<run dir>/logs/tensorboard`), or a list of both.",
    )
    num_val_images: int = Field(
        4, ge=0, description="Validation samples drawn in each PNG panel; 0 writes no panels."
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


# Trainer arguments the product sets itself: where to set them instead.
MANAGED_TRAINER_ARGUMENTS = {
    "callbacks": "configure callbacks under `Callbacks`",
    "logger": "choose loggers with `Logging.logger`",
    "default_root_dir": "use `ganlab train --run-dir DIR`",
    "precision": "set `Training.precision`",
}


def _check_trainer_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    from ganlab._lightning import trainer_argument_names

    valid = trainer_argument_names()
    for name in arguments:
        if name in MANAGED_TRAINER_ARGUMENTS:
            raise ValueError(
                f"Trainer.{name} is set by OpenSR GAN Lab itself; {MANAGED_TRAINER_ARGUMENTS[name]}"
            )
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean Trainer.{close[0]}?" if close else ""
            raise ValueError(
                f"Trainer.{name}: not an argument of the installed Lightning Trainer{hint}"
            )
    return arguments


class Config(Section):
    """A whole OpenSR GAN Lab configuration."""

    Data: DataConfig = Field(default_factory=DataConfig, description="Data.")
    Model: ModelConfig = Field(default_factory=ModelConfig, description="Band counts.")
    Generator: GeneratorConfig = Field(default_factory=GeneratorConfig, description="Generator.")
    Discriminator: DiscriminatorConfig = Field(
        default_factory=DiscriminatorConfig, description="Discriminator."
    )
    Training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training.")
    Optimizers: OptimizersConfig = Field(
        default_factory=OptimizersConfig, description="Optimisers."
    )
    Schedulers: SchedulersConfig = Field(
        default_factory=SchedulersConfig, description="LR schedules."
    )
    Callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig, description="Callbacks.")
    Logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    Trainer: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other argument of Lightning's `Trainer` (max_steps, max_epochs, "
        "val_check_interval, limit_val_batches, accelerator, devices, ...), passed through as "
        "given and checked against the installed Trainer's signature.",
    )

    @field_validator("Trainer")
    @classmethod
    def _trainer_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trainer_arguments(value)

    @model_validator(mode="after")
    def _cross_section_checks(self) -> Config:
        scale = self.Generator.scaling_factor
        if self.Data.hr_patch_size % scale:
            raise ValueError(
                f"Data.hr_patch_size ({self.Data.hr_patch_size}) must be a multiple of "
                f"Generator.scaling_factor ({scale})"
            )
        if self.Data.val_patch_size is not None and self.Data.val_patch_size % scale:
            raise ValueError(
                f"Data.val_patch_size ({self.Data.val_patch_size}) must be a multiple of "
                f"Generator.scaling_factor ({scale})"
            )
        norm = self.Data.normalization
        if norm.low is not None and len(norm.low) not in (1, self.Model.in_bands):
            raise ValueError(
                f"Data.normalization.low has {len(norm.low)} values but Model.in_bands is "
                f"{self.Model.in_bands}; give one value per band (or one for all)"
            )
        if self.Generator.global_skip != "none" and self.Model.output_bands != self.Model.in_bands:
            raise ValueError(
                "Generator.global_skip adds the interpolated input to the output, which needs "
                f"Model.out_bands ({self.Model.out_bands}) == Model.in_bands "
                f"({self.Model.in_bands}); set Generator.global_skip: none"
            )
        display = self.Logging.display_bands
        if display is not None:
            bad = [b for b in display if not 0 <= b < self.Model.output_bands]
            if bad or len(display) not in (1, 3):
                raise ValueError(
                    f"Logging.display_bands {display}: give 1 or 3 band indices in "
                    f"0..{self.Model.output_bands - 1}"
                )
        return self
