"""Optimisers and parameter groups for the two networks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganlab.config.schema import OptimizersConfig


def parameter_groups(
    module: nn.Module, name: str, lr: float, weight_decay: float
) -> list[dict[str, Any]]:
    """Parameter groups of ``module``: decayed weights, and biases/normalisation without decay.

    Tensors with one dimension (biases, norm scales/shifts, PReLU slopes) never get weight decay.
    Groups carry ``name`` (``generator``/``discriminator``) and ``base_lr`` for the schedules.
    """
    decayed: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for param in module.parameters():
        if param.requires_grad:
            (plain if param.ndim <= 1 else decayed).append(param)
    groups = [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return [dict(g, name=name, lr=lr, base_lr=lr) for g in groups if g["params"]]


def build_optimizer(
    groups: list[dict[str, Any]], config: OptimizersConfig
) -> torch.optim.Optimizer:
    """Adam or AdamW (``Optimizers.optimizer``) over ``groups``."""
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(groups, betas=config.betas, eps=config.eps)


def network_groups(
    generator: nn.Module, discriminator: nn.Module, config: OptimizersConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Generator and discriminator parameter groups with their own rates."""
    return (
        parameter_groups(generator, "generator", config.optim_g_lr, config.weight_decay),
        parameter_groups(
            discriminator, "discriminator", config.discriminator_lr, config.weight_decay
        ),
    )
