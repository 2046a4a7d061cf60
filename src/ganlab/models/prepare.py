"""Runtime preparation of a built model (channels-last memory format, ``torch.compile``) and
finding the network behind the wrappers that preparation and FSDP put around it."""

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


def unwrapped(module: nn.Module) -> nn.Module:
    """The original module behind ``torch.compile``'s wrapper, if any."""
    return getattr(module, "_orig_mod", module)


def network_class(module: nn.Module) -> type[nn.Module]:
    """The class of ``module`` as written in its package, also after FSDP2's ``fully_shard``
    (which swaps the instance's class for a generated ``FSDP<Name>`` subclass)."""
    cls = type(unwrapped(module))
    if torch.distributed.is_available():
        from torch.distributed.fsdp import FSDPModule

        if issubclass(cls, FSDPModule):
            return next(
                base
                for base in cls.__mro__
                if issubclass(base, nn.Module) and not issubclass(base, FSDPModule)
            )
    return cls
