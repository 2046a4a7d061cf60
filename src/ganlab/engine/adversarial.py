"""When the discriminator trains and how strongly the generator's adversarial terms count."""

from __future__ import annotations

from dataclasses import dataclass

from ganlab.config.schema import TrainingConfig
from ganlab.config.training import discriminator_updates


@dataclass(frozen=True)
class AdversarialSchedule:
    """The adversarial phase over the run's generator steps (0-based).

    Args:
        start: First step of the adversarial phase (generator-only pretraining before it).
        ramp_steps: Steps over which the adversarial weight rises linearly to ``beta``.
        d_update_interval: The discriminator is updated every N steps of the phase.
        beta: Weight of the generator's adversarial term once ramped up.

    Example:
        >>> schedule = AdversarialSchedule(start=10, ramp_steps=4, d_update_interval=2)
        >>> schedule.ramp(9), schedule.ramp(10), schedule.ramp(13)
        (0.0, 0.25, 1.0)
        >>> schedule.discriminator_due(12), schedule.discriminator_update(12)
        (True, 1)
    """

    start: int = 0
    ramp_steps: int = 0
    d_update_interval: int = 1
    beta: float = 1e-3

    @classmethod
    def from_config(cls, training: TrainingConfig) -> AdversarialSchedule:
        """The schedule of ``Training`` (``g_pretrain_steps``, ``pretrain_g_only``, ...)."""
        return cls(
            start=training.adversarial_start,
            ramp_steps=training.adv_loss_ramp_steps,
            d_update_interval=training.d_update_interval,
            beta=training.Losses.adv_loss_beta,
        )

    def active(self, step: int) -> bool:
        """Whether ``step`` is in the adversarial phase."""
        return step >= self.start

    def ramp(self, step: int) -> float:
        """Fraction 0..1 of the adversarial and feature-matching weights at ``step``: 0 before
        the phase, then rising linearly to 1 on the last ramp step (at once without a ramp)."""
        into_phase = step - self.start
        if into_phase < 0:
            return 0.0
        if self.ramp_steps == 0:
            return 1.0
        return min(1.0, (into_phase + 1) / self.ramp_steps)

    def weight(self, step: int) -> float:
        """Weight of the generator's adversarial term at ``step``: ramp x ``beta``."""
        return self.ramp(step) * self.beta

    def discriminator_due(self, step: int) -> bool:
        """Whether the discriminator is updated at ``step``."""
        into_phase = step - self.start
        return into_phase >= 0 and into_phase % self.d_update_interval == 0

    def discriminator_update(self, step: int) -> int:
        """The discriminator's own update number at ``step`` (updates before it)."""
        return discriminator_updates(step, self.start, self.d_update_interval)
