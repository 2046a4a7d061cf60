"""What the machine offers for speed: native bf16 support of the CPU or GPU.

``Training.precision: auto`` follows these probes (measured on CPUs of the same kind: with
``avx512_bf16``/``amx_bf16``, bf16-mixed trained 1.6-1.7x faster than float32; without them
bf16 autocast is a slow path, 19x slower for the quickstart; see docs/performance.md).
``Training.channels_last: auto`` follows the device and the chosen precision
(:func:`auto_channels_last`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic."""

CPUINFO = Path("/proc/cpuinfo")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` is not available)."""
    try:
        for line in CPUINFO.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX)."""
    return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def cuda_bf16() -> bool | None:
    """Whether the first CUDA GPU computes bfloat16 natively (Ampere or newer; None: no CUDA
    GPU). Emulated bfloat16 (older GPUs) counts as no: it is slower than float32."""
    import torch

    if not torch.cuda.is_available():
        return None
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def other_accelerator() -> str | None:
    """The non-CUDA accelerator Lightning's ``accelerator: auto`` would pick (``mps``), if any."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else None


FORKING_STRATEGIES = frozenset({"ddp_fork", "ddp_notebook"})
"""Strategies that fork processes, which CUDA must not have been initialised before."""


def cuda_probe_allowed(strategy: str) -> bool:
    """Whether the bf16 probe may touch CUDA (it initialises it) before ``strategy`` starts."""
    return strategy not in FORKING_STRATEGIES and "fork" not in strategy


def auto_precision(accelerator: str, strategy: str = "auto") -> tuple[str, str]:
    """``(Lightning precision, reason)`` for ``Training.precision: auto`` on ``accelerator``.

    bf16-mixed on a CUDA GPU with bf16 and on a CPU with native bf16; float32 elsewhere.

    Example:
        >>> precision, reason = auto_precision("cpu")
        >>> precision in ("32-true", "bf16-mixed")
        True
    """
    if accelerator in ("auto", "gpu", "cuda"):
        if not cuda_probe_allowed(strategy):
            return "32-true", (
                f"strategy {strategy} forks processes and probing the GPU would initialise "
                "CUDA first; set Training.precision explicitly (e.g. bf16)"
            )
        bf16 = cuda_bf16()
        if bf16 is not None:
            if bf16:
                return "bf16-mixed", "the CUDA GPU supports bfloat16"
            return "32-true", "the CUDA GPU does not support bfloat16"
        if accelerator != "auto":  # Lightning will say that no GPU is there
            return "32-true", f"no CUDA GPU is visible for accelerator {accelerator}"
    if accelerator in ("auto", "cpu"):
        if cpu_has_native_bf16():
            return "bf16-mixed", "the CPU has native bfloat16 (avx512_bf16/amx_bf16)"
        return "32-true", (
            "the CPU has no native bfloat16 (no avx512_bf16/amx_bf16 flag), where bf16 "
            "autocast is a slow path"
        )
    return "32-true", f"no bf16 rule for accelerator {accelerator}"


HALF_PRECISIONS = frozenset({"16-mixed", "bf16-mixed", "16-true", "bf16-true"})
"""Lightning precisions that run convolutions in 16 bits (tensor cores on a GPU)."""


UNSHARDABLE_LAYOUT_STRATEGIES = frozenset({"fsdp", "deepspeed"})
"""Strategies that flatten or shard parameters and need the standard (contiguous) layout."""


def auto_channels_last(
    accelerator: str, precision: str, strategy: str = "auto"
) -> tuple[bool, str]:
    """``(channels_last, reason)`` for ``Training.channels_last: auto``.

    ``precision`` is the Lightning precision the run uses (``auto`` already resolved). On a
    CPU the channels-last format is chosen at every precision: oneDNN's convolutions run
    natively in it (measured for the quickstart in float32: 1.6x faster generator-only steps,
    1.22x faster adversarial steps; bf16-mixed 2x faster than in the standard format). On a
    CUDA GPU it is chosen with 16-bit precisions, whose tensor-core convolutions work in
    channels-last; float32 on a GPU and other accelerators keep the standard format (no
    measurement here shows a gain there). Under ``fsdp`` and ``deepspeed`` it is off: they
    shard flattened parameters, and FSDP2 refuses channels-last ones.

    Example:
        >>> auto_channels_last("cpu", "32-true")[0]
        True
    """
    if strategy in UNSHARDABLE_LAYOUT_STRATEGIES:
        return False, f"strategy {strategy} shards parameters in the standard layout only"
    if accelerator in ("auto", "gpu", "cuda") and not cuda_probe_allowed(strategy):
        return False, f"strategy {strategy} forks processes: CUDA is not probed before it"
    if accelerator in ("auto", "gpu", "cuda") and cuda_bf16() is not None:
        if precision in HALF_PRECISIONS:
            return True, f"{precision} on a CUDA GPU runs tensor-core convolutions in channels-last"
        return False, f"no measured gain for {precision} on a CUDA GPU"
    if accelerator == "cpu" or (accelerator == "auto" and other_accelerator() is None):
        return True, "CPU convolutions (oneDNN) run faster in channels-last"
    return False, f"no channels-last rule for accelerator {accelerator} on this machine"
