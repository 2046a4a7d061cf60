"""Content (reconstruction) losses and their weighted sum.

Each term exists as a function; :class:`ContentLoss` sums the terms whose weight is above zero
and returns the named terms for logging (tensors, no host-device sync).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config.schema import LossesConfig


def _check(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")


def l1_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean absolute error ``mean(|sr - hr|)`` over all elements; shapes ``[B, C, H, W]``."""
    _check(sr, hr)
    return F.l1_loss(sr, hr)


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``mean((sr - hr)^2)`` over all elements; shapes ``[B, C, H, W]``."""
    _check(sr, hr)
    return F.mse_loss(sr, hr)


CONTENT_TERMS = {"l1": l1_loss, "mse": mse_loss}
"""Term name -> function; the weight of term ``x`` is ``Training.Losses.x_weight``."""


class ContentLoss(nn.Module):
    """Weighted sum of content terms.

    Args:
        weights: Term name -> weight; terms with weight 0 are not computed.

    Example:
        >>> loss = ContentLoss({"l1": 1.0, "mse": 0.5})
        >>> total, terms = loss(torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 8, 8))
        >>> float(total), sorted(terms)
        (1.5, ['l1', 'mse'])
    """

    def __init__(self, weights: dict[str, float]) -> None:
        super().__init__()
        unknown = set(weights) - set(CONTENT_TERMS)
        if unknown:
            raise ValueError(
                f"unknown content terms {sorted(unknown)}; known: {sorted(CONTENT_TERMS)}"
            )
        self.weights = {name: w for name, w in weights.items() if w > 0}

    @classmethod
    def from_config(cls, config: LossesConfig) -> ContentLoss:
        """Build from ``Training.Losses``."""
        return cls({"l1": config.l1_weight, "mse": config.mse_weight})

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total weighted loss and the unweighted value of each active term."""
        terms = {name: CONTENT_TERMS[name](sr, hr) for name in self.weights}
        total = sum((self.weights[name] * value for name, value in terms.items()), sr.new_zeros(()))
        return total, terms
