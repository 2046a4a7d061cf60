"""Random-number-generator states saved in checkpoints, so a resumed run draws what the
uninterrupted run would have drawn (dropout, gradient-penalty mixing, custom randomness).

States are stored as tensors and plain Python values, so checkpoints still load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


def capture_rng_states() -> dict[str, Any]:
    """The states of this process's generators: Python's ``random``, NumPy's global generator,
    torch's CPU generator and (when CUDA is in use) the current CUDA device's generator."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if cuda else None,
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_states` returned."""
    python = states["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"])
    cuda_state = states.get("cuda")
    if isinstance(cuda_state, torch.Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda_state)


def gather_rng_states() -> list[dict[str, Any]]:
    """Every process's :func:`capture_rng_states`, by rank (a collective under DDP/FSDP: every
    rank must call it; one element without a process group)."""
    states = capture_rng_states()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [states]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, states)
    return gathered


def states_for_this_rank(saved: Any) -> dict[str, Any] | None:
    """The entry of :func:`gather_rng_states`'s list for this process (rank 0's when the
    checkpoint came from fewer processes)."""
    if isinstance(saved, dict):  # one process's states
        return saved
    if not saved:
        return None
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    return saved[rank] if rank < len(saved) else saved[0]
