"""The SR-GAN LightningModule: one step flow, alternating (manual) optimisation.

The module orchestrates; models, losses, normalisers and metrics live in their own packages.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ganlab._lightning import pl, rank_zero_info
from ganlab.config.load import validate_config
from ganlab.config.schema import Config
from ganlab.data.normalizers import build_normalizer
from ganlab.engine.schedules import lr_factor
from ganlab.losses import ContentLoss, GANObjective
from ganlab.metrics import ImageQuality
from ganlab.models import (
    build_discriminator,
    build_generator,
    prepare_for_training,
    summarize_models,
)
from ganlab.models.generators import interpolate

log = logging.getLogger(__name__)

Batch = dict[str, Any]


class SRGANModule(pl.LightningModule):
    """Generator + discriminator trained as an SR-GAN.

    Each training step: normalise LR/HR -> ``sr = generator(lr)`` -> content loss; in the
    adversarial phase the discriminator is updated every ``Training.d_update_interval`` steps
    (real = HR, fake = detached SR) and the generator loss gains the ramped adversarial term.
    The own counter :attr:`step_count` (one per batch) drives phase, ramp and cadence, because
    Lightning's ``global_step`` counts each optimiser's step.

    Args:
        config: A validated :class:`Config` or its ``model_dump()`` (as saved in checkpoints).
    """

    def __init__(self, config: Config | dict[str, Any]) -> None:
        super().__init__()
        if not isinstance(config, Config):
            config = validate_config(config, source="checkpoint hyperparameters")
        self.config = config
        self.save_hyperparameters({"config": config.model_dump(mode="json")})
        self.automatic_optimization = False
        self.step_count = 0
        self.configure_models()
        self.configure_losses()
        self.configure_metrics()

    # ------------------------------------------------------------------------- configuration

    def configure_models(self) -> None:
        """Build generator, discriminator (channels-last/compiled on request), normaliser."""
        channels_last = self.config.Training.channels_last
        compile_model = self.config.Training.compile
        self.generator = prepare_for_training(
            build_generator(self.config), channels_last=channels_last, compile=compile_model
        )
        self.discriminator = prepare_for_training(
            build_discriminator(self.config), channels_last=channels_last, compile=compile_model
        )
        self.normalizer = build_normalizer(self.config.Data.normalization)

    def on_fit_start(self) -> None:
        """Print a short summary of both networks (parameters, FLOPs at the training crop)."""
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

    def configure_losses(self) -> None:
        """Build the content loss and pick the adversarial formulation."""
        training = self.config.Training
        self.content_loss = ContentLoss.from_config(training.Losses)
        self.gan_objective = GANObjective(training.Losses, training.label_smoothing)

    def configure_metrics(self) -> None:
        """Validation quality of SR and of the bicubic baseline."""
        bands = self.config.Model.output_bands
        scale = self.config.Generator.scaling_factor
        lpips = self.config.Logging.lpips
        self.sr_quality = ImageQuality(bands, scale, lpips)
        self.bicubic_quality = ImageQuality(bands, scale, lpips)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Generator optimiser first, discriminator optimiser second.

        Learning rates follow ``Schedulers``; the module sets them from its own step counter
        before each step (see :meth:`_apply_schedules`), so no Lightning scheduler is involved.
        """
        opt = self.config.Optimizers
        optimizer_class = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
        return [
            optimizer_class(
                self.generator.parameters(),
                lr=opt.optim_g_lr,
                betas=opt.betas,
                weight_decay=opt.weight_decay,
            ),
            optimizer_class(
                self.discriminator.parameters(),
                lr=opt.optim_d_lr,
                betas=opt.betas,
                weight_decay=opt.weight_decay,
            ),
        ]

    # ------------------------------------------------------------------------------ schedule

    @property
    def adversarial_active(self) -> bool:
        """Whether the current step is in the adversarial phase."""
        training = self.config.Training
        return not training.pretrain_g_only or self.step_count >= training.g_pretrain_steps

    def _adversarial_start(self) -> int:
        training = self.config.Training
        return training.g_pretrain_steps if training.pretrain_g_only else 0

    def adversarial_ramp(self, step: int | None = None) -> float:
        """Fraction 0..1 of the adversarial and feature-matching weights at ``step``.

        0 before the adversarial phase; then rises linearly over ``adv_loss_ramp_steps`` steps
        and reaches 1 on the last ramp step (at once when ``adv_loss_ramp_steps`` is 0).
        """
        step = self.step_count if step is None else step
        training = self.config.Training
        into_phase = step - self._adversarial_start()
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
        into_phase = step - self._adversarial_start()
        return into_phase >= 0 and into_phase % self.config.Training.d_update_interval == 0

    # ------------------------------------------------------------------------------ training

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Super-resolve normalised ``lr`` ``[B, C, h, w]`` into normalised SR."""
        return self.generator(lr)

    def training_step(self, batch: Batch, batch_idx: int) -> None:
        """One alternating step: discriminator (when due), then generator."""
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]
        self._apply_schedules(opt_g.optimizer, opt_d.optimizer)
        lr = self.normalizer.normalize(batch["lr"])
        hr = self.normalizer.normalize(batch["hr"])
        sr = self.generator(lr)
        logs: dict[str, torch.Tensor | float] = {}

        adversarial = self.adversarial_active
        if adversarial and self.discriminator_due():
            self.toggle_optimizer(opt_d)
            update_index = (self.step_count - self._adversarial_start()) // (
                self.config.Training.d_update_interval
            )
            d_loss, d_logs = self.gan_objective.discriminator_step_loss(
                self.discriminator, hr, sr, update_index
            )
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logs.update({f"train/{name}": value for name, value in d_logs.items()})

        self.toggle_optimizer(opt_g)
        content, terms = self.content_loss(sr, hr)
        g_loss = content
        if adversarial:
            ramp = self.adversarial_ramp()
            weight = ramp * self.config.Training.Losses.adv_loss_beta
            g_adv, matching = self.gan_objective.generator_terms(self.discriminator, hr, sr)
            g_loss = g_loss + weight * g_adv
            if matching is not None:
                g_loss = g_loss + ramp * self.gan_objective.feature_matching_weight * matching
                logs["train/feature_matching"] = matching.detach()
            logs["train/g_adv"] = g_adv.detach()
            logs["train/adv_weight"] = weight
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        logs.update({f"train/{name}": value.detach() for name, value in terms.items()})
        logs["train/content"] = content.detach()
        logs["train/g_loss"] = g_loss.detach()
        logs["train/phase"] = float(adversarial)
        logs["train/lr_generator"] = opt_g.optimizer.param_groups[0]["lr"]
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=lr.shape[0])
        self.step_count += 1

    def _apply_schedules(
        self,
        generator_optimizer: torch.optim.Optimizer,
        discriminator_optimizer: torch.optim.Optimizer,
    ) -> None:
        """Set both learning rates for the current step from ``Schedulers``."""
        opt = self.config.Optimizers
        schedules = self.config.Schedulers
        for optimizer, base, schedule in (
            (generator_optimizer, opt.optim_g_lr, schedules.generator),
            (discriminator_optimizer, opt.optim_d_lr, schedules.discriminator),
        ):
            rate = base * lr_factor(schedule, self.step_count)
            for group in optimizer.param_groups:
                group["lr"] = rate

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip gradients (``Trainer.gradient_clip_val``); gradients are unscaled here."""
        value = self.config.Trainer.get("gradient_clip_val")
        if value:
            algorithm = self.config.Trainer.get("gradient_clip_algorithm") or "norm"
            self.clip_gradients(
                optimizer, gradient_clip_val=value, gradient_clip_algorithm=algorithm
            )

    # ---------------------------------------------------------------------------- validation

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """SR and bicubic quality; returns physical-unit images for callbacks (panels)."""
        lr = self.normalizer.normalize(batch["lr"])
        hr = self.normalizer.normalize(batch["hr"])
        sr = self.generator(lr)
        bicubic = interpolate(lr, self.config.Generator.scaling_factor, "bicubic")
        sr_physical = self.normalizer.denormalize(sr)
        bicubic_physical = self.normalizer.denormalize(bicubic)
        self.sr_quality.update(sr, hr, sr_physical, batch["hr"])
        self.bicubic_quality.update(bicubic, hr, bicubic_physical, batch["hr"])
        return {
            "lr": batch["lr"],
            "sr": sr_physical,
            "bicubic": bicubic_physical,
            "hr": batch["hr"],
        }

    def on_validation_epoch_end(self) -> None:
        """Log ``val/<metric>`` for SR, ``val/<metric>_bicubic`` and ``val/psnr_gain``."""
        sr = self.sr_quality.compute()
        bicubic = self.bicubic_quality.compute()
        values = {f"val/{name}": value for name, value in sr.items()}
        values.update({f"val/{name}_bicubic": value for name, value in bicubic.items()})
        values["val/psnr_gain"] = sr["psnr"] - bicubic["psnr"]
        self.log_dict(values, sync_dist=False)
        self.sr_quality.reset()
        self.bicubic_quality.reset()

    # --------------------------------------------------------------------------- checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the own step counter."""
        checkpoint["ganlab"] = {"step_count": self.step_count}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the own step counter."""
        self.step_count = int(checkpoint.get("ganlab", {}).get("step_count", 0))
