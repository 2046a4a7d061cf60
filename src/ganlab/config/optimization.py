"""The `Optimizers` and `Schedulers` sections: optimisers and learning-rate schedules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ganlab.config.base import Section


class OptimizersConfig(Section):
    """Optimisers of the two networks."""

    optimizer: Literal["adam", "adamw"] = Field("adam", description="Optimiser for both networks.")
    optim_g_lr: float = Field(2e-4, gt=0, description="Generator learning rate.")
    optim_d_lr: float | None = Field(
        None,
        gt=0,
        description="Discriminator learning rate; null means `d_lr_ratio` x `optim_g_lr` "
        "(two time-scale updates).",
    )
    d_lr_ratio: float = Field(
        0.5,
        gt=0,
        description="Discriminator rate as a fraction of the generator's when "
        "`optim_d_lr` is null.",
    )
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas for both networks.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon for both networks.")
    weight_decay: float = Field(
        0.0,
        ge=0,
        description="Weight decay for both networks; never applied to biases and normalisation "
        "parameters (1-D tensors).",
    )
    gradient_clip_val: float | None = Field(
        None,
        gt=0,
        description="Clip each network's gradients to this norm (or value) before its step; "
        "null: no clipping. Same as Trainer.gradient_clip_val.",
    )
    gradient_clip_algorithm: Literal["norm", "value"] = Field(
        "norm", description="Clip by total norm or elementwise by value."
    )

    @property
    def discriminator_lr(self) -> float:
        """The discriminator learning rate with the default applied."""
        return self.optim_d_lr if self.optim_d_lr is not None else self.d_lr_ratio * self.optim_g_lr


class ScheduleConfig(Section):
    """Learning-rate factor over the module's own step counter (one step per batch)."""

    type: Literal["constant", "cosine", "step", "plateau"] = Field(
        "constant",
        description="constant: the base rate; cosine: decays to `min_lr_ratio` x base at "
        "`total_steps`; step: multiplied by `gamma` every `step_size` steps; plateau: "
        "multiplied by `gamma` when `monitor` has not improved for `patience` validations.",
    )
    warmup_steps: int = Field(
        0, ge=0, description="Steps of linear warm-up from base/warmup_steps to the base rate."
    )
    total_steps: int | None = Field(
        None,
        gt=0,
        description="cosine: step at which the decay ends (warm-up included), counted by "
        "`clock`; null: the end of the run, `Training.max_steps` (for the discriminator with "
        "clock updates: its number of updates in `Training.max_steps` steps).",
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="cosine: final rate as a fraction of the base rate."
    )
    step_size: int | None = Field(None, gt=0, description="step: steps between decays.")
    gamma: float = Field(0.5, gt=0, le=1, description="step/plateau: factor at each decay.")
    monitor: str = Field("val/psnr", description="plateau: the validation metric watched.")
    mode: Literal["max", "min"] = Field("max", description="plateau: whether higher is better.")
    patience: int = Field(
        3, ge=0, description="plateau: validations without improvement before a decay."
    )
    min_delta: float = Field(0.0, ge=0, description="plateau: smallest change that counts.")
    clock: Literal["updates", "steps"] = Field(
        "updates",
        description="What the schedule counts: updates: the network's own optimiser updates (the "
        "discriminator's first update, at the start of the adversarial phase, is its update 0, "
        "so its warm-up is not spent during generator pretraining); steps: the run's generator "
        "steps. The same for the generator.",
    )

    @model_validator(mode="after")
    def _check_type_parameters(self) -> ScheduleConfig:
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
