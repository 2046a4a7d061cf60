"""The SR-GAN LightningModule: one step flow, alternating (manual) optimisation.

The module orchestrates; models, losses, normalisers and metrics live in their own packages.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from ganlab._lightning import pl
from ganlab.config.load import validate_config
from ganlab.config.schema import Config
from ganlab.data.normalizers import build_normalizer
from ganlab.losses import ADVERSARIAL_LOSSES, ContentLoss
from ganlab.metrics import ImageQuality
from ganlab.models import build_discriminator, build_generator
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
        """Build generator, discriminator and the normaliser."""
        self.generator = build_generator(self.config)
        self.discriminator = build_discriminator(self.config)
        self.normalizer = build_normalizer(self.config.Data.normalization)

    def configure_losses(self) -> None:
        """Build the content loss and pick the adversarial formulation."""
        losses = self.config.Training.Losses
        self.content_loss = ContentLoss.from_config(losses)
        self.discriminator_loss, self.generator_adversarial_loss = ADVERSARIAL_LOSSES[
            losses.adv_loss_type
        ]

    def configure_metrics(self) -> None:
        """Validation quality of SR and of the bicubic baseline."""
        self.sr_quality = ImageQuality()
        self.bicubic_quality = ImageQuality()

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Generator optimiser first, discriminator optimiser second."""
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

    def adversarial_weight(self, step: int | None = None) -> float:
        """Weight of the generator's adversarial term at ``step`` (default: the current step).

        0 before the adversarial phase; then rises linearly over ``adv_loss_ramp_steps`` steps to
        ``Losses.adv_loss_beta`` (reached on the last ramp step).
        """
        step = self.step_count if step is None else step
        training = self.config.Training
        into_phase = step - self._adversarial_start()
        if into_phase < 0:
            return 0.0
        beta = training.Losses.adv_loss_beta
        if training.adv_loss_ramp_steps == 0:
            return beta
        return beta * min(1.0, (into_phase + 1) / training.adv_loss_ramp_steps)

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
        lr = self.normalizer.normalize(batch["lr"])
        hr = self.normalizer.normalize(batch["hr"])
        sr = self.generator(lr)
        logs: dict[str, torch.Tensor | float] = {}

        adversarial = self.adversarial_active
        if adversarial and self.discriminator_due():
            self.toggle_optimizer(opt_d)
            real_logits, _ = self.discriminator(hr)
            fake_logits, _ = self.discriminator(sr.detach())
            d_loss = self.discriminator_loss(real_logits, fake_logits)
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logs["train/d_loss"] = d_loss.detach()
            logs["train/d_real_prob"] = torch.sigmoid(real_logits.detach()).mean()
            logs["train/d_fake_prob"] = torch.sigmoid(fake_logits.detach()).mean()

        self.toggle_optimizer(opt_g)
        content, terms = self.content_loss(sr, hr)
        g_loss = content
        if adversarial:
            weight = self.adversarial_weight()
            fake_logits, _ = self.discriminator(sr)
            g_adv = self.generator_adversarial_loss(fake_logits)
            g_loss = g_loss + weight * g_adv
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
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=lr.shape[0])
        self.step_count += 1

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
        self.sr_quality.update(sr, hr)
        self.bicubic_quality.update(bicubic, hr)
        return {
            "lr": batch["lr"],
            "sr": self.normalizer.denormalize(sr),
            "bicubic": self.normalizer.denormalize(bicubic),
            "hr": batch["hr"],
        }

    def on_validation_epoch_end(self) -> None:
        """Log ``val/psnr``, ``val/ssim``, the bicubic values and the PSNR gain."""
        sr = self.sr_quality.compute()
        bicubic = self.bicubic_quality.compute()
        self.log_dict(
            {
                "val/psnr": sr["psnr"],
                "val/ssim": sr["ssim"],
                "val/psnr_bicubic": bicubic["psnr"],
                "val/ssim_bicubic": bicubic["ssim"],
                "val/psnr_gain": sr["psnr"] - bicubic["psnr"],
            },
            sync_dist=False,
        )
        self.sr_quality.reset()
        self.bicubic_quality.reset()

    # --------------------------------------------------------------------------- checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the own step counter."""
        checkpoint["ganlab"] = {"step_count": self.step_count}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the own step counter."""
        self.step_count = int(checkpoint.get("ganlab", {}).get("step_count", 0))

    def networks(self) -> dict[str, nn.Module]:
        """The trained networks by name."""
        return {"generator": self.generator, "discriminator": self.discriminator}
