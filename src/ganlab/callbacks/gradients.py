"""Per-network gradient norms, measured before clipping, with warning thresholds."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from ganlab._lightning import Callback, logged_batches, pl
from ganlab.callbacks.alerts import AlertDispatcher, training_position
from ganlab.distributed.tensors import full_tensor

log = logging.getLogger(__name__)

FALLBACK_EVERY_N_STEPS = 50
"""Measurement interval when ``every_n_steps`` is unset and ``log_every_n_steps`` is 0."""


class GradientNormLogger(Callback):
    """Log each network's total gradient p-norm as ``grad_norm/generator`` and
    ``grad_norm/discriminator`` (and ``grad_norm/<network>/<parameter>`` with ``per_layer``).

    The norm is measured in ``on_before_optimizer_step``, which Lightning calls for callbacks
    before the module's own hook, so it sees the gradients before clipping (and unscaled under
    16-mixed). Parameters are attributed to networks by the ``name`` of their optimiser
    parameter group (``generator``/``discriminator``, one optimiser per network in the
    alternating mode, both groups in one optimiser in the joint mode); parameter names come
    from the module's ``named_parameters()`` without the network prefix.

    Only every ``every_n_steps``-th step is measured: steps ``N-1, 2N-1, ...`` of the module's
    own generator step counter, which with the default ``N = Trainer.log_every_n_steps`` are
    the steps whose training scalars Lightning writes. A measured step costs one foreach norm
    per network and one device-to-host copy; other steps cost nothing. A network without
    gradients at that step (e.g. the discriminator while the generator is pretrained) is not
    logged. The values are written straight to the trainer's loggers, at Lightning's logging
    step, so they appear on the measured steps only.

    Thresholds are checked on measured steps: a finite norm above a network's threshold logs a
    warning and sends a ``gradient_threshold`` alert through ``dispatcher``, at most once per
    network per ``warn_interval_steps`` steps.

    Args:
        every_n_steps: Measure every N steps; None: ``Trainer.log_every_n_steps``.
        norm_type: p of the p-norm (``float("inf")`` for the largest magnitude).
        per_layer: Also log the norm of every parameter.
        generator_threshold: Warn when the generator's norm exceeds this; None: never.
        discriminator_threshold: Warn when the discriminator's norm exceeds this; None: never.
        warn_interval_steps: Fewest steps between two warnings for the same network.
        dispatcher: Sends ``gradient_threshold`` alerts; None: warnings only.
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        norm_type: float = 2.0,
        per_layer: bool = False,
        generator_threshold: float | None = None,
        discriminator_threshold: float | None = None,
        warn_interval_steps: int = 100,
        dispatcher: AlertDispatcher | None = None,
    ) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1 or None, got {every_n_steps}")
        if norm_type <= 0:
            raise ValueError(f"norm_type must be > 0, got {norm_type}")
        self.every_n_steps = every_n_steps
        self.norm_type = float(norm_type)
        self.per_layer = per_layer
        self.thresholds = {
            "generator": generator_threshold,
            "discriminator": discriminator_threshold,
        }
        self.warn_interval_steps = warn_interval_steps
        self.dispatcher = dispatcher
        self.last_norms: dict[str, float] = {}
        """The values of the latest measurement of each network (the keys as logged)."""
        self._interval = every_n_steps or FALLBACK_EVERY_N_STEPS
        self._last_warning: dict[str, int] = {}
        self._parameter_names: dict[int, str] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # set by Lightning's logger connector, not declared on the Trainer class
        log_every_n_steps = int(getattr(trainer, "log_every_n_steps", 0) or 0)
        self._interval = self.every_n_steps or log_every_n_steps or FALLBACK_EVERY_N_STEPS
        self._last_warning.clear()
        self._parameter_names = None  # parameters may be replaced (sharding) after setup

    def due(self, step: int) -> bool:
        """Whether the step with 0-based index ``step`` is measured."""
        return (step + 1) % self._interval == 0

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        step, epoch = training_position(trainer, pl_module)
        if not self.due(step) or _joint_step_skipped(pl_module):
            return
        gradients = self._gradients(pl_module, optimizer)
        if not gradients:
            return
        norms = self._norms(gradients)
        self.last_norms.update(norms)
        if trainer.is_global_zero:
            logger_step = _logger_step(trainer)
            for logger in trainer.loggers:
                logger.log_metrics(norms, step=logger_step)
        for network in gradients:
            self._check_threshold(trainer, network, norms[f"grad_norm/{network}"], step, epoch)

    def _gradients(
        self, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> dict[str, list[tuple[str, torch.Tensor]]]:
        """``network -> [(parameter name, gradient)]`` of the optimiser's parameters."""
        if self._parameter_names is None:
            self._parameter_names = {id(p): name for name, p in pl_module.named_parameters()}
        gradients: dict[str, list[tuple[str, torch.Tensor]]] = {}
        for index, group in enumerate(optimizer.param_groups):
            network = str(group.get("name", f"group{index}"))
            for position, param in enumerate(group["params"]):
                if param.grad is None:
                    continue
                name = self._parameter_names.get(id(param), f"group{index}.param{position}")
                name = name.removeprefix(f"{network}.")
                gradients.setdefault(network, []).append((name, param.grad.detach()))
        return gradients

    def _norms(self, gradients: dict[str, list[tuple[str, torch.Tensor]]]) -> dict[str, float]:
        """Total (and per-parameter) norms of every network, with one host sync."""
        totals: list[torch.Tensor] = []
        per_parameter: list[torch.Tensor] = []
        total_keys: list[str] = []
        parameter_keys: list[str] = []
        for network, named in gradients.items():
            norms = torch._foreach_norm([grad for _, grad in named], self.norm_type)
            stacked = torch.stack([full_tensor(norm).float() for norm in norms])
            totals.append(torch.linalg.vector_norm(stacked, self.norm_type))
            total_keys.append(f"grad_norm/{network}")
            if self.per_layer:
                per_parameter.append(stacked)
                parameter_keys.extend(f"grad_norm/{network}/{name}" for name, _ in named)
        values = torch.cat([torch.stack(totals), *per_parameter]).tolist()
        return dict(zip(total_keys + parameter_keys, values, strict=True))

    def _check_threshold(
        self, trainer: pl.Trainer, network: str, norm: float, step: int, epoch: int
    ) -> None:
        threshold = self.thresholds.get(network)
        if threshold is None or not math.isfinite(norm) or norm <= threshold:
            return
        last = self._last_warning.get(network)
        if last is not None and step - last < self.warn_interval_steps:
            return
        self._last_warning[network] = step
        message = (
            f"step {step}: {network} gradient norm {norm:.4g} exceeds its threshold "
            f"{threshold:.4g} (before clipping; next warning for it in >= "
            f"{self.warn_interval_steps} steps)"
        )
        if trainer.is_global_zero:
            log.warning(message)
        if self.dispatcher is not None:
            details: dict[str, Any] = {
                "network": network,
                "norm": norm,
                "threshold": threshold,
                "norm_type": self.norm_type,
            }
            self.dispatcher.alert(
                "gradient_threshold", message, step=step, epoch=epoch, details=details
            )


def _joint_step_skipped(pl_module: pl.LightningModule) -> bool:
    """Whether the module skips this joint step for a non-finite loss: its gradients are then
    a zero stand-in that the module drops, not gradients worth measuring."""
    guard = getattr(pl_module, "guard", None)
    return bool(pl_module.automatic_optimization and getattr(guard, "this_step", False))


def _logger_step(trainer: pl.Trainer) -> int:
    """The step Lightning gives the loggers for this batch's training scalars, so the norms
    share their x axis (Lightning counts batches that stepped, not ``global_step``, which
    counts both optimisers in the alternating mode)."""
    return logged_batches(trainer)
