"""Losses: content terms and their weighted sum, adversarial formulations, feature matching."""

from ganlab.losses.adversarial import ADVERSARIAL_LOSSES, feature_matching_loss
from ganlab.losses.content import CONTENT_TERMS, ContentLoss
from ganlab.losses.gan import GANObjective

__all__ = [
    "ADVERSARIAL_LOSSES",
    "CONTENT_TERMS",
    "ContentLoss",
    "GANObjective",
    "feature_matching_loss",
]
