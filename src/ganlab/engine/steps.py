"""The two optimisation modes as small step objects sharing one flow.

Every step: ``sr = generator(lr)``; in the adversarial phase the discriminator loss (when due)
on real HR and detached SR; the generator loss (content + ramped adversarial and
feature-matching terms, with the discriminator frozen). The modes differ only in how the losses
become updates:

* :class:`AlternatingStep` (manual optimisation): discriminator backward and step, then
  generator backward and step, with the module's own accumulation;
* :class:`JointStep` (automatic optimisation): one loss ``d_loss + g_loss`` that Lightning
  back-propagates and steps with one optimiser holding both networks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ganlab._lightning import DeepSpeedStrategy, LightningModule
from ganlab.engine.amp import gradient_scaler, one_scale_update
from ganlab.engine.stability import NonFiniteTrainingError

if TYPE_CHECKING:
    from ganlab.engine.module import SRGANModule

Logs = dict[str, torch.Tensor | float]


@contextlib.contextmanager
def frozen(network: nn.Module) -> Iterator[None]:
    """No gradients for ``network``'s parameters inside the block; afterwards each parameter
    gets its own flag back (a deliberately frozen part stays frozen), also on error."""
    trainable = [p.requires_grad for p in network.parameters()]
    network.requires_grad_(False)
    try:
        yield
    finally:
        for param, flag in zip(network.parameters(), trainable, strict=True):
            param.requires_grad_(flag)


def step_if_gradients(optimizer: Any) -> None:
    """Step and zero a (Lightning) optimiser, unless no parameter got a gradient: stepping an
    optimiser without gradients makes a shared gradient scaler raise."""
    if any(p.grad is not None for group in optimizer.param_groups for p in group["params"]):
        optimizer.step()
    optimizer.zero_grad()


class GANStep:
    """The flow both modes share: the discriminator loss and the generator loss of a step."""

    def discriminator_loss(
        self, module: SRGANModule, hr: torch.Tensor, sr: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        """Loss of the discriminator on real ``hr`` and generated ``sr`` (detached inside)."""
        update = module.adversarial.discriminator_update(module.step_count)
        loss, logs = module.gan_objective.discriminator_step_loss(
            module.discriminator, hr, sr, update
        )
        return loss, {f"train/{name}": value for name, value in logs.items()}

    def generator_loss(
        self,
        module: SRGANModule,
        lr: torch.Tensor,
        hr: torch.Tensor,
        sr: torch.Tensor,
        adversarial: bool,
    ) -> tuple[torch.Tensor, Logs]:
        """Content loss (with ``Generator.lr_consistency: soft``, plus the weighted L1 between
        the degraded SR and the LR input) plus, in the adversarial phase, the ramped
        adversarial and feature-matching terms, computed with the discriminator frozen."""
        content, terms = module.content_loss(sr, hr)
        logs: Logs = {f"train/{name}": value.detach() for name, value in terms.items()}
        if module.soft_consistency is not None:
            consistency = module.soft_consistency.residual(sr, lr).abs().mean()
            content = content + module.soft_consistency_weight * consistency
            logs["train/lr_consistency"] = consistency.detach()
        logs["train/content"] = content.detach()
        loss = content
        if adversarial:
            ramp = module.adversarial.ramp(module.step_count)
            weight = ramp * module.adversarial.beta
            with frozen(module.discriminator):
                g_adv, matching = module.gan_objective.generator_terms(module.discriminator, hr, sr)
            loss = loss + weight * g_adv
            if matching is not None:
                loss = loss + ramp * module.gan_objective.feature_matching_weight * matching
                logs["train/feature_matching"] = matching.detach()
            logs["train/g_adv"] = g_adv.detach()
            logs["train/adv_weight"] = weight
        logs["train/g_loss"] = loss.detach()
        return loss, logs

    def run(
        self, module: SRGANModule, lr: torch.Tensor, hr: torch.Tensor, window_ends: bool
    ) -> torch.Tensor | None:
        """One step on normalised ``lr``/``hr``; returns the loss Lightning steps on (joint)."""
        raise NotImplementedError


class AlternatingStep(GANStep):
    """Two optimisers: discriminator backward and step, then generator backward and step.

    Lightning refuses clipping and accumulation in manual optimisation, so the losses are
    divided by ``accumulate`` and the optimisers step when ``window_ends``. Under float16 the
    gradient scale changes once, after both networks stepped (see :mod:`ganlab.engine.amp`).
    """

    def run(
        self, module: SRGANModule, lr: torch.Tensor, hr: torch.Tensor, window_ends: bool
    ) -> torch.Tensor | None:
        opt_g, opt_d = module.optimizers()  # type: ignore[attr-defined]
        sr = module.generator(lr)
        adversarial = module.adversarial_active
        logs: Logs = {}
        with one_scale_update(gradient_scaler(module.trainer) if window_ends else None):
            if adversarial and module.adversarial.discriminator_due(module.step_count):
                with toggled(module, opt_d):
                    d_loss, d_logs = self.discriminator_loss(module, hr, sr)
                    logs.update(d_logs)
                    if module.finite(d_loss, "discriminator loss"):
                        module.manual_backward(d_loss / module.accumulate)
                    if window_ends:
                        step_if_gradients(opt_d)
            with toggled(module, opt_g):
                g_loss, g_logs = self.generator_loss(module, lr, hr, sr, adversarial)
                logs.update(g_logs)
                if module.finite(g_loss, "generator loss"):
                    module.manual_backward(g_loss / module.accumulate)
                if window_ends:
                    step_if_gradients(opt_g)
        module.log_step(logs, lr.shape[0])
        return None


@contextlib.contextmanager
def toggled(module: LightningModule, optimizer: Any) -> Iterator[None]:
    """Lightning's ``toggle_optimizer`` for the block; ``untoggle_optimizer`` also on error."""
    module.toggle_optimizer(optimizer)
    try:
        yield
    finally:
        module.untoggle_optimizer(optimizer)


class JointStep(GANStep):
    """One optimiser with a parameter group per network and one backward of
    ``d_loss + g_loss``; Lightning steps, clips and accumulates.

    A non-finite loss returns a zero loss on every parameter instead of skipping backward: it
    keeps DDP's all-reduce in step on every rank, and the module's ``on_before_optimizer_step``
    drops the gradients so that the optimiser (and a gradient scaler) step on nothing.
    DeepSpeed's engine cannot skip a started step, so there a non-finite loss stops the run.
    """

    def run(
        self, module: SRGANModule, lr: torch.Tensor, hr: torch.Tensor, window_ends: bool
    ) -> torch.Tensor | None:
        sr = module.generator(lr)
        adversarial = module.adversarial_active
        logs: Logs = {}
        total = sr.new_zeros(())
        if adversarial and module.adversarial.discriminator_due(module.step_count):
            d_loss, d_logs = self.discriminator_loss(module, hr, sr)
            total = total + d_loss
            logs.update(d_logs)
        g_loss, g_logs = self.generator_loss(module, lr, hr, sr, adversarial)
        logs.update(g_logs)
        module.log_step(logs, lr.shape[0])
        total = total + g_loss
        if module.finite(total, "loss"):
            return total  # Lightning divides by accumulate_grad_batches itself
        if isinstance(module.trainer.strategy, DeepSpeedStrategy):
            raise NonFiniteTrainingError(
                f"step {module.step_count}: non-finite loss under Training.strategy=deepspeed. "
                "DeepSpeed's engine cannot skip a step Lightning has started, so "
                "Training.max_nonfinite_steps does not apply there and the run stops; the "
                "checkpoints already written are untouched. Resume from the last one with "
                "lower learning rates or Optimizers.gradient_clip_val, or check the data."
            )
        return sum(
            (p.sum() * 0.0 for p in module.parameters() if p.requires_grad), sr.new_zeros(())
        )
