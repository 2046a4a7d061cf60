"""The `Training` section with its `Losses` (and perceptual loss) and `EMA` sections."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganlab.config.base import PrecisionName, Section, lightning_precision
from ganlab.config.distributed import (
    PRODUCT_STRATEGIES,
    DDPConfig,
    DeepSpeedConfig,
    FSDPConfig,
)
from ganlab.devices import UNSHARDABLE_LAYOUT_STRATEGIES, auto_channels_last, auto_precision


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
    ssim_window_size: int = Field(
        11, ge=3, description="SSIM/MS-SSIM Gaussian window side (odd: the window has a centre)."
    )
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
    lr_consistency_weight: float | None = Field(
        None,
        gt=0,
        description="Generator.lr_consistency soft: weight of the L1 distance between the "
        "degraded SR and the LR input (HR-normalised units); null means 1.0. Only with soft.",
    )
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

    @field_validator("ssim_window_size")
    @classmethod
    def _odd_window(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(
                f"must be odd (the Gaussian window has a centre pixel), found {value}; use "
                f"{value - 1} or {value + 1}"
            )
        return value

    @model_validator(mode="after")
    def _some_content_term(self) -> LossesConfig:
        if all(getattr(self, f"{name}_weight") == 0 for name in CONTENT_WEIGHT_KEYS):
            raise ValueError(
                "all content weights are 0; set at least one of "
                + ", ".join(f"{name}_weight" for name in CONTENT_WEIGHT_KEYS)
            )
        return self


class EMAConfig(Section):
    """Exponential moving average (EMA) of the generator's weights and buffers."""

    enabled: bool = Field(
        False,
        description="Keep an EMA copy of the generator; validation, test and prediction use it.",
    )
    decay: float = Field(0.999, gt=0, lt=1, description="EMA decay d: ema = d ema + (1 - d) w.")
    update_after_step: int = Field(
        0,
        ge=0,
        description="First generator step (own counter) that averages; before it the EMA "
        "copies the live weights after every step.",
    )
    update_every: int = Field(1, ge=1, description="Update the EMA every N generator steps.")
    use_warmup: bool = Field(
        False,
        description="Use decay min(decay, (1 + n) / (10 + n)) for the n-th update, so early "
        "averages are not dominated by the initial weights.",
    )
    device: str | None = Field(
        None,
        description="Device of the EMA copy (e.g. cpu to save GPU memory); null follows the model.",
    )


class TrainingConfig(Section):
    """How the generator and discriminator are trained."""

    seed: int = Field(42, description="Seed for Python, NumPy and torch (and dataloader workers).")
    manual_optimization: bool | None = Field(
        None,
        description="true: alternating updates with two optimisers (discriminator step, then "
        "generator step); false: one joint optimiser with a parameter group per network, "
        "stepped by Lightning; null: false on Lightning >= 2, true on Lightning 1.x.",
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        description="Length of the run in generator steps (the run's own counter, the same in "
        "both optimisation modes); the default `total_steps` of cosine schedules. null: the run "
        "ends by Lightning's `Trainer.max_epochs`/`Trainer.max_steps` (which counts every "
        "optimiser's steps: two per step in the alternating mode while the discriminator trains).",
    )
    max_nonfinite_steps: int = Field(
        10,
        ge=1,
        description="Stop the run after this many consecutive steps whose loss or gradients "
        "were NaN/Inf (each such step is skipped and counted).",
    )
    precision: PrecisionName = Field(
        "auto",
        description="Numeric precision: 32, 16 (16-mixed), bf16 (bf16-mixed), 64, any Lightning "
        "precision string, or auto: bf16-mixed on a CUDA GPU with bfloat16 and on a CPU with "
        "native bfloat16 (avx512_bf16/amx_bf16), else 32 (the run log says which and why; "
        "docs/performance.md has the measurements behind it).",
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
    channels_last: bool | Literal["auto"] = Field(
        "auto",
        description="Store generator and discriminator weights (and activations) in the "
        "channels-last memory format. auto: true on CPUs (faster oneDNN convolutions) and on "
        "CUDA GPUs with a 16-bit precision (tensor cores), false elsewhere (the run log says "
        "which and why; docs/performance.md has the measurements).",
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
    accelerator: str = Field(
        "auto", description="Lightning accelerator: auto, cpu, gpu, cuda, mps, ..."
    )
    devices: int | str | list[int] = Field(
        "auto", description="Devices per node: a count, a list of indices, or auto."
    )
    num_nodes: int = Field(1, ge=1, description="Machines taking part (multi-node DDP/FSDP).")
    strategy: str = Field(
        "auto",
        description="auto (one device; ddp when more), ddp, fsdp (FSDP2 via "
        "ModelParallelStrategy), deepspeed (CUDA only, joint mode only), or another name of "
        "Lightning's strategy registry passed as is (e.g. ddp_spawn).",
    )
    ddp: DDPConfig = Field(default_factory=DDPConfig, description="DDP options.")
    fsdp: FSDPConfig = Field(default_factory=FSDPConfig, description="FSDP options.")
    deepspeed: DeepSpeedConfig = Field(
        default_factory=DeepSpeedConfig, description="DeepSpeed options."
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

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value in PRODUCT_STRATEGIES:
            return value
        from ganlab._lightning import StrategyRegistry

        available = StrategyRegistry.available_strategies()
        if value not in available:
            names = [*PRODUCT_STRATEGIES, *available]
            close = difflib.get_close_matches(value, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(
                f"{value!r} is not a strategy: use one of {', '.join(PRODUCT_STRATEGIES)} or a "
                f"name of Lightning's strategy registry{hint}"
            )
        return value

    @model_validator(mode="after")
    def _deepspeed_needs_joint_mode(self) -> TrainingConfig:
        from ganlab._lightning import IS_LIGHTNING_2

        manual = self.manual_optimization
        if self.strategy == "deepspeed" and (manual or (manual is None and not IS_LIGHTNING_2)):
            raise ValueError(
                "strategy deepspeed takes exactly one optimiser, so it needs the joint mode; "
                "set manual_optimization: false (unset, it means true on Lightning 1.x)"
            )
        return self

    @model_validator(mode="after")
    def _available_on_installed_lightning(self) -> TrainingConfig:
        from ganlab._lightning import LIGHTNING_VERSION, missing_feature, trainer_precision

        if self.strategy == "fsdp":
            needed = missing_feature("fsdp")
            if needed is not None:
                raise ValueError(
                    f"strategy fsdp (FSDP2 through Lightning's ModelParallelStrategy) needs "
                    f"Lightning >= {needed}, but pytorch-lightning {LIGHTNING_VERSION} is "
                    'installed; use strategy ddp, or upgrade: pip install -U "pytorch-lightning'
                    f'>={needed}"'
                )
        if self.channels_last is True and self.strategy in UNSHARDABLE_LAYOUT_STRATEGIES:
            raise ValueError(
                f"channels_last: true does not work with strategy {self.strategy}, which shards "
                "parameters in the standard layout (FSDP2 refuses channels-last ones); set "
                "channels_last to auto or false"
            )
        try:
            trainer_precision(self.lightning_precision)
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self

    def precision_choice(self) -> tuple[str, str | None]:
        """``(Lightning precision, reason)``: ``auto`` resolved for this machine with the reason
        (:func:`ganlab.devices.auto_precision`); an explicit value with no reason."""
        if self.precision == "auto":
            return auto_precision(self.accelerator, self.strategy)
        return lightning_precision(self.precision), None

    def channels_last_choice(self) -> tuple[bool, str | None]:
        """``(channels_last, reason)``: ``auto`` resolved for this machine and precision with the
        reason (:func:`ganlab.devices.auto_channels_last`); an explicit value with no reason."""
        if self.channels_last == "auto":
            return auto_channels_last(self.accelerator, self.lightning_precision, self.strategy)
        return self.channels_last, None

    @property
    def lightning_precision(self) -> str:
        """The precision string Lightning expects (``auto`` resolved, see
        :meth:`precision_choice`)."""
        return self.precision_choice()[0]

    @property
    def use_channels_last(self) -> bool:
        """Whether the networks use the channels-last format (``auto`` resolved, see
        :meth:`channels_last_choice`)."""
        return self.channels_last_choice()[0]

    @property
    def fsdp_param_precision(self) -> Literal["bf16", "16"] | None:
        """16-bit dtype FSDP gathers parameters (and casts forward inputs) in:
        ``fsdp.mixed_precision``, else that of a bf16/16 ``precision``, else None (float32)."""
        if self.fsdp.mixed_precision is not None:
            return self.fsdp.mixed_precision
        precision = self.lightning_precision
        if precision.startswith("bf16"):
            return "bf16"
        return "16" if precision.startswith("16") else None

    @property
    def adversarial_start(self) -> int:
        """The generator step at which the adversarial phase (and discriminator training) starts."""
        return self.g_pretrain_steps if self.pretrain_g_only else 0

    def discriminator_updates(self, steps: int) -> int:
        """How many discriminator updates fall in the first ``steps`` generator steps.

        The discriminator is updated at generator steps ``start, start + interval, ...`` with
        ``start`` = :attr:`adversarial_start` and ``interval`` = ``d_update_interval``, so the
        update at step ``s`` is the discriminator's update number ``discriminator_updates(s)``.

        Example:
            >>> TrainingConfig(g_pretrain_steps=10, d_update_interval=2).discriminator_updates(15)
            3
        """
        return discriminator_updates(steps, self.adversarial_start, self.d_update_interval)


def discriminator_updates(steps: int, start: int, interval: int) -> int:
    """Discriminator updates in the first ``steps`` generator steps when it is updated at steps
    ``start, start + interval, ...`` (the one formula behind the phase, the R1 cadence and the
    discriminator's own schedule clock).

    Example:
        >>> discriminator_updates(15, start=10, interval=2)
        3
    """
    return max(0, -(-(steps - start) // interval))
