"""The adversarial objective: discriminator and generator losses with penalties, from config.

The LightningModule calls :meth:`GANObjective.discriminator_step_loss` and
:meth:`GANObjective.generator_terms`; the formulas live in :mod:`ganlab.losses.adversarial`.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config.schema import LossesConfig
from ganlab.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    feature_matching_loss,
    float32_logits,
    gradient_penalty,
    r1_penalty,
)


class GANObjective(nn.Module):
    """Adversarial losses for one configured formulation.

    Args:
        formulation: ``Training.Losses.adv_loss_type`` (vanilla, lsgan, hinge, wgan_gp,
            relativistic).
        label_smoothing: Real targets become ``1 - label_smoothing``.
        gp_weight: Weight of the WGAN-GP gradient penalty (0: off).
        r1_weight: Weight of the R1 penalty on real images (0: off).
        r1_interval: Apply R1 every N discriminator updates (lazy regularisation).
        feature_matching_weight: Weight of the generator's feature-matching term (0: off).
    """

    def __init__(
        self,
        formulation: str = "vanilla",
        label_smoothing: float = 0.0,
        gp_weight: float = 0.0,
        r1_weight: float = 0.0,
        r1_interval: int = 1,
        feature_matching_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.formulation = ADVERSARIAL_LOSSES[formulation]
        self.real_label = 1.0 - label_smoothing
        self.gp_weight = gp_weight
        self.r1_weight = r1_weight
        self.r1_interval = r1_interval
        self.feature_matching_weight = feature_matching_weight

    @classmethod
    def from_config(cls, config: LossesConfig, label_smoothing: float = 0.0) -> GANObjective:
        """The objective of ``Training.Losses`` (the gradient penalty only with wgan_gp)."""
        return cls(
            formulation=config.adv_loss_type,
            label_smoothing=label_smoothing,
            gp_weight=config.gp_weight if config.adv_loss_type == "wgan_gp" else 0.0,
            r1_weight=config.r1_weight,
            r1_interval=config.r1_interval,
            feature_matching_weight=config.feature_matching_weight,
        )

    def r1_due(self, step: int) -> bool:
        """Whether the R1 penalty is applied at discriminator update ``step`` (lazy R1)."""
        return self.r1_weight > 0 and step % self.r1_interval == 0

    def discriminator_step_loss(
        self, discriminator: nn.Module, hr: torch.Tensor, sr: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Discriminator loss on real ``hr`` and generated ``sr`` (detached here).

        Adds ``gp_weight x gradient_penalty`` for wgan_gp, and every ``r1_interval`` steps
        ``r1_weight / 2 x r1_interval x R1`` (lazy regularisation keeps the average strength).
        Both penalties are computed in float32 with autocast off, so their input gradients do
        not underflow under float16 mixed precision.

        Returns:
            The loss and tensors to log (``d_loss``, ``d_real_prob``, ``d_fake_prob``, penalties).
        """
        use_r1 = self.r1_due(step)
        fake = sr.detach()
        if use_r1:
            # the real forward in float32 (autocast off) also serves the R1 penalty, so the
            # penalty needs no extra forward (which would advance batch-norm statistics twice)
            real_logits, real = float32_logits(discriminator, hr)
        else:
            real_logits, _ = discriminator(hr)
        fake_logits, _ = discriminator(fake)
        loss = self.formulation.discriminator_loss(real_logits, fake_logits, self.real_label)
        logs = {
            "d_adv": loss.detach(),
            "d_real_prob": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake_prob": torch.sigmoid(fake_logits.detach()).mean(),
        }
        if self.gp_weight > 0:
            penalty = gradient_penalty(discriminator, hr, fake)
            loss = loss + self.gp_weight * penalty
            logs["d_gradient_penalty"] = penalty.detach()
        if use_r1:
            with torch.autocast(device_type=hr.device.type, enabled=False):
                penalty = r1_penalty(real_logits, real)
            loss = loss + 0.5 * self.r1_weight * self.r1_interval * penalty
            logs["d_r1"] = penalty.detach()
        logs["d_loss"] = loss.detach()
        return loss, logs

    def generator_terms(
        self, discriminator: nn.Module, hr: torch.Tensor, sr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generator's adversarial loss and feature-matching loss (None when its weight is 0).

        Real-image logits/features are computed without gradient (constants for the generator).
        """
        fake_logits, fake_features = discriminator(sr)
        real_logits = real_features = None
        if self.formulation.generator_needs_real or self.feature_matching_weight > 0:
            with torch.no_grad():
                real_logits, real_features = discriminator(hr)
        adversarial = self.formulation.generator_loss(fake_logits, real_logits)
        matching = None
        if self.feature_matching_weight > 0:
            assert real_features is not None
            matching = feature_matching_loss(fake_features, real_features)
        return adversarial, matching
