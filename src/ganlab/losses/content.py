"""The weighted content loss built from ``Training.Losses``.

Term ``x`` is weighted by ``Training.Losses.x_weight``; a weight of 0 removes the term (it is
not computed). The total and each unweighted term are returned as tensors (no host sync).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from ganlab.config.schema import LossesConfig
from ganlab.losses.perceptual import PerceptualLoss, VGG19Features, load_vgg19_state_dict
from ganlab.losses.ssim import ms_ssim_loss, ssim_loss
from ganlab.losses.terms import (
    charbonnier_loss,
    fft_loss,
    gradient_loss,
    l1_loss,
    mse_loss,
    sam_loss,
    tv_loss,
)

Term = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CONTENT_TERMS = (
    "l1",
    "mse",
    "charbonnier",
    "ssim",
    "ms_ssim",
    "sam",
    "perceptual",
    "tv",
    "fft",
    "gradient",
)
"""Every content term; the weight of term ``x`` is ``Training.Losses.x_weight``."""


class ContentLoss(nn.Module):
    """Weighted sum of content terms.

    Args:
        terms: Term name -> ``(weight, function(sr, hr))``; terms with weight 0 are dropped.
        perceptual: The perceptual loss module when that term is used (kept as a submodule so
            its VGG weights follow the device).

    Example:
        >>> loss = ContentLoss({"l1": (1.0, l1_loss), "mse": (0.5, mse_loss)})
        >>> total, terms = loss(torch.zeros(1, 4, 8, 8), torch.ones(1, 4, 8, 8))
        >>> float(total), sorted(terms)
        (1.5, ['l1', 'mse'])
    """

    def __init__(
        self, terms: dict[str, tuple[float, Term]], perceptual: PerceptualLoss | None = None
    ) -> None:
        super().__init__()
        self.terms = {name: (w, fn) for name, (w, fn) in terms.items() if w > 0}
        if not self.terms:
            raise ValueError("no content term has a weight above 0")
        self.perceptual = perceptual

    @classmethod
    def from_config(
        cls, config: LossesConfig, perceptual_extractor: VGG19Features | None = None
    ) -> ContentLoss:
        """Build from ``Training.Losses``.

        Args:
            config: The losses section.
            perceptual_extractor: A ready VGG19 extractor (tests pass a random one); None loads
                the weights from ``perceptual.weights_path`` or the torch hub cache when the
                perceptual term is on (a precise error if the file is missing).
        """
        perceptual = None
        functions: dict[str, Term] = {
            "l1": l1_loss,
            "mse": mse_loss,
            "charbonnier": partial(charbonnier_loss, eps=config.charbonnier_eps),
            "ssim": partial(
                ssim_loss, window_size=config.ssim_window_size, sigma=config.ssim_sigma
            ),
            "ms_ssim": partial(
                ms_ssim_loss,
                window_size=config.ssim_window_size,
                sigma=config.ssim_sigma,
                scales=config.ms_ssim_scales,
            ),
            "sam": sam_loss,
            "tv": tv_loss,
            "fft": fft_loss,
            "gradient": gradient_loss,
        }
        if config.perceptual_weight > 0:
            spec = config.perceptual
            extractor = perceptual_extractor or VGG19Features(
                spec.layers, load_vgg19_state_dict(spec.weights_path)
            )
            perceptual = PerceptualLoss(
                extractor, spec.layer_weights, spec.bands, spec.criterion, spec.imagenet_normalize
            )
            functions["perceptual"] = perceptual
        weights = {name: float(getattr(config, f"{name}_weight")) for name in CONTENT_TERMS}
        return cls(
            {name: (weights[name], functions[name]) for name in CONTENT_TERMS if weights[name] > 0},
            perceptual,
        )

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total weighted loss and the unweighted value of each active term."""
        values = {name: fn(sr, hr) for name, (_, fn) in self.terms.items()}
        total = sum(
            (self.terms[name][0] * value for name, value in values.items()), sr.new_zeros(())
        )
        return total, values
