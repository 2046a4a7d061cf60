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
        {"params": decayed, "weight_decay": weight_decay, "decayed": True},
        {"params": plain, "weight_decay": 0.0, "decayed": False},
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


def apply_optimizer_settings(
    optimizers: list[torch.optim.Optimizer], config: OptimizersConfig
) -> list[str]:
    """Set the config's rates, weight decay, betas and eps on (restored) optimisers.

    On resume, Lightning restores each optimiser's state dict, parameter-group settings
    included; without this, a learning rate or weight decay changed in the config would be
    silently ignored. Moments and step counts are kept.

    Returns:
        One line per setting that changed, e.g.
        ``Optimizers.optim_g_lr=0.0001 (the checkpoint had 0.0002)``.
    """
    wanted_lr = {"generator": config.optim_g_lr, "discriminator": config.discriminator_lr}
    lr_keys = {"generator": "optim_g_lr", "discriminator": "optim_d_lr"}
    changes: dict[str, str] = {}
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            name = group["name"]
            decayed = group.get("decayed", any(p.ndim > 1 for p in group["params"]))
            settings = {
                f"Optimizers.{lr_keys[name]}": ("base_lr", wanted_lr[name]),
                "Optimizers.weight_decay": (
                    "weight_decay",
                    config.weight_decay if decayed else group["weight_decay"],
                ),
                "Optimizers.betas": ("betas", tuple(config.betas)),
                "Optimizers.eps": ("eps", config.eps),
            }
            for key, (field, value) in settings.items():
                old = group.get(field)
                old = tuple(old) if isinstance(old, list | tuple) else old
                if old != value:
                    changes.setdefault(key, f"{key}={value} (the checkpoint had {old})")
                    group[field] = value
    return list(changes.values())
