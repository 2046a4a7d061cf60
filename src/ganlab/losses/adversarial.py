"""Adversarial formulations, gradient penalties and feature matching.

Each formulation has a discriminator loss ``d(real_logits, fake_logits)`` and a generator loss
``g(fake_logits, real_logits)``; ``real_label`` (1 - label smoothing) is the target for real
images where the formulation has targets. With ``r`` real and ``f`` fake logits:

- vanilla: D ``BCE(r, t) + BCE(f, 0)``; G ``BCE(f, 1)`` (non-saturating)
- lsgan: D ``(mean((r - t)^2) + mean(f^2)) / 2``; G ``mean((f - 1)^2) / 2``
- hinge: D ``mean(relu(1 - r)) + mean(relu(1 + f))``; G ``-mean(f)``
- wgan_gp: D ``mean(f) - mean(r)`` (+ gradient penalty); G ``-mean(f)``
- relativistic: D ``BCE(r - mean(f), t) + BCE(f - mean(r), 0)``;
  G ``BCE(r - mean(f), 0) + BCE(f - mean(r), 1)``

``t`` is ``real_label``; BCE is binary cross-entropy with logits, averaged over elements. In the
relativistic generator loss the real logits are treated as constants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def vanilla_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """``BCE(real, real_label) + BCE(fake, 0)``.

    Example:
        >>> round(float(vanilla_discriminator_loss(torch.zeros(2, 1), torch.zeros(2, 1))), 4)
        1.3863
    """
    return _bce(real_logits, real_label) + _bce(fake_logits, 0.0)


def vanilla_generator_loss(
    fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Non-saturating ``BCE(fake, 1)``."""
    return _bce(fake_logits, 1.0)


def lsgan_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """Least squares: ``(mean((real - real_label)^2) + mean(fake^2)) / 2``."""
    return 0.5 * ((real_logits - real_label).square().mean() + fake_logits.square().mean())


def lsgan_generator_loss(
    fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Least squares: ``mean((fake - 1)^2) / 2``."""
    return 0.5 * (fake_logits - 1.0).square().mean()


def hinge_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """Hinge: ``mean(relu(1 - real)) + mean(relu(1 + fake))``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def critic_generator_loss(
    fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Hinge / Wasserstein generator loss ``-mean(fake)``."""
    return -fake_logits.mean()


def wasserstein_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """Wasserstein critic loss ``mean(fake) - mean(real)`` (add the gradient penalty)."""
    return fake_logits.mean() - real_logits.mean()


def relativistic_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
) -> torch.Tensor:
    """Relativistic average: ``BCE(r - mean(f), real_label) + BCE(f - mean(r), 0)``."""
    return _bce(real_logits - fake_logits.mean(), real_label) + _bce(
        fake_logits - real_logits.mean(), 0.0
    )


def relativistic_generator_loss(
    fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """Relativistic average: ``BCE(r - mean(f), 0) + BCE(f - mean(r), 1)``, ``r`` constant."""
    if real_logits is None:
        raise ValueError("the relativistic generator loss needs the real logits")
    real_logits = real_logits.detach()
    return _bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0)


@dataclass(frozen=True)
class Formulation:
    """A discriminator loss and a generator loss that belong together."""

    discriminator_loss: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
    generator_loss: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    generator_needs_real: bool = False
    uses_labels: bool = True
    """Whether ``real_label`` (label smoothing) means anything for it."""


ADVERSARIAL_LOSSES: dict[str, Formulation] = {
    "vanilla": Formulation(vanilla_discriminator_loss, vanilla_generator_loss),
    "lsgan": Formulation(lsgan_discriminator_loss, lsgan_generator_loss),
    "hinge": Formulation(hinge_discriminator_loss, critic_generator_loss, uses_labels=False),
    "wgan_gp": Formulation(
        wasserstein_discriminator_loss, critic_generator_loss, uses_labels=False
    ),
    "relativistic": Formulation(
        relativistic_discriminator_loss, relativistic_generator_loss, generator_needs_real=True
    ),
}
"""``Training.Losses.adv_loss_type`` -> formulation."""


Discriminator = Callable[[torch.Tensor], tuple[torch.Tensor, list[torch.Tensor]]]


def float32_logits(
    discriminator: Discriminator | nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D(x), x)`` computed with autocast off, ``x`` = ``images`` in the discriminator's
    parameter dtype (float32 under mixed precision) with ``requires_grad``.

    Gradient penalties differentiate ``D`` with respect to its input inside the loss
    (``autograd.grad``), outside the gradient scaler; in float16 those input gradients can
    underflow to zero. Computing the penalty's forward in float32 keeps them exact.
    """
    parameter = next(iter(discriminator.parameters()), None)  # type: ignore[union-attr]
    dtype = parameter.dtype if parameter is not None else torch.float32
    with torch.autocast(device_type=images.device.type, enabled=False):
        inputs = images.detach().to(dtype).requires_grad_(True)
        logits, _ = discriminator(inputs)
    return logits.float(), inputs


def gradient_penalty(
    discriminator: Discriminator | nn.Module, real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||grad_x D(x)||_2 - 1)^2)`` at random interpolates of real/fake.

    Computed in float32 with autocast off (see :func:`float32_logits`); the graph is kept
    (``create_graph``) so the penalty trains the discriminator.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    mixed = alpha * real.detach().float() + (1 - alpha) * fake.detach().float()
    with torch.autocast(device_type=real.device.type, enabled=False):
        logits, inputs = float32_logits(discriminator, mixed)
        (grads,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
        return (grads.float().flatten(1).norm(dim=1) - 1.0).square().mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 penalty ``mean_i ||grad_x D(x_i)||^2`` on real images.

    ``real`` must have ``requires_grad=True`` and ``real_logits`` must come from it. Under
    mixed precision use :func:`discriminator_r1_penalty`, which computes it in float32.
    """
    (grads,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grads.float().square().flatten(1).sum(dim=1).mean()


def discriminator_r1_penalty(
    discriminator: Discriminator | nn.Module, real: torch.Tensor
) -> torch.Tensor:
    """:func:`r1_penalty` of ``discriminator`` at ``real``, from a float32 forward with
    autocast off (exact also under float16 mixed precision)."""
    with torch.autocast(device_type=real.device.type, enabled=False):
        logits, inputs = float32_logits(discriminator, real)
        return r1_penalty(logits, inputs)


def feature_matching_loss(
    fake_features: Sequence[torch.Tensor], real_features: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Mean over layers of ``L1(fake_feature, real_feature)``; real features are detached.

    Example:
        >>> f = [torch.ones(1, 2, 4, 4), torch.ones(1, 4, 2, 2)]
        >>> float(feature_matching_loss(f, f))
        0.0
    """
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(
            f"feature lists differ or are empty: {len(fake_features)} vs {len(real_features)}"
        )
    losses = [
        F.l1_loss(fake, real.detach())
        for fake, real in zip(fake_features, real_features, strict=True)
    ]
    return torch.stack(losses).mean()
