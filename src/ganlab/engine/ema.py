"""Exponential moving average (EMA) of the generator's weights and buffers.

After each generator update: before ``update_after_step`` the EMA is a copy of the live
weights (so it never holds the untrained initial weights once training has started); from
then on, every ``update_every`` steps, ``ema = d * ema + (1 - d) * weight`` for every
floating-point parameter, where ``d`` is ``decay`` or, with ``use_warmup``,
``min(decay, (1 + n) / (10 + n))`` for the ``n``-th averaging update. Buffers (e.g. batch-norm
statistics) are copied. The EMA copy is kept outside the
LightningModule's children, so it is never trained, never wrapped by DDP/FSDP, and may live on
another device (``device: cpu`` saves accelerator memory).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ganlab.config.schema import EMAConfig
from ganlab.distributed.sharding import is_sharded
from ganlab.distributed.tensors import full_state_dict, full_tensor, placed_like
from ganlab.models.prepare import unwrapped


class GeneratorEMA:
    """The averaged copy of a generator.

    Args:
        generator: The network to average (copied, not modified).
        decay: EMA decay ``d``: ``ema = d * ema + (1 - d) * weight``.
        update_after_step: First generator step that averages (before it: copies).
        update_every: Average every N generator steps.
        use_warmup: Use ``min(decay, (1 + n) / (10 + n))`` for the n-th averaging update.
        device: Device of the copy (None: follows the model).

    Example:
        >>> ema = GeneratorEMA(nn.Linear(2, 2), decay=0.5)
        >>> ema.num_updates, ema.current_decay()
        (0, 0.5)
    """

    def __init__(
        self,
        generator: nn.Module,
        decay: float = 0.999,
        update_after_step: int = 0,
        update_every: int = 1,
        use_warmup: bool = False,
        device: str | torch.device | None = None,
    ) -> None:
        self.decay = decay
        self.update_after_step = update_after_step
        self.update_every = update_every
        self.use_warmup = use_warmup
        self.device = device
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        self.num_updates = 0
        if device is not None:
            self.module.to(device)

    @classmethod
    def from_config(cls, generator: nn.Module, config: EMAConfig) -> GeneratorEMA:
        """The EMA ``Training.EMA`` describes."""
        return cls(
            generator,
            decay=config.decay,
            update_after_step=config.update_after_step,
            update_every=config.update_every,
            use_warmup=config.use_warmup,
            device=config.device,
        )

    def current_decay(self) -> float:
        """Decay applied by the next update."""
        if not self.use_warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    def due(self, step: int) -> bool:
        """Whether the generator step ``step`` (own counter) triggers an update."""
        return step >= self.update_after_step and step % self.update_every == 0

    def follow(self, generator: nn.Module, step: int) -> None:
        """Track the generator after its step ``step`` (own counter, 0-based): copy its weights
        before ``update_after_step``, then average them in when :meth:`due`."""
        if step < self.update_after_step:
            self.copy_from(generator)
        elif self.due(step):
            self.update(generator)

    @torch.no_grad()
    def copy_from(self, generator: nn.Module) -> None:
        """Make the EMA an exact copy of the generator's current weights and buffers (the
        update count is unchanged)."""
        self._blend(generator, 0.0)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """Blend the generator's current weights into the average; copy its buffers."""
        self._blend(generator, self.current_decay())
        self.num_updates += 1

    def _blend(self, generator: nn.Module, decay: float) -> None:
        ema_params = dict(self.module.named_parameters())
        for name, param in unwrapped(generator).named_parameters():
            target = ema_params[name]
            source = full_tensor(param.detach()).to(device=target.device, dtype=target.dtype)
            if decay == 0.0:
                target.copy_(source)
            else:
                target.lerp_(source, 1.0 - decay)
        ema_buffers = dict(self.module.named_buffers())
        for name, buffer in unwrapped(generator).named_buffers():
            if name in ema_buffers:
                ema_buffers[name].copy_(full_tensor(buffer.detach()).to(ema_buffers[name].device))

    def to(self, device: torch.device | str) -> None:
        """Move the average to ``device`` unless ``Training.EMA.device`` pins it."""
        if self.device is None:
            self.module.to(device)

    def state_dict(self) -> dict[str, Any]:
        """Weights, buffers and the update count (stored in checkpoints)."""
        return {"module": self.module.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state["num_updates"])

    def load_into(self, generator: nn.Module) -> dict[str, torch.Tensor]:
        """Load the EMA weights into ``generator``; return its raw state for :meth:`restore`.

        A generator sharded by FSDP2 receives each rank's part of the EMA weights (no
        communication; every rank holds the whole EMA copy) and returns its own shards.
        """
        target = unwrapped(generator)
        raw = {k: v.detach().clone() for k, v in target.state_dict().items()}
        target.load_state_dict(
            {k: placed_like(v, raw[k]) for k, v in self.module.state_dict().items()}
        )
        return raw

    @staticmethod
    def restore(generator: nn.Module, raw: dict[str, torch.Tensor]) -> None:
        """Put back the raw state returned by :meth:`load_into` (shards under FSDP2)."""
        unwrapped(generator).load_state_dict(raw)

    @contextlib.contextmanager
    def swapped_into(self, generator: nn.Module) -> Iterator[None]:
        """Temporarily load the EMA weights into ``generator``; always restore the raw ones.

        The raw weights are restored when the block ends, also when it raises.
        """
        raw = self.load_into(generator)
        try:
            yield
        finally:
            self.restore(generator, raw)


def generator_copy(
    generator: nn.Module, ema: GeneratorEMA | None, build: Callable[[], nn.Module]
) -> nn.Module:
    """A copy of ``generator`` holding the EMA weights (its own weights without an EMA), in
    evaluation mode.

    Under FSDP2 the copy is a plain (unsharded) generator from ``build()`` on the CPU; without
    an EMA its weights are gathered from all ranks, so every rank must call this then.
    """
    source = unwrapped(generator)
    ema_state = ema.module.state_dict() if ema is not None else None
    if is_sharded(source):
        copied = build()
        state = ema_state if ema_state is not None else full_state_dict(source)
        copied.load_state_dict({k: v.cpu() for k, v in state.items()})
        return copied.eval()
    copied = copy.deepcopy(source)
    if ema_state is not None:
        copied.load_state_dict(ema_state)
    return copied.eval()


__all__ = ["GeneratorEMA", "generator_copy"]
