"""Runtime preparation of a built model: channels-last memory format and ``torch.compile``."""

from __future__ import annotations

import torch
from torch import nn


def prepare_for_training(
    model: nn.Module,
    channels_last: bool = False,
    compile: bool = False,
    compile_backend: str = "inductor",
) -> nn.Module:
    """Apply ``Training.channels_last`` and ``Training.compile`` to ``model`` in place.

    Channels-last converts the 4-D parameters and buffers; convs then produce channels-last
    activations. Compilation uses ``nn.Module.compile``, which compiles the forward call in
    place, so the module type, its parameters and its ``state_dict`` keys stay unchanged
    (checkpoints, EMA copies and weight loading keep working).

    Args:
        model: A generator or discriminator.
        channels_last: Use the channels-last memory format.
        compile: Compile the forward pass with ``torch.compile``.
        compile_backend: ``torch.compile`` backend (``inductor``; ``aot_eager`` for tests).

    Returns:
        The same module, for chaining.
    """
    if channels_last:
        # Module.to accepts memory_format at run time; the type stubs omit it.
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if compile:
        model.compile(backend=compile_backend)
    return model
