"""Gradient-scaler handling for the alternating mode (float16 mixed precision).

Lightning's mixed-precision plugin calls ``scaler.update()`` after every optimiser step. With two
optimisers and gradient accumulation, the discriminator's step then changes the scale between
the generator's micro-batch backwards, and the generator's summed gradients are unscaled with
the wrong factor. PyTorch's AMP recipe for several optimisers updates the scale once per
iteration, after every optimiser has stepped; :func:`one_scale_update` gives that order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def gradient_scaler(trainer: Any) -> Any | None:
    """The trainer's gradient scaler (float16 mixed precision on CUDA, or one passed in), else
    None (32-bit, bfloat16, DeepSpeed)."""
    plugin = getattr(trainer, "precision_plugin", None)
    return getattr(plugin, "scaler", None)


@contextlib.contextmanager
def one_scale_update(scaler: Any | None) -> Iterator[None]:
    """Hold back ``scaler.update()`` while the block steps optimisers; update once at its end
    (only when some optimiser stepped through the scaler, which ``update`` requires)."""
    if scaler is None:
        yield
        return
    requested: list[bool] = []
    scaler.update = lambda new_scale=None: requested.append(True)
    try:
        yield
    finally:
        del scaler.update  # the class's own method again
    if requested:
        scaler.update()
