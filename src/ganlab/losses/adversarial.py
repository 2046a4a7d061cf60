"""Adversarial formulations: a discriminator loss and a generator loss for each.

``vanilla`` is the non-saturating GAN loss with logits:

* discriminator: ``BCE(D(real), 1) + BCE(D(fake), 0)``
* generator: ``BCE(D(fake), 1)``
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vanilla_discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """``BCE(real, 1) + BCE(fake, 0)`` with logits, averaged over the batch."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def vanilla_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating ``BCE(fake, 1)`` with logits, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


ADVERSARIAL_LOSSES = {"vanilla": (vanilla_discriminator_loss, vanilla_generator_loss)}
"""``Training.Losses.adv_loss_type`` -> (discriminator loss, generator loss)."""
