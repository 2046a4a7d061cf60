"""The `Model`, `Generator` and `Discriminator` sections: band counts, start point, networks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganlab.config.base import Section


class ModelConfig(Section):
    """What the networks see: band counts shared by generator and discriminator."""

    in_bands: int = Field(3, ge=1, description="Bands of the low-resolution input.")
    out_bands: int | None = Field(
        None, ge=1, description="Bands of the super-resolved output; null means `in_bands`."
    )

    continue_training: str | Literal[False] = Field(
        False,
        description="Resume a run with everything (weights, optimisers, schedules, EMA, step "
        "counter, phase, logger steps): a `.ckpt` path, `last` (the run folder's "
        "`checkpoints/last.ckpt`), `auto` (the newest checkpoint of `--run-dir` if it holds "
        "one, else a fresh start: for jobs that a scheduler requeues), or false.",
    )
    load_checkpoint: str | None = Field(
        None,
        description="Start from these weights only (a `.ckpt`: generator and, if present, "
        "discriminator; or a generator `.safetensors` export); optimisers and counters start "
        "fresh.",
    )

    @field_validator("continue_training", mode="before")
    @classmethod
    def _continue_training_value(cls, value: Any) -> Any:
        if value is None:
            return False
        if value is True:
            raise ValueError("give a checkpoint path or `last` (true is ambiguous)")
        return value

    @model_validator(mode="after")
    def _one_start_point(self) -> ModelConfig:
        if self.continue_training and self.load_checkpoint:
            raise ValueError(
                "set continue_training (resume everything) or load_checkpoint (weights only), "
                "not both"
            )
        return self

    @property
    def sr_bands(self) -> int:
        """Bands of the SR output: `out_bands`, or `in_bands` when it is unset."""
        return self.out_bands if self.out_bands is not None else self.in_bands


class GeneratorConfig(Section):
    """The super-resolution network."""

    model_type: str = Field(
        "srresnet",
        description="Registered generator (srresnet, rcan, rrdb, lka, swinir; `ganlab models "
        "list` describes them), or `package.module:Name`.",
    )
    scaling_factor: Literal[2, 3, 4, 8] = Field(4, description="Upscaling factor.")
    n_channels: int = Field(
        64, ge=1, description="Feature channels in the body (swinir: the embedding width)."
    )
    n_blocks: int = Field(
        16,
        ge=1,
        description="Blocks in the body: residual blocks (srresnet, rcan), RRDBs (rrdb), "
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
        description="rcan, swinir: blocks per residual group (a group ends with a conv and "
        "has its own skip).",
    )
    reduction: int = Field(
        16, ge=1, description="rcan: channel-attention reduction (hidden = n_channels / reduction)."
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

    lr_consistency: Literal["none", "hard", "soft"] = Field(
        "none",
        description="Keep the measurement: hard wraps the generator in a layer that corrects "
        "its output so that degrading it with the data's operator (blur, then "
        "`Data.downsample`) gives back the LR input exactly (area, no blur: in one step; "
        "bicubic or blur: `lr_consistency_iterations` conjugate-gradient steps); soft adds "
        "that error as a loss term (`Training.Losses.lr_consistency_weight`); none: neither. "
        "Needs in_bands == out_bands, affine normalisers without clip and a fixed blur "
        "(docs/losses.md, Faithful SR).",
    )
    lr_consistency_iterations: int = Field(
        30,
        ge=1,
        le=500,
        description="hard with a bicubic or blurred operator: conjugate-gradient steps of the "
        "projection (the consistency error left is logged as val/consistency_psnr).",
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
