"""The SR-GAN LightningModule: one step flow, two optimisation modes.

The module orchestrates. The step of each mode is a small object (:mod:`ganlab.engine.steps`),
the adversarial phase a schedule (:mod:`ganlab.engine.adversarial`), NaN/Inf handling a guard
(:mod:`ganlab.engine.stability`); models, losses, normalisers and metrics live in their own
packages, learning-rate schedules and the EMA in :mod:`ganlab.engine.schedules` and
:mod:`ganlab.engine.ema`.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from ganlab._lightning import (
    IS_LIGHTNING_2,
    LIGHTNING_VERSION,
    Callback,
    LightningModule,
    complete_loop_state,
    is_last_batch,
    is_model_parallel,
    rank_zero_info,
)
from ganlab.config.load import validate_config
from ganlab.config.schema import Config
from ganlab.data.normalizers import build_normalizers
from ganlab.distributed.sharding import ShardingPlan
from ganlab.engine.adversarial import AdversarialSchedule
from ganlab.engine.amp import gradient_scaler
from ganlab.engine.checkpoint import resume_problem
from ganlab.engine.ema import GeneratorEMA, generator_copy
from ganlab.engine.ema_swap import EMASwap
from ganlab.engine.hooks import GeneratorStepCallback
from ganlab.engine.optimizers import apply_optimizer_settings, build_optimizer, network_groups
from ganlab.engine.rng import gather_rng_states, restore_rng_states, states_for_this_rank
from ganlab.engine.schedules import NetworkSchedules
from ganlab.engine.stability import (
    NonFiniteGuard,
    NonFiniteTrainingError,
    clip_gradients,
    gradients_finite,
    on_every_rank,
    screen_gradients,
)
from ganlab.engine.steps import AlternatingStep, GANStep, JointStep
from ganlab.engine.validation import validation_outputs, validation_values
from ganlab.errors import CheckpointError
from ganlab.export import generator_description
from ganlab.losses import ContentLoss, GANObjective
from ganlab.metrics import FidelityQuality, ImageQuality
from ganlab.models import (
    build_discriminator,
    build_generator,
    lr_projection,
    prepare_for_training,
    sensor_operator,
    summarize_models,
)

log = logging.getLogger(__name__)

Batch = dict[str, Any]
Logs = dict[str, torch.Tensor | float]

__all__ = ["NonFiniteTrainingError", "SRGANModule", "resolve_manual_optimization"]


def resolve_manual_optimization(setting: bool | None) -> tuple[bool, str]:
    """The optimisation mode for ``Training.manual_optimization`` and the reason, for the log."""
    if setting is not None:
        return setting, f"Training.manual_optimization is {str(setting).lower()}"
    relation = ">=" if IS_LIGHTNING_2 else "<"
    reason = f"Training.manual_optimization is unset and Lightning {LIGHTNING_VERSION} {relation} 2"
    return not IS_LIGHTNING_2, reason


def _summary(generator: nn.Module, discriminator: nn.Module, config: Config) -> str:
    """The two-line model summary at the training crop size."""
    model, scale = config.Model, config.Generator.scaling_factor
    side = config.Data.hr_patch_size // scale
    return summarize_models(
        generator, discriminator, (side, side), model.in_bands, model.sr_bands, scale
    )


class SRGANModule(LightningModule):
    """Generator + discriminator trained as an SR-GAN.

    Every step: normalise LR/HR -> ``sr = generator(lr)`` -> content loss; in the adversarial
    phase the discriminator is updated every ``Training.d_update_interval`` steps and the
    generator loss gains the ramped adversarial (and feature-matching) terms; then the EMA
    follows the generator and the counters advance. The mode's step object
    (:class:`~ganlab.engine.steps.AlternatingStep` or :class:`~ganlab.engine.steps.JointStep`,
    ``Training.manual_optimization``) turns the losses into updates.

    :attr:`step_count` counts generator optimiser steps (one per ``accumulate_grad_batches``
    batches; Lightning's ``global_step`` counts each optimiser's) and drives phase, schedules,
    EMA and run length; :attr:`batches_seen` positions the data order (``ResumableShuffle``).

    Args:
        config: A validated :class:`Config` or its ``model_dump()`` (as saved in checkpoints).
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(config, Config):
            config = validate_config(config, source="checkpoint hyperparameters")
        self.config = config
        self.save_hyperparameters({"config": config.model_dump(mode="json")})
        manual, self.mode_reason = resolve_manual_optimization(config.Training.manual_optimization)
        self.automatic_optimization = not manual
        self.step: GANStep = AlternatingStep() if manual else JointStep()
        self.adversarial = AdversarialSchedule.from_config(config.Training)
        self.guard = NonFiniteGuard(config.Training.max_nonfinite_steps)
        self.schedules = NetworkSchedules.from_config(config)
        self.accumulate = config.accumulate_grad_batches
        self.clip_value, self.clip_algorithm = config.gradient_clipping()
        self.step_count = 0
        self.batches_seen = 0
        self._window_open = False
        self._resumed = False
        self._rng_to_restore: dict[str, Any] | None = None
        self.build_networks()
        training = config.Training
        self.content_loss = ContentLoss.from_config(training.Losses)
        soft = config.Generator.lr_consistency == "soft"
        self.soft_consistency = lr_projection(config) if soft else None
        self.soft_consistency_weight = training.Losses.lr_consistency_weight or 1.0
        self.gan_objective = GANObjective.from_config(training.Losses, training.label_smoothing)
        quality = (config.Model.sr_bands, config.Generator.scaling_factor, config.Logging.lpips)
        self.sr_quality = ImageQuality(*quality)
        # a bicubic baseline needs the same LR and SR bands
        same_bands = config.Model.sr_bands == config.Model.in_bands
        self.bicubic_quality = ImageQuality(*quality) if same_bands else None
        # fidelity compares with the LR input and the bicubic upsample: same bands needed too
        self.fidelity_quality = (
            FidelityQuality(config.Model.in_bands, sensor_operator(config)) if same_bands else None
        )

    def build_networks(self) -> None:
        """Generator, discriminator (channels-last/compiled on request), normalisers, EMA."""
        training = self.config.Training
        generator = build_generator(self.config)
        enabled = training.EMA.enabled
        self.ema = GeneratorEMA.from_config(generator, training.EMA) if enabled else None
        last, compiled = training.use_channels_last, training.compile
        self.generator = prepare_for_training(generator, last, compiled)
        self.discriminator = prepare_for_training(build_discriminator(self.config), last, compiled)
        self.lr_normalizer, self.hr_normalizer = build_normalizers(self.config)

    def configure_model(self) -> None:
        """Lightning's hook for parallelism: under ``Training.strategy: fsdp`` shard both
        networks with FSDP2 over the data-parallel mesh (:class:`ShardingPlan`)."""
        if self._trainer is None or not is_model_parallel(self.trainer.strategy):
            return
        if self.device_mesh is None:
            raise RuntimeError("ModelParallelStrategy set no device mesh before configure_model")
        mesh = self.device_mesh["data_parallel"]
        ShardingPlan.from_config(self.config).apply(self.generator, self.discriminator, mesh)

    def configure_callbacks(self) -> list[Callback]:
        """:class:`EMASwap` when the module keeps an EMA, so that validation, test and predict
        run the EMA generator also under a Trainer built by hand (Lightning replaces a
        callback of the same type that the Trainer already has)."""
        return [EMASwap()] if self.ema is not None else []

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Manual mode: ``[generator optimiser, discriminator optimiser]``; joint mode: one
        optimiser whose parameter groups are named ``generator`` and ``discriminator``. Rates
        follow ``Schedulers`` through the own step counter (no Lightning scheduler)."""
        opt = self.config.Optimizers
        generator, discriminator = network_groups(self.generator, self.discriminator, opt)
        if self.automatic_optimization:
            return [build_optimizer(generator + discriminator, opt)]
        return [build_optimizer(generator, opt), build_optimizer(discriminator, opt)]

    def on_fit_start(self) -> None:
        """Log the optimisation mode and a short summary of both networks."""
        mode = "joint (automatic)" if self.automatic_optimization else "alternating (manual)"
        rank_zero_info(f"Optimisation mode: {mode}, because {self.mode_reason}")
        if self.ema is not None:
            self.ema.to(self.device)
        rank_zero_info(_summary(self.generator, self.discriminator, self.config))

    def on_train_start(self) -> None:
        """On resume: put back the random states saved with the checkpoint (right before the
        first step) and apply the config's optimiser settings to the restored optimisers,
        logging what changed. Stop at once when ``Training.max_steps`` is already reached."""
        if self._rng_to_restore is not None:
            restore_rng_states(self._rng_to_restore)
            self._rng_to_restore = None
        if self._resumed:
            for change in apply_optimizer_settings(self.trainer.optimizers, self.config.Optimizers):
                rank_zero_info(f"Resuming with {change}")
        self.trainer.should_stop = self.trainer.should_stop or self._run_length_reached()

    def _run_length_reached(self) -> bool:
        max_steps = self.config.Training.max_steps
        return max_steps is not None and self.step_count >= max_steps

    # ---------------------------------------------------------------------------- step flow

    @property
    def adversarial_active(self) -> bool:
        """Whether the current step is in the adversarial phase."""
        return self.adversarial.active(self.step_count)

    def adversarial_weight(self, step: int | None = None) -> float:
        """Weight of the generator's adversarial term at ``step`` (default: the current one)."""
        return self.adversarial.weight(self.step_count if step is None else step)

    def discriminator_due(self, step: int | None = None) -> bool:
        """Whether the discriminator is updated at ``step`` (default: the current one)."""
        return self.adversarial.discriminator_due(self.step_count if step is None else step)

    @property
    def nonfinite_total(self) -> int:
        """Steps skipped so far for NaN/Inf losses or gradients."""
        return self.guard.total

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Super-resolve normalised ``lr`` ``[B, C, h, w]`` into normalised SR."""
        return self.generator(lr)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        """Normalise, set the learning rates of this step, run the mode's step."""
        lr = self.lr_normalizer.normalize(batch["lr"])
        hr = self.hr_normalizer.normalize(batch["hr"])
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                factor = self.schedules.factor(group["name"], self.step_count)
                group["lr"] = group["base_lr"] * factor
        return self.step.run(self, lr, hr, self._window_ends(batch_idx))

    def finite(self, loss: torch.Tensor, name: str) -> bool:
        """Whether ``loss`` is finite on every rank; otherwise the step skips its update."""
        if on_every_rank(self.trainer, bool(torch.isfinite(loss.detach())), self.device):
            return True
        log.warning(
            "step %d: non-finite %s (%s); its update is skipped", self.step_count, name, loss
        )
        self.guard.mark()
        return False

    def log_step(self, logs: Logs, batch_size: int) -> None:
        """Log a step's scalars with the phase, step and non-finite count."""
        logs["train/phase"] = float(self.adversarial_active)
        logs["train/step"] = float(self.step_count)
        logs["train/nonfinite_steps"] = float(self.guard.total)
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=batch_size)

    def _window_ends(self, batch_idx: int) -> bool:
        """Whether this batch completes an accumulation window (an optimiser step): every
        ``accumulate`` batches and at the epoch's last batch (see :func:`is_last_batch`)."""
        return (batch_idx + 1) % self.accumulate == 0 or is_last_batch(self.trainer, batch_idx)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Drop non-finite gradients (skipping that network's update) and clip each network's;
        see :func:`ganlab.engine.stability.screen_gradients`."""
        skip_all = self.automatic_optimization and self.guard.this_step
        checked = gradient_scaler(self.trainer) is None  # a scaler handles overflows itself

        def finite(params: list[torch.Tensor]) -> bool:
            return on_every_rank(self.trainer, gradients_finite(params), self.device)

        kept, dropped = screen_gradients(optimizer, skip_all, finite if checked else None)
        for name in dropped:
            log.warning("step %d: non-finite %s gradients; skipped", self.step_count, name)
            self.guard.mark()
        for params in kept.values():
            clip_gradients(params, self.clip_value, self.clip_algorithm)

    def on_validation_model_zero_grad(self) -> None:
        """Keep the gradients of an open accumulation window through a mid-epoch validation, in
        both modes (Lightning 2.x does not ask while it accumulates itself; 1.x always zeroes,
        which the compatibility module routes here)."""
        if not self._window_open:
            super().on_validation_model_zero_grad()

    def on_train_batch_end(self, outputs: Any, batch: Batch, batch_idx: int) -> None:
        """After an optimiser step: non-finite bookkeeping, EMA, own counter, run length; then
        the ``on_generator_step`` hook of every :class:`GeneratorStepCallback` (which thus sees
        the updated counter and EMA, unlike callbacks' Lightning ``on_train_batch_end``)."""
        self.batches_seen += 1
        self._window_open = not self._window_ends(batch_idx)
        if self._window_open:
            return
        if not self.guard.end_step(self.step_count) and self.ema is not None:
            self.ema.follow(self.generator, self.step_count)
        self.step_count += 1
        if self._run_length_reached():
            self.trainer.should_stop = True
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(callback, GeneratorStepCallback):
                callback.on_generator_step(self.trainer, self, self.step_count)

    # ---------------------------------------------------------------------------- validation

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        """SR (and bicubic) quality; returns ``{lr, sr, hr, bicubic?, meta}`` in physical units
        for callbacks (see :func:`ganlab.engine.validation.validation_outputs`)."""
        sr = self.generator(self.lr_normalizer.normalize(batch["lr"]))
        scale = self.config.Generator.scaling_factor
        qualities = (self.sr_quality, self.bicubic_quality, self.fidelity_quality)
        return validation_outputs(batch, sr, self.hr_normalizer, scale, *qualities)

    def on_validation_epoch_end(self) -> None:
        """Log ``val/<metric>``, ``val/<metric>_bicubic`` and ``val/psnr_gain``; feed plateau
        schedules."""
        values = validation_values(
            self.sr_quality, self.bicubic_quality, fidelity_quality=self.fidelity_quality
        )
        self.log_dict(values, sync_dist=False)
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit":
            self.schedules.observe({name: float(value) for name, value in values.items()})

    # ---------------------------------------------------------------------- test and predict

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        """As :meth:`validation_step`; the metrics are logged under ``test/``."""
        return self.validation_step(batch, batch_idx)

    def on_test_epoch_end(self) -> None:
        """Log ``test/<metric>``, ``test/<metric>_bicubic`` and ``test/psnr_gain``."""
        qualities = (self.sr_quality, self.bicubic_quality)
        self.log_dict(validation_values(*qualities, "test", self.fidelity_quality))

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> Batch:
        """SR of the batch's LR in physical units: ``{"sr": [B, C_out, H, W], "meta": ...}``
        (the batch's metadata). With an EMA, callbacks swap its weights in (``EMASwap``).
        For files of any size use :class:`ganlab.SuperResolver` (tiles)."""
        sr = self.generator(self.lr_normalizer.normalize(batch["lr"]))
        return {"sr": self.hr_normalizer.denormalize(sr), "meta": batch.get("meta")}

    # --------------------------------------------------------------------------- checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the own counters, non-finite counts, plateau states, the EMA, every rank's
        random states and what rebuilds the generator (for the exports, :mod:`ganlab.export`)."""
        checkpoint["ganlab"] = {
            "manual_optimization": not self.automatic_optimization,
            "step_count": self.step_count,
            "batches_seen": self.batches_seen,
            **self.guard.state_dict(),
            "rng": gather_rng_states(),
            "schedules": self.schedules.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "generator": generator_description(self.generator, self.config),
            "device_choices": self.device_choices(),
        }
        complete_loop_state(self._trainer, checkpoint)

    def device_choices(self) -> dict[str, Any]:
        """Precision and memory format as resolved for this machine (``auto`` follows it)."""
        training = self.config.Training
        return {
            "precision": training.lightning_precision,
            "channels_last": training.use_channels_last,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` stored (random states in
        :meth:`on_train_start`, once Lightning's set-up has drawn what it draws)."""
        state = checkpoint.get("ganlab", {})
        if self._trainer is not None and self.trainer.state.fn == "fit":
            problem = resume_problem(checkpoint, not self.automatic_optimization, "to resume")
            if problem is not None:
                raise CheckpointError(problem)
            before, now = state.get("device_choices"), self.device_choices()
            if before is not None and before != now:
                changes = ", ".join(
                    f"{key} {before.get(key)} -> {value}"
                    for key, value in now.items()
                    if before.get(key) != value
                )
                log.warning(
                    "Resuming with other device choices than the run started with (%s): "
                    "Training.precision/channels_last auto follow the machine; set them "
                    "explicitly to keep the earlier ones.",
                    changes,
                )
        self._resumed = True
        self.step_count = int(state.get("step_count", 0))
        self.batches_seen = int(state.get("batches_seen", 0))
        self.guard.load_state_dict(state)
        self._rng_to_restore = states_for_this_rank(state.get("rng"))
        self.schedules.load_state_dict(state.get("schedules") or {})
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])

    def ema_generator(self) -> nn.Module:
        """A copy of the generator holding the EMA weights (the raw generator without EMA); see
        :func:`ganlab.engine.ema.generator_copy` (under FSDP every rank must call it)."""
        return generator_copy(self.generator, self.ema, lambda: build_generator(self.config))
