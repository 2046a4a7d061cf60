"""The SR-GAN LightningModule: one step flow, two optimisation modes.

The module orchestrates; models, losses, normalisers and metrics live in their own packages,
schedules and EMA in :mod:`ganlab.engine.schedules` and :mod:`ganlab.engine.ema`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import nn

from ganlab._lightning import IS_LIGHTNING_2, LIGHTNING_VERSION, pl, rank_zero_info
from ganlab.config.load import validate_config
from ganlab.config.schema import Config
from ganlab.data.normalizers import build_normalizers
from ganlab.distributed.sharding import ShardingPlan, is_sharded
from ganlab.distributed.tensors import full_state_dict
from ganlab.engine.amp import gradient_scaler, one_scale_update
from ganlab.engine.ema import GeneratorEMA
from ganlab.engine.hooks import GeneratorStepCallback
from ganlab.engine.optimizers import apply_optimizer_settings, build_optimizer, network_groups
from ganlab.engine.rng import gather_rng_states, restore_rng_states, states_for_this_rank
from ganlab.engine.schedules import NetworkSchedules
from ganlab.errors import TrainingFailure
from ganlab.export import generator_description
from ganlab.losses import ContentLoss, GANObjective
from ganlab.metrics import ImageQuality
from ganlab.models import (
    build_discriminator,
    build_generator,
    prepare_for_training,
    summarize_models,
)
from ganlab.models.generators import interpolate
from ganlab.models.prepare import unwrapped

log = logging.getLogger(__name__)

Batch = dict[str, Any]
Logs = dict[str, torch.Tensor | float]


class NonFiniteTrainingError(TrainingFailure):
    """Too many consecutive steps had NaN/Inf losses or gradients."""


def resolve_manual_optimization(setting: bool | None) -> tuple[bool, str]:
    """The optimisation mode for ``Training.manual_optimization`` and the reason, for the log."""
    if setting is not None:
        return setting, f"Training.manual_optimization is {str(setting).lower()}"
    if IS_LIGHTNING_2:
        return (
            False,
            f"Training.manual_optimization is unset and Lightning {LIGHTNING_VERSION} >= 2",
        )
    return True, f"Training.manual_optimization is unset and Lightning {LIGHTNING_VERSION} < 2"


class SRGANModule(pl.LightningModule):
    """Generator + discriminator trained as an SR-GAN.

    Every step: normalise LR/HR -> ``sr = generator(lr)`` -> content loss; in the adversarial
    phase the discriminator is updated every ``Training.d_update_interval`` steps (real = HR,
    fake = detached SR) and the generator loss gains the ramped adversarial (and
    feature-matching) terms; the EMA follows each generator step.

    Two modes run that flow (``Training.manual_optimization``):

    * alternating (manual): two optimisers, discriminator step then generator step; the module
      applies clipping and gradient accumulation itself;
    * joint (automatic): one optimiser with a parameter group per network and one backward of
      ``d_loss + g_loss``; the discriminator is frozen while the generator's adversarial terms
      are computed, so neither loss puts gradients on the other network.

    :attr:`step_count` counts optimiser steps of the generator (one per
    ``accumulate_grad_batches`` batches) and drives phase, ramp, cadence, schedules, EMA and the
    run length (``Training.max_steps``); Lightning's ``global_step`` counts each optimiser's
    steps in manual mode. :attr:`batches_seen` counts training batches and positions the data
    order (see :class:`ganlab.data.sampling.ResumableShuffle`).

    Args:
        config: A validated :class:`Config` or its ``model_dump()`` (as saved in checkpoints).
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(config, Config):
            config = validate_config(config, source="checkpoint hyperparameters")
        self.config = config
        self.save_hyperparameters({"config": config.model_dump(mode="json")})
        manual, reason = resolve_manual_optimization(config.Training.manual_optimization)
        self.automatic_optimization = not manual
        self.mode_reason = reason
        self.step_count = 0
        self.batches_seen = 0
        self.nonfinite_total = 0
        self._nonfinite_consecutive = 0
        self._nonfinite_this_step = False
        self._rng_to_restore: dict[str, Any] | None = None
        self._resumed = False
        self._window_open = False
        self.accumulate = config.accumulate_grad_batches
        self.clip_value, self.clip_algorithm = config.gradient_clipping()
        self.schedules = NetworkSchedules(config)
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()

    # ------------------------------------------------------------------------- configuration

    def configure_models(self) -> None:
        """Generator, discriminator (channels-last/compiled on request), normaliser, EMA."""
        training = self.config.Training
        generator = build_generator(self.config)
        self.ema = (
            GeneratorEMA.from_config(generator, training.EMA) if training.EMA.enabled else None
        )
        self.generator = prepare_for_training(
            generator, channels_last=training.channels_last, compile=training.compile
        )
        self.discriminator = prepare_for_training(
            build_discriminator(self.config),
            channels_last=training.channels_last,
            compile=training.compile,
        )
        self.lr_normalizer, self.hr_normalizer = build_normalizers(self.config)

    def configure_model(self) -> None:
        """Lightning's hook for parallelism (not :meth:`configure_models`, which builds the
        networks): under ``Training.strategy: fsdp`` shard both networks with FSDP2 over the
        data-parallel mesh (see :class:`ganlab.distributed.sharding.ShardingPlan`)."""
        if self._trainer is None or not isinstance(
            self.trainer.strategy, pl.strategies.ModelParallelStrategy
        ):
            return
        mesh = self.device_mesh
        if mesh is None:
            raise RuntimeError("ModelParallelStrategy set no device mesh before configure_model")
        ShardingPlan.from_config(self.config).apply(
            self.generator, self.discriminator, mesh["data_parallel"]
        )

    def configure_losses(self) -> None:
        """The weighted content loss and the adversarial objective."""
        training = self.config.Training
        self.content_loss = ContentLoss.from_config(training.Losses)
        self.gan_objective = GANObjective(training.Losses, training.label_smoothing)

    def configure_metrics(self) -> None:
        """Validation quality of SR and of the bicubic baseline (when LR and SR bands match)."""
        bands = self.config.Model.output_bands
        scale = self.config.Generator.scaling_factor
        lpips = self.config.Logging.lpips
        self.sr_quality = ImageQuality(bands, scale, lpips)
        self.bicubic_quality = (
            ImageQuality(bands, scale, lpips) if bands == self.config.Model.in_bands else None
        )

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Manual mode: ``[generator optimiser, discriminator optimiser]``; joint mode: one
        optimiser whose parameter groups are named ``generator`` and ``discriminator``.

        Learning rates follow ``Schedulers``: the module sets each group's rate from its own
        step counter before every step, so no Lightning scheduler is involved.
        """
        opt = self.config.Optimizers
        generator_groups, discriminator_groups = network_groups(
            self.generator, self.discriminator, opt
        )
        if self.automatic_optimization:
            return [build_optimizer(generator_groups + discriminator_groups, opt)]
        return [build_optimizer(generator_groups, opt), build_optimizer(discriminator_groups, opt)]

    def on_train_start(self) -> None:
        """On resume: put back the random states saved with the checkpoint (after Lightning's
        set-up, right before the first step) and apply the config's optimiser settings to the
        restored optimisers, logging what changed. Stop at once when ``Training.max_steps`` is
        already reached."""
        if self._rng_to_restore is not None:
            restore_rng_states(self._rng_to_restore)
            self._rng_to_restore = None
        if self._resumed:
            for change in apply_optimizer_settings(self.trainer.optimizers, self.config.Optimizers):
                rank_zero_info(f"Resuming with {change}")
        if self._run_length_reached():
            self.trainer.should_stop = True

    def _run_length_reached(self) -> bool:
        max_steps = self.config.Training.max_steps
        return max_steps is not None and self.step_count >= max_steps

    def on_validation_model_zero_grad(self) -> None:
        """Keep the gradients of an open accumulation window in the alternating mode: Lightning
        zeroes gradients before a mid-epoch validation unless it accumulates itself, and in this
        mode the module accumulates (Lightning's own ``accumulate_grad_batches`` is 1)."""
        if not self.automatic_optimization and self._window_open:
            return
        super().on_validation_model_zero_grad()

    def on_fit_start(self) -> None:
        """Log the optimisation mode and a short summary of both networks."""
        mode = "joint (automatic)" if self.automatic_optimization else "alternating (manual)"
        rank_zero_info(f"Optimisation mode: {mode}, because {self.mode_reason}")
        if self.ema is not None:
            self.ema.to(self.device)
        config = self.config
        side = config.Data.hr_patch_size // config.Generator.scaling_factor
        rank_zero_info(
            summarize_models(
                self.generator,
                self.discriminator,
                (side, side),
                in_bands=config.Model.in_bands,
                out_bands=config.Model.output_bands,
                scale=config.Generator.scaling_factor,
            )
        )

    # ------------------------------------------------------------------------------ schedule

    @property
    def adversarial_active(self) -> bool:
        """Whether the current step is in the adversarial phase."""
        training = self.config.Training
        return not training.pretrain_g_only or self.step_count >= training.g_pretrain_steps

    def adversarial_ramp(self, step: int | None = None) -> float:
        """Fraction 0..1 of the adversarial and feature-matching weights at ``step``.

        0 before the adversarial phase; then rises linearly over ``adv_loss_ramp_steps`` steps
        and reaches 1 on the last ramp step (at once when ``adv_loss_ramp_steps`` is 0).
        """
        step = self.step_count if step is None else step
        training = self.config.Training
        into_phase = step - self.config.Training.adversarial_start
        if into_phase < 0:
            return 0.0
        if training.adv_loss_ramp_steps == 0:
            return 1.0
        return min(1.0, (into_phase + 1) / training.adv_loss_ramp_steps)

    def adversarial_weight(self, step: int | None = None) -> float:
        """Weight of the generator's adversarial term at ``step``: ramp x ``adv_loss_beta``."""
        return self.adversarial_ramp(step) * self.config.Training.Losses.adv_loss_beta

    def discriminator_due(self, step: int | None = None) -> bool:
        """Whether the discriminator is updated at ``step`` (default: the current step)."""
        step = self.step_count if step is None else step
        into_phase = step - self.config.Training.adversarial_start
        return into_phase >= 0 and into_phase % self.config.Training.d_update_interval == 0

    def _apply_schedules(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """Set every parameter group's rate for the current step from ``Schedulers``."""
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * self.schedules.factor(
                    group["name"], self.step_count
                )

    # ---------------------------------------------------------------------------- step flow

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Super-resolve normalised ``lr`` ``[B, C, h, w]`` into normalised SR."""
        return self.generator(lr)

    def _discriminator_loss(self, hr: torch.Tensor, sr: torch.Tensor) -> tuple[torch.Tensor, Logs]:
        update_index = self.config.Training.discriminator_updates(self.step_count)
        loss, logs = self.gan_objective.discriminator_step_loss(
            self.discriminator, hr, sr, update_index
        )
        return loss, {f"train/{name}": value for name, value in logs.items()}

    def _generator_loss(
        self, hr: torch.Tensor, sr: torch.Tensor, adversarial: bool
    ) -> tuple[torch.Tensor, Logs]:
        """Content loss plus, in the adversarial phase, the ramped adversarial and
        feature-matching terms. The caller freezes the discriminator."""
        content, terms = self.content_loss(sr, hr)
        logs: Logs = {f"train/{name}": value.detach() for name, value in terms.items()}
        logs["train/content"] = content.detach()
        loss = content
        if adversarial:
            ramp = self.adversarial_ramp()
            weight = ramp * self.config.Training.Losses.adv_loss_beta
            g_adv, matching = self.gan_objective.generator_terms(self.discriminator, hr, sr)
            loss = loss + weight * g_adv
            if matching is not None:
                loss = loss + ramp * self.gan_objective.feature_matching_weight * matching
                logs["train/feature_matching"] = matching.detach()
            logs["train/g_adv"] = g_adv.detach()
            logs["train/adv_weight"] = weight
        logs["train/g_loss"] = loss.detach()
        return loss, logs

    def _window_ends(self, batch_idx: int) -> bool:
        """Whether this batch completes an accumulation window (an optimiser step)."""
        return (batch_idx + 1) % self.accumulate == 0 or bool(self.trainer.is_last_batch)

    def _on_every_rank(self, ok: bool) -> bool:
        """``ok`` only when it holds on every process, so that all ranks skip the same
        updates: DDP/FSDP collectives hang when one rank skips a backward the others run."""
        world_size = self.trainer.world_size
        if world_size == 1:
            return ok
        votes = self.trainer.strategy.reduce(
            torch.tensor(float(ok), device=self.device), reduce_op="sum"
        )
        return bool(votes.item() == world_size)

    def _finite(self, loss: torch.Tensor, name: str) -> bool:
        """Check a loss (one host sync, plus one all-reduce with several processes); a
        non-finite loss on any rank marks the step as skipped on all of them."""
        if self._on_every_rank(bool(torch.isfinite(loss.detach()))):
            return True
        log.warning(
            "step %d: non-finite %s (%s); its update is skipped", self.step_count, name, loss
        )
        self._nonfinite_this_step = True
        return False

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        """One step of the configured mode; see the class docstring."""
        lr = self.lr_normalizer.normalize(batch["lr"])
        hr = self.hr_normalizer.normalize(batch["hr"])
        if self.automatic_optimization:
            optimizer = self.optimizers()
            self._apply_schedules([optimizer.optimizer])  # type: ignore[union-attr]
            return self._joint_step(lr, hr)
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]
        self._apply_schedules([opt_g.optimizer, opt_d.optimizer])
        self._alternating_step(lr, hr, opt_g, opt_d, self._window_ends(batch_idx))
        return None

    def _joint_step(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor | None:
        sr = self.generator(lr)
        adversarial = self.adversarial_active
        logs: Logs = {}
        total = sr.new_zeros(())
        if adversarial and self.discriminator_due():
            d_loss, d_logs = self._discriminator_loss(hr, sr)
            total = total + d_loss
            logs.update(d_logs)
        # freeze D for the generator's terms; restore each parameter's own flag afterwards, so
        # a deliberately frozen part of a plugin discriminator stays frozen
        trainable = [p.requires_grad for p in self.discriminator.parameters()]
        self.discriminator.requires_grad_(False)
        try:
            g_loss, g_logs = self._generator_loss(hr, sr, adversarial)
        finally:
            for param, flag in zip(self.discriminator.parameters(), trainable, strict=True):
                param.requires_grad_(flag)
        logs.update(g_logs)
        self._log_step(logs, lr.shape[0])
        total = total + g_loss
        if not self._finite(total, "loss"):
            if isinstance(self.trainer.strategy, pl.strategies.DeepSpeedStrategy):
                raise NonFiniteTrainingError(
                    f"step {self.step_count}: non-finite loss under Training.strategy=deepspeed. "
                    "DeepSpeed's engine cannot skip a step Lightning has started, so "
                    "Training.max_nonfinite_steps does not apply there and the run stops; the "
                    "checkpoints already written are untouched. Resume from the last one with "
                    "lower learning rates or Optimizers.gradient_clip_val, or check the data."
                )
            # a zero loss on every parameter instead of skipping backward: it keeps DDP's
            # all-reduce in step on every rank, and on_before_optimizer_step drops the
            # gradients so that the optimiser (and a gradient scaler) step on nothing
            return sum(
                (p.sum() * 0.0 for p in self.parameters() if p.requires_grad), sr.new_zeros(())
            )
        return total  # Lightning divides by accumulate_grad_batches itself

    def _alternating_step(
        self, lr: torch.Tensor, hr: torch.Tensor, opt_g: Any, opt_d: Any, window_ends: bool
    ) -> None:
        sr = self.generator(lr)
        adversarial = self.adversarial_active
        logs: Logs = {}
        # under float16 the scale changes once, after both networks stepped, never between one
        # network's micro-batch backwards (see ganlab.engine.amp)
        with one_scale_update(gradient_scaler(self.trainer) if window_ends else None):
            if adversarial and self.discriminator_due():
                self.toggle_optimizer(opt_d)
                try:
                    d_loss, d_logs = self._discriminator_loss(hr, sr)
                    logs.update(d_logs)
                    if self._finite(d_loss, "discriminator loss"):
                        self.manual_backward(d_loss / self.accumulate)
                    if window_ends:
                        _step_if_gradients(opt_d)
                finally:
                    self.untoggle_optimizer(opt_d)
            self.toggle_optimizer(opt_g)
            try:
                g_loss, g_logs = self._generator_loss(hr, sr, adversarial)
                logs.update(g_logs)
                if self._finite(g_loss, "generator loss"):
                    self.manual_backward(g_loss / self.accumulate)
                if window_ends:
                    _step_if_gradients(opt_g)
            finally:
                self.untoggle_optimizer(opt_g)
        self._log_step(logs, lr.shape[0])

    def _log_step(self, logs: Logs, batch_size: int) -> None:
        logs["train/phase"] = float(self.adversarial_active)
        logs["train/step"] = float(self.step_count)
        logs["train/nonfinite_steps"] = float(self.nonfinite_total)
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=batch_size)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Drop non-finite gradients (skipping the update) and clip each network's gradients.

        Gradients are unscaled here under 16-mixed. With a gradient scaler, overflowing
        gradients are the scaler's business (it skips the step and lowers the scale), so they
        are not counted as failures. A joint step whose loss was non-finite drops every
        gradient, with or without a scaler: the optimiser then steps on nothing, so parameters
        and optimiser state (moments, step counts) stay as they were.
        """
        groups: dict[str, list[torch.Tensor]] = {}
        for group in optimizer.param_groups:
            grads = [p for p in group["params"] if p.grad is not None]
            groups.setdefault(group["name"], []).extend(grads)
        scaler = gradient_scaler(self.trainer)
        if self.automatic_optimization and self._nonfinite_this_step:
            # the joint step's loss was non-finite on some rank (see _joint_step)
            for params in groups.values():
                for param in params:
                    param.grad = None
            return
        for name, params in groups.items():
            if not params:
                continue
            if scaler is None and not self._on_every_rank(_grads_finite(params)):
                log.warning(
                    "step %d: non-finite %s gradients; its update is skipped", self.step_count, name
                )
                self._nonfinite_this_step = True
                for param in params:
                    param.grad = None
                continue
            if self.clip_value:
                if self.clip_algorithm == "value":
                    nn.utils.clip_grad_value_(params, self.clip_value)
                else:
                    nn.utils.clip_grad_norm_(params, self.clip_value)

    def on_train_batch_end(self, outputs: Any, batch: Batch, batch_idx: int) -> None:
        """After an optimiser step: EMA update, own counter, non-finite bookkeeping; then the
        ``on_generator_step`` hook of every :class:`GeneratorStepCallback` (which therefore sees
        the updated counter and EMA, unlike Lightning's ``on_train_batch_end`` of callbacks,
        which runs before this hook)."""
        self.batches_seen += 1
        self._window_open = not self._window_ends(batch_idx)
        if self._window_open:
            return
        if self._nonfinite_this_step:
            self.nonfinite_total += 1
            self._nonfinite_consecutive += 1
            self._nonfinite_this_step = False
            limit = self.config.Training.max_nonfinite_steps
            if self._nonfinite_consecutive >= limit:
                raise NonFiniteTrainingError(
                    f"{self._nonfinite_consecutive} consecutive steps (up to step "
                    f"{self.step_count}) had NaN/Inf losses or gradients and were skipped "
                    f"(Training.max_nonfinite_steps={limit}). Lower the learning rates, enable "
                    "Optimizers.gradient_clip_val, or check the data; the checkpoints already "
                    "written are untouched."
                )
        else:
            self._nonfinite_consecutive = 0
            if self.ema is not None:
                self.ema.follow(self.generator, self.step_count)
        self.step_count += 1
        if self._run_length_reached():
            self.trainer.should_stop = True
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(callback, GeneratorStepCallback):
                callback.on_generator_step(self.trainer, self, self.step_count)

    # ---------------------------------------------------------------------------- validation

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        """SR and bicubic quality; returns ``{lr, bicubic, sr, hr}`` in physical units (the
        bicubic image only when LR and SR bands match) and the batch's ``meta``, for callbacks
        (panels, extra validation hooks).

        The bicubic baseline is interpolated in physical units and compared in HR units (exact
        also with different LR/HR normalisers: bicubic weights sum to 1, so interpolation
        commutes with per-band affine maps).
        """
        hr = self.hr_normalizer.normalize(batch["hr"])
        sr = self.generator(self.lr_normalizer.normalize(batch["lr"]))
        sr_physical = self.hr_normalizer.denormalize(sr)
        self.sr_quality.update(sr, hr, sr_physical, batch["hr"])
        outputs = {
            "lr": batch["lr"],
            "sr": sr_physical,
            "hr": batch["hr"],
            "meta": batch.get("meta"),
        }
        if self.bicubic_quality is not None:
            scale = self.config.Generator.scaling_factor
            bicubic_physical = interpolate(batch["lr"], scale, "bicubic")
            bicubic = self.hr_normalizer.normalize(bicubic_physical)
            self.bicubic_quality.update(bicubic, hr, bicubic_physical, batch["hr"])
            outputs["bicubic"] = bicubic_physical
        return outputs

    def on_validation_epoch_end(self) -> None:
        """Log ``val/<metric>`` for SR, ``val/<metric>_bicubic`` and ``val/psnr_gain``;
        feed plateau schedules."""
        sr = self.sr_quality.compute()
        values = {f"val/{name}": value for name, value in sr.items()}
        self.sr_quality.reset()
        if self.bicubic_quality is not None:
            bicubic = self.bicubic_quality.compute()
            values.update({f"val/{name}_bicubic": value for name, value in bicubic.items()})
            values["val/psnr_gain"] = sr["psnr"] - bicubic["psnr"]
            self.bicubic_quality.reset()
        self.log_dict(values, sync_dist=False)
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit":
            self.schedules.observe({name: float(value) for name, value in values.items()})

    # --------------------------------------------------------------------------- checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the own counters, non-finite counts, plateau states, the EMA, the random states
        and what rebuilds the generator (for the safetensors exports, :mod:`ganlab.export`)."""
        checkpoint["ganlab"] = {
            "step_count": self.step_count,
            "batches_seen": self.batches_seen,
            "nonfinite_total": self.nonfinite_total,
            "nonfinite_consecutive": self._nonfinite_consecutive,
            "rng": gather_rng_states(),
            "schedules": self.schedules.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "generator": generator_description(self.generator, self.config),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` stored (the random states are put back in
        :meth:`on_train_start`, once Lightning's set-up has drawn what it draws)."""
        state = checkpoint.get("ganlab", {})
        self._resumed = True
        self.step_count = int(state.get("step_count", 0))
        self.batches_seen = int(state.get("batches_seen", 0))
        self.nonfinite_total = int(state.get("nonfinite_total", 0))
        self._nonfinite_consecutive = int(state.get("nonfinite_consecutive", 0))
        self._rng_to_restore = states_for_this_rank(state.get("rng"))
        self.schedules.load_state_dict(state.get("schedules") or {})
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])

    def ema_generator(self) -> nn.Module:
        """A copy of the generator holding the EMA weights (the raw generator without EMA).

        Under FSDP the copy is a plain (unsharded) generator on the CPU; without EMA its
        weights are gathered from all ranks, so every rank must call this then.
        """
        source = unwrapped(self.generator)
        if is_sharded(source):
            generator = build_generator(self.config)
            state = (
                self.ema.module.state_dict() if self.ema is not None else full_state_dict(source)
            )
            generator.load_state_dict({k: v.cpu() for k, v in state.items()})
            return generator.eval()
        generator = copy.deepcopy(source)
        if self.ema is not None:
            generator.load_state_dict(self.ema.module.state_dict())
        return generator.eval()


def _step_if_gradients(optimizer: Any) -> None:
    """Step and zero a (Lightning) optimiser, unless no parameter got a gradient: stepping an
    optimiser without gradients makes a shared gradient scaler raise."""
    has_gradients = any(
        p.grad is not None for group in optimizer.param_groups for p in group["params"]
    )
    if has_gradients:
        optimizer.step()
    optimizer.zero_grad()


def _grads_finite(params: list[torch.Tensor]) -> bool:
    """Whether every gradient is finite (one host sync)."""
    norms = torch._foreach_norm([p.grad for p in params if p.grad is not None])
    return bool(torch.isfinite(torch.stack(norms)).all())
