"""Losses: content terms, adversarial formulations."""

from ganlab.losses.adversarial import ADVERSARIAL_LOSSES
from ganlab.losses.content import CONTENT_TERMS, ContentLoss

__all__ = ["ADVERSARIAL_LOSSES", "CONTENT_TERMS", "ContentLoss"]
