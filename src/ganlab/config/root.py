"""The root :class:`Config`: the sections together, the `Trainer` pass-through and the checks
that span sections."""

from __future__ import annotations

import difflib
import logging
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from ganlab.config.base import Section
from ganlab.config.callbacks import CallbacksConfig, LoggingConfig
from ganlab.config.data import DataConfig, mtf_to_sigma
from ganlab.config.models import DiscriminatorConfig, GeneratorConfig, ModelConfig
from ganlab.config.optimization import OptimizersConfig, ScheduleConfig, SchedulersConfig
from ganlab.config.training import TrainingConfig

# Named after the public module, not this one: log filters (and tests) select the routing
# warnings by that name.
log = logging.getLogger("ganlab.config.schema")


# Trainer arguments the product sets itself: where to set them instead.
MANAGED_TRAINER_ARGUMENTS = {
    "callbacks": "configure callbacks under `Callbacks`",
    "logger": "choose loggers with `Logging.logger`",
    "default_root_dir": "use `ganlab train --run-dir DIR`",
    "plugins": "the product installs its own checkpoint plugin; use `Training` keys",
}

# Trainer arguments that also have a key of their own: `Trainer` name -> owning key.
# Precedence: the owning key when it is set in the config, else the `Trainer` value, else the
# owning key's default.
OWNED_TRAINER_ARGUMENTS = {
    "precision": "Training.precision",
    "accelerator": "Training.accelerator",
    "devices": "Training.devices",
    "num_nodes": "Training.num_nodes",
    "strategy": "Training.strategy",
    "gradient_clip_val": "Optimizers.gradient_clip_val",
    "gradient_clip_algorithm": "Optimizers.gradient_clip_algorithm",
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


def _check_data_bands(config: Config) -> None:
    """Per-band normaliser lists and band selections against the model's band counts."""
    data, model = config.Data, config.Model
    norm = data.normalization
    branch_names: tuple[Literal["lr", "hr"], ...] = ("lr", "hr")
    for branch in branch_names:
        key, count = (
            ("Model.in_bands", model.in_bands)
            if branch == "lr"
            else ("Model.out_bands", model.sr_bands)
        )
        own = (norm.lr if branch == "lr" else norm.hr) is not None
        where = f"Data.normalization.{branch}" if own else "Data.normalization"
        for name, values in norm.branch(branch).per_band_lists.items():
            if len(values) not in (1, count):
                fix = "" if own else ", or separate `lr:` / `hr:` specs"
                raise ValueError(
                    f"{where}.{name} has {len(values)} values but {key} is {count}; give one "
                    f"value per band (or one for all){fix}"
                )
    selections: list[tuple[str, list[int | str] | None, str, int]] = []
    if data.dataset == "paired":
        lr_key = "Data.lr_bands" if data.lr_bands is not None else "Data.bands"
        lr_selection = data.lr_bands if data.lr_bands is not None else data.bands
        selections.append((lr_key, lr_selection, "Model.in_bands", model.in_bands))
        selections.append(("Data.bands", data.bands, "Model.out_bands", model.sr_bands))
    else:
        selections.append(("Data.bands", data.bands, "Model.in_bands", model.in_bands))
    for name, selection, key, count in selections:
        if selection is not None and len(selection) != count:
            raise ValueError(
                f"{name} selects {len(selection)} bands but {key} is {count}; select one band "
                "per model band"
            )


def schedule_total_steps(config: Config, network: str) -> int | None:
    """The step (of the schedule's clock) where ``Schedulers.<network>``'s cosine decay ends:
    its ``total_steps``, else derived from ``Training.max_steps`` (None: neither is set)."""
    schedule: ScheduleConfig = getattr(config.Schedulers, network)
    if schedule.total_steps is not None:
        return schedule.total_steps
    max_steps = config.Training.max_steps
    if max_steps is None:
        return None
    if network == "discriminator" and schedule.clock == "updates":
        return config.Training.discriminator_updates(max_steps)
    return max_steps


HARD_MIN_MTF = 0.3
"""The strongest blur ``Generator.lr_consistency: hard`` accepts, as MTF at the LR Nyquist."""


def _check_lr_consistency(config: Config) -> None:
    """``Generator.lr_consistency`` needs a fixed linear operator between matching bands and
    normalisers that map physical values affinely and exactly."""
    mode = config.Generator.lr_consistency
    weight = config.Training.Losses.lr_consistency_weight
    if weight is not None and mode != "soft":
        raise ValueError(
            f"Training.Losses.lr_consistency_weight is set but Generator.lr_consistency is "
            f"{mode}; set Generator.lr_consistency: soft or remove the weight"
        )
    if mode == "none":
        return
    key = f"Generator.lr_consistency {mode}"
    if config.Model.sr_bands != config.Model.in_bands:
        raise ValueError(
            f"{key} compares the degraded SR with the LR input band by band, which needs "
            f"Model.out_bands ({config.Model.out_bands}) == Model.in_bands "
            f"({config.Model.in_bands}); set Generator.lr_consistency: none"
        )
    blur = config.Data.degradation.blur_sigma
    if config.Data.degradation.mtf_nyquist is None and not isinstance(blur, float | int):
        raise ValueError(
            f"{key} needs one degradation operator, but Data.degradation.blur_sigma is the "
            f"range {list(blur)}; give one sigma (or mtf_nyquist), or set "
            "Generator.lr_consistency: none"
        )
    scale = config.Generator.scaling_factor
    sigma = config.Data.degradation.operator_sigma(scale)
    strongest = mtf_to_sigma(HARD_MIN_MTF, scale)
    if mode == "hard" and sigma > strongest + 1e-9:
        raise ValueError(
            f"{key}: the blur (sigma {sigma:.3g} HR px) is stronger than MTF {HARD_MIN_MTF} at "
            f"the LR Nyquist (sigma {strongest:.3g} at x{scale}), where the projection no longer "
            "converges to the documented bound; use Generator.lr_consistency: soft"
        )
    training = config.Training
    if mode == "hard" and training.strategy == "fsdp" and training.fsdp_param_precision:
        raise ValueError(
            f"{key} with Training.strategy fsdp and a 16-bit parameter dtype: FSDP would cast "
            "the LR input the layer compares with to 16 bits; use float32 (Training.precision: "
            "32 and no Training.fsdp.mixed_precision), another strategy, or soft"
        )
    norm = config.Data.normalization
    for branch in ("lr", "hr"):
        spec = norm.branch(branch)
        name = f"Data.normalization.{branch}" if getattr(norm, branch) else "Data.normalization"
        if spec.type == "custom" or spec.clip:
            what = "is custom" if spec.type == "custom" else "clips"
            raise ValueError(
                f"{key} holds in physical units through the normalisers' exact per-band affine "
                f"maps, but {name} {what}; use a built-in type without clip"
            )


def _check_schedule_lengths(config: Config) -> None:
    for network in ("generator", "discriminator"):
        schedule: ScheduleConfig = getattr(config.Schedulers, network)
        if schedule.type != "cosine":
            continue
        total = schedule_total_steps(config, network)
        if total is None:
            raise ValueError(
                f"Schedulers.{network}: type cosine needs total_steps (the step where the decay "
                "ends) or Training.max_steps (the length of the run)"
            )
        if total <= schedule.warmup_steps:
            raise ValueError(
                f"Schedulers.{network}: the cosine decay ends at {network} {schedule.clock} "
                f"{total} (from Training.max_steps), which does not exceed warmup_steps "
                f"({schedule.warmup_steps}); set total_steps or a shorter warm-up"
            )


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

    def gradient_clipping(self) -> tuple[float | None, str]:
        """Clip value (None: off) and algorithm, from ``Optimizers``."""
        value = self.Optimizers.gradient_clip_val
        return (float(value) if value else None), self.Optimizers.gradient_clip_algorithm

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimiser step (``Trainer.accumulate_grad_batches``, default 1)."""
        return int(self.Trainer.get("accumulate_grad_batches") or 1)

    @model_validator(mode="before")
    @classmethod
    def _route_owned_trainer_arguments(cls, data: Any) -> Any:
        """Move Trainer arguments that have a key of their own to that key (see
        :data:`OWNED_TRAINER_ARGUMENTS`); a conflicting pair is logged, the own key wins."""
        if not isinstance(data, dict) or not isinstance(data.get("Trainer"), dict):
            return data
        data = dict(data)
        trainer = dict(data["Trainer"])
        for name, key in OWNED_TRAINER_ARGUMENTS.items():
            if name not in trainer:
                continue
            value = trainer.pop(name)
            section_name, field = key.split(".")
            section = data.get(section_name) or {}
            if isinstance(section, BaseModel):
                section = section.model_dump(exclude_unset=True)
            section = dict(section)
            if field in section and str(section[field]) != str(value):
                log.warning(
                    "%s=%s is used; Trainer.%s=%s is ignored (a key of its own wins over the "
                    "Trainer block)",
                    key,
                    section[field],
                    name,
                    value,
                )
            else:
                section[field] = value
            data[section_name] = section
        data["Trainer"] = trainer
        return data

    @field_validator("Trainer")
    @classmethod
    def _trainer_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trainer_arguments(value)

    @model_validator(mode="after")
    def _cross_section_checks(self) -> Config:
        accumulate = self.Trainer.get("accumulate_grad_batches")
        if accumulate is not None and (not isinstance(accumulate, int) or accumulate < 1):
            raise ValueError(
                f"Trainer.accumulate_grad_batches must be a positive integer, got {accumulate!r}"
            )
        lower_bounds = [k for k in ("min_steps", "min_epochs") if self.Trainer.get(k)]
        if self.Training.max_steps is not None and lower_bounds:
            raise ValueError(
                f"Training.max_steps ends the run, but Trainer.{lower_bounds[0]} keeps Lightning "
                "from stopping before it; remove one of them"
            )
        algorithm = self.Trainer.get("gradient_clip_algorithm")
        if algorithm not in (None, "norm", "value"):
            raise ValueError(
                f"Trainer.gradient_clip_algorithm={algorithm!r}: expected 'norm' or 'value'"
            )
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
        _check_data_bands(self)
        _check_schedule_lengths(self)
        if self.Generator.global_skip != "none" and self.Model.sr_bands != self.Model.in_bands:
            raise ValueError(
                "Generator.global_skip adds the interpolated input to the output, which needs "
                f"Model.out_bands ({self.Model.out_bands}) == Model.in_bands "
                f"({self.Model.in_bands}); set Generator.global_skip: none"
            )
        norm = self.Data.normalization
        if self.Generator.global_skip != "none" and norm.branch("lr") != norm.branch("hr"):
            raise ValueError(
                "Generator.global_skip adds the interpolated (LR-normalised) input to the "
                "(HR-normalised) output, which only fits when Data.normalization.lr and .hr are "
                "the same; set Generator.global_skip: none or use one normaliser for both"
            )
        _check_lr_consistency(self)
        display = self.Logging.display_bands
        if display is not None:
            bad = [b for b in display if not 0 <= b < self.Model.sr_bands]
            if bad or len(display) not in (1, 3):
                raise ValueError(
                    f"Logging.display_bands {display}: give 1 or 3 band indices in "
                    f"0..{self.Model.sr_bands - 1}"
                )
        return self
