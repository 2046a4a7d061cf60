"""Helpers for tensors that may be FSDP2 shards (``DTensor``), for the engine and callbacks."""

from __future__ import annotations

import torch
from torch import nn


def is_dtensor(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a ``DTensor`` (an FSDP2 shard)."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind an FSDP2 shard (a collective: every rank must call it); other
    tensors as they are."""
    return tensor.full_tensor() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined]


def placed_like(value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``value`` (a whole tensor) on ``reference``'s device, or, when ``reference`` is an FSDP2
    shard, as a shard with the same mesh and placements (cut locally, no communication)."""
    if not is_dtensor(reference):
        return value.to(reference.device)
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(
        value.to(device=reference.device, dtype=reference.dtype),
        reference.device_mesh,  # type: ignore[attr-defined]
        reference.placements,  # type: ignore[attr-defined]
        src_data_rank=None,
    )


def full_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` with FSDP2 shards gathered into whole tensors.

    Under FSDP2 this is a collective: every rank must call it.
    """
    return {name: full_tensor(value.detach()) for name, value in module.state_dict().items()}
