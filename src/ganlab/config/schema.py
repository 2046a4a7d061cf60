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
        "srresnet",
        description="Registered generator (srresnet, rcab, rrdb, lka, swinir; `ganlab models "
        "list` describes them), or `package.module:Name`.",
    )
    scaling_factor: Literal[2, 3, 4, 8] = Field(4, description="Upscaling factor.")
    n_channels: int = Field(
        64, ge=1, description="Feature channels in the body (swinir: the embedding width)."
    )
    n_blocks: int = Field(
        16,
        ge=1,
        description="Blocks in the body: residual blocks (srresnet, rcab), RRDBs (rrdb), "
        "attention blocks (lka), transformer layers (swinir).",
    )
    large_kernel_size: int = Field(9, ge=1, description="Kernel of the first and last conv.")
    small_kernel_size: int = Field(
        3, ge=1, description="Kernel of the convs inside the body and the upsampler."
    )
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
    upsampling: Literal["pixelshuffle", "nearest_conv"] = Field(
        "pixelshuffle",
        description="pixelshuffle: conv + pixel shuffle (x2 stages, one x3 stage); nearest_conv: "
        "nearest-neighbour interpolation + conv per stage (no checkerboard artefacts).",
    )
    res_scale: float | None = Field(
        None,
        gt=0,
        description="Factor on every residual branch before it is added; null uses the "
        "family's default (rrdb 0.2, others 1.0). Not used by swinir.",
    )
    growth_channels: int = Field(
        32, ge=1, description="rrdb: channels each conv of a dense block adds."
    )
    blocks_per_group: int = Field(
        4,
        ge=1,
        description="rcab, swinir: blocks per residual group (a group ends with a conv and "
        "has its own skip).",
    )
    reduction: int = Field(
        16, ge=1, description="rcab: channel-attention reduction (hidden = n_channels / reduction)."
    )
    window_size: int = Field(
        8,
        ge=1,
        description="swinir: attention window side; inputs of other sizes are padded to a "
        "multiple of it and cropped back.",
    )
    n_heads: int = Field(4, ge=1, description="swinir: attention heads (must divide n_channels).")
    mlp_ratio: float = Field(
        2.0, gt=0, description="swinir: hidden width of the MLP as a multiple of n_channels."
    )

    @field_validator("scaling_factor", mode="before")
    @classmethod
    def _int_scale(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _check_family(self) -> GeneratorConfig:
        if self.model_type == "swinir" and self.n_channels % self.n_heads:
            raise ValueError(
                f"swinir: n_heads ({self.n_heads}) must divide n_channels ({self.n_channels})"
            )
        return self


class DiscriminatorConfig(Section):
    """The network that tells real high-resolution images from generated ones."""

    model_type: str = Field(
        "srgan",
        description="Registered discriminator (srgan, patchgan, unet; `ganlab models list` "
        "describes them), or `package.module:Name`.",
    )
    n_channels: int = Field(64, ge=1, description="Channels of the first conv layer.")
    n_blocks: int | None = Field(
        None,
        ge=1,
        description="Depth; null uses the family's default. srgan: conv layers (default 8; "
        "channels double and resolution halves every second layer); patchgan: stride-2 layers "
        "(default 3, the 70x70 PatchGAN); unet: down/up-sampling levels (default 3).",
    )
    max_channels: int = Field(512, ge=1, description="Upper bound on conv channels.")
    fc_size: int = Field(
        1024, ge=1, description="srgan: width of the hidden fully connected layer."
    )
    norm: Literal["batch", "instance", "none"] | None = Field(
        None,
        description="Normalisation after the convs (all but the first); null uses the "
        "family's default (srgan and patchgan batch, unet none).",
    )
    spectral_norm: bool | None = Field(
        None,
        description="Spectral normalisation of the conv and linear weights (all but the first "
        "and last layer for unet); null uses the family's default (unet on, others off).",
    )


# ------------------------------------------------------------------------------------ Training


class PerceptualConfig(Section):
    """VGG19 perceptual loss settings (used when `perceptual_weight` > 0)."""

    weights_path: str | None = Field(
        None,
        description="torchvision-layout VGG19 ImageNet weights (vgg19-dcbbb4b3.pth); null looks "
        "in the torch hub cache (<torch hub dir>/checkpoints/). Never downloaded.",
    )
    layers: list[str] = Field(
        default_factory=lambda: ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"],
        min_length=1,
        description="VGG19 layers compared (relu1_1..relu5_4, conv1_1..conv5_4, pool1..pool5).",
    )
    layer_weights: list[float] | None = Field(
        None, description="Weight per layer (same order); null weighs all layers 1."
    )
    bands: list[int] | None = Field(
        None,
        description="Bands fed to VGG as R, G, B (3 indices, or 1 repeated); null takes bands "
        "0-2 (band 0 for single-band data).",
    )
    criterion: Literal["l1", "mse"] = Field("l1", description="Distance between feature maps.")
    imagenet_normalize: bool = Field(
        True, description="Standardise the 0..1 inputs with ImageNet mean/std before VGG."
    )

    @model_validator(mode="after")
    def _check_lengths(self) -> PerceptualConfig:
        if self.layer_weights is not None and len(self.layer_weights) != len(self.layers):
            raise ValueError(
                f"layer_weights has {len(self.layer_weights)} values for {len(self.layers)} layers"
            )
        if self.bands is not None and len(self.bands) not in (1, 3):
            raise ValueError(f"bands {self.bands}: give 3 band indices (R, G, B) or 1")
        return self


CONTENT_WEIGHT_KEYS = (
    "l1", "mse", "charbonnier", "ssim", "ms_ssim", "sam", "perceptual", "tv", "fft", "gradient",
)  # fmt: skip


class LossesConfig(Section):
    """Weights of the generator's loss terms and the adversarial formulation."""

    l1_weight: float = Field(1.0, ge=0, description="L1 (mean absolute error).")
    mse_weight: float = Field(0.0, ge=0, description="Mean squared error.")
    charbonnier_weight: float = Field(0.0, ge=0, description="Charbonnier (smooth L1).")
    charbonnier_eps: float = Field(1e-3, gt=0, description="Charbonnier epsilon.")
    ssim_weight: float = Field(0.0, ge=0, description="1 - SSIM (all bands, data range 1).")
    ms_ssim_weight: float = Field(0.0, ge=0, description="1 - multi-scale SSIM.")
    ssim_window_size: int = Field(11, ge=3, description="SSIM/MS-SSIM Gaussian window side.")
    ssim_sigma: float = Field(1.5, gt=0, description="SSIM/MS-SSIM Gaussian sigma.")
    ms_ssim_scales: int = Field(
        5, ge=1, le=5, description="MS-SSIM scales; crops need window x 2^(scales-1) pixels."
    )
    sam_weight: float = Field(
        0.0, ge=0, description="Spectral angle (radians) between band vectors."
    )
    perceptual_weight: float = Field(0.0, ge=0, description="VGG19 feature distance.")
    perceptual: PerceptualConfig = Field(
        default_factory=PerceptualConfig, description="Perceptual loss settings."
    )
    tv_weight: float = Field(0.0, ge=0, description="Total variation of SR (a smoothness prior).")
    fft_weight: float = Field(0.0, ge=0, description="L1 between Fourier amplitudes (sharpness).")
    gradient_weight: float = Field(0.0, ge=0, description="L1 between image gradients.")
    adv_loss_type: Literal["vanilla", "lsgan", "hinge", "wgan_gp", "relativistic"] = Field(
        "vanilla",
        description="Adversarial formulation: vanilla (non-saturating BCE), lsgan, hinge, "
        "wgan_gp (Wasserstein + gradient penalty), relativistic (relativistic average, ESRGAN).",
    )
    adv_loss_beta: float = Field(
        1e-3, ge=0, description="Final weight of the generator's adversarial term."
    )
    gp_weight: float = Field(10.0, ge=0, description="wgan_gp: gradient-penalty weight.")
    r1_weight: float = Field(
        0.0, ge=0, description="R1 penalty weight gamma on real images (gamma/2 x E|grad D|^2)."
    )
    r1_interval: int = Field(
        1, ge=1, description="Apply R1 every N discriminator updates (scaled by N)."
    )
    feature_matching_weight: float = Field(
        0.0,
        ge=0,
        description="L1 between discriminator features of SR and HR, averaged over layers "
        "(ramped like the adversarial weight).",
    )

    @model_validator(mode="after")
    def _some_content_term(self) -> LossesConfig:
        if all(getattr(self, f"{name}_weight") == 0 for name in CONTENT_WEIGHT_KEYS):
            raise ValueError(
                "all content weights are 0; set at least one of "
                + ", ".join(f"{name}_weight" for name in CONTENT_WEIGHT_KEYS)
            )
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
    channels_last: bool = Field(
        False,
        description="Store generator and discriminator weights (and activations) in the "
        "channels-last memory format; often faster for convs on CPUs and tensor-core GPUs.",
    )
    compile: bool = Field(
        False,
        description="Compile generator and discriminator with `torch.compile` (in place; "
        "checkpoint keys are unchanged). The first steps are slow while it compiles.",
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="Real-image target becomes 1 - label_smoothing (vanilla, lsgan, relativistic).",
    )
    Losses: LossesConfig = Field(default_factory=LossesConfig, description="Loss weights.")
    EMA: EMAConfig = Field(default_factory=EMAConfig, description="Generator EMA.")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _smoothing_fits_formulation(self) -> TrainingConfig:
        kind = self.Losses.adv_loss_type
        if self.label_smoothing > 0 and kind in ("hinge", "wgan_gp"):
            raise ValueError(
                f"label_smoothing applies to formulations with targets (vanilla, lsgan, "
                f"relativistic), not to Losses.adv_loss_type={kind}; set it to 0"
            )
        return self

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


class ScheduleConfig(Section):
    """Learning-rate factor over the module's own step counter (one step per batch)."""

    type: Literal["constant", "cosine", "step"] = Field(
        "constant",
        description="constant: the base rate; cosine: decays to `min_lr_ratio` x base at "
        "`total_steps`; step: multiplied by `gamma` every `step_size` steps.",
    )
    warmup_steps: int = Field(
        0, ge=0, description="Steps of linear warm-up from base/warmup_steps to the base rate."
    )
    total_steps: int | None = Field(
        None, gt=0, description="cosine: step at which the decay ends (warm-up included)."
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="cosine: final rate as a fraction of the base rate."
    )
    step_size: int | None = Field(None, gt=0, description="step: steps between decays.")
    gamma: float = Field(0.5, gt=0, le=1, description="step: factor applied at each decay.")

    @model_validator(mode="after")
    def _check_type_parameters(self) -> ScheduleConfig:
        if self.type == "cosine" and self.total_steps is None:
            raise ValueError("type cosine needs `total_steps` (the step where the decay ends)")
        too_short = self.total_steps is not None and self.total_steps <= self.warmup_steps
        if self.type == "cosine" and too_short:
            raise ValueError(
                f"total_steps ({self.total_steps}) must exceed warmup_steps ({self.warmup_steps})"
            )
        if self.type == "step" and self.step_size is None:
            raise ValueError("type step needs `step_size`")
        return self


class SchedulersConfig(Section):
    """Learning-rate schedules of the two networks, stepped once per batch."""

    generator: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="Generator schedule."
    )
    discriminator: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="Discriminator schedule."
    )


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
        losses = self.Training.Losses
        needed = 0
        if losses.ssim_weight > 0:
            needed = losses.ssim_window_size
        if losses.ms_ssim_weight > 0:
            needed = max(needed, losses.ssim_window_size * 2 ** (losses.ms_ssim_scales - 1))
        if self.Data.hr_patch_size < needed:
            raise ValueError(
                f"Data.hr_patch_size ({self.Data.hr_patch_size}) is too small for the SSIM terms "
                f"of Training.Losses (need >= {needed} pixels); use larger crops, a smaller "
                "ssim_window_size or fewer ms_ssim_scales"
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
