"""Non-finite losses and gradients: agreement across processes, skipping, counting, stopping."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ganlab.errors import TrainingFailure

log = logging.getLogger(__name__)


class NonFiniteTrainingError(TrainingFailure):
    """Too many consecutive steps had NaN/Inf losses or gradients."""


def on_every_rank(trainer: Any, ok: bool, device: torch.device) -> bool:
    """``ok`` only when it holds on every process, so that all ranks skip the same updates:
    DDP/FSDP collectives hang when one rank skips a backward the others run."""
    world_size = trainer.world_size
    if world_size == 1:
        return ok
    votes = trainer.strategy.reduce(torch.tensor(float(ok), device=device), reduce_op="sum")
    return bool(votes.item() == world_size)


def gradients_finite(params: list[torch.Tensor]) -> bool:
    """Whether every gradient is finite (one host sync)."""
    norms = torch._foreach_norm([p.grad for p in params if p.grad is not None])
    return bool(torch.isfinite(torch.stack(norms)).all())


def clip_gradients(params: list[torch.Tensor], value: float | None, algorithm: str) -> None:
    """Clip ``params``' gradients by total norm or elementwise by value (None: no clipping)."""
    if not value or not params:
        return
    if algorithm == "value":
        nn.utils.clip_grad_value_(params, value)
    else:
        nn.utils.clip_grad_norm_(params, value)


def gradients_by_network(optimizer: torch.optim.Optimizer) -> dict[str, list[torch.Tensor]]:
    """The parameters with gradients of each network (parameter groups carry ``name``)."""
    groups: dict[str, list[torch.Tensor]] = {}
    for group in optimizer.param_groups:
        grads = [p for p in group["params"] if p.grad is not None]
        groups.setdefault(group["name"], []).extend(grads)
    return groups


def screen_gradients(
    optimizer: torch.optim.Optimizer,
    skip_all: bool,
    finite: Callable[[list[torch.Tensor]], bool] | None,
) -> tuple[dict[str, list[torch.Tensor]], list[str]]:
    """Drop the gradients the optimiser must not step on; return the parameters that keep
    theirs, by network, and the networks dropped for non-finite gradients.

    Gradients are unscaled here under 16-mixed. ``skip_all`` (a joint step whose loss was
    non-finite) drops every gradient, so the optimiser steps on nothing and its state (moments,
    step counts) stays as it was, with or without a gradient scaler. Otherwise each network
    whose gradients ``finite`` rejects loses them (``finite`` is None under a gradient scaler,
    which skips overflowing steps and lowers the scale itself).
    """
    kept: dict[str, list[torch.Tensor]] = {}
    dropped: list[str] = []
    for name, params in gradients_by_network(optimizer).items():
        if params and (skip_all or (finite is not None and not finite(params))):
            drop_gradients(params)
            if not skip_all:
                dropped.append(name)
        else:
            kept[name] = params
    return kept, dropped


def drop_gradients(params: list[torch.Tensor]) -> None:
    """Remove the gradients, so the optimiser steps on nothing (state untouched)."""
    for param in params:
        param.grad = None


class NonFiniteGuard:
    """Counts steps skipped for NaN/Inf and stops the run after too many in a row.

    Args:
        max_consecutive: ``Training.max_nonfinite_steps``.

    Example:
        >>> guard = NonFiniteGuard(max_consecutive=2)
        >>> guard.mark(); guard.end_step(0)
        True
        >>> guard.total, guard.consecutive
        (1, 1)
    """

    def __init__(self, max_consecutive: int) -> None:
        self.max_consecutive = max_consecutive
        self.total = 0
        self.consecutive = 0
        self.this_step = False

    def mark(self) -> None:
        """Record that the current step skips (part of) its update."""
        self.this_step = True

    def end_step(self, step: int) -> bool:
        """Close generator step ``step``; return whether it was skipped.

        Raises:
            NonFiniteTrainingError: The ``max_consecutive``-th skipped step in a row.
        """
        skipped, self.this_step = self.this_step, False
        if not skipped:
            self.consecutive = 0
            return False
        self.total += 1
        self.consecutive += 1
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteTrainingError(
                f"{self.consecutive} consecutive steps (up to step {step}) had NaN/Inf losses or "
                f"gradients and were skipped (Training.max_nonfinite_steps="
                f"{self.max_consecutive}). Lower the learning rates, enable "
                "Optimizers.gradient_clip_val, or check the data; the checkpoints already "
                "written are untouched."
            )
        return True

    def state_dict(self) -> dict[str, int]:
        """Counts stored in checkpoints."""
        return {"nonfinite_total": self.total, "nonfinite_consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (missing counts: 0)."""
        self.total = int(state.get("nonfinite_total", 0))
        self.consecutive = int(state.get("nonfinite_consecutive", 0))
