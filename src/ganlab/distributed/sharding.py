"""FSDP2 sharding of the two networks: the module-facing half of :mod:`ganlab.distributed`.

The engine calls :meth:`ShardingPlan.apply` from Lightning's ``configure_model`` hook under
``Training.strategy: fsdp`` (Lightning's ``ModelParallelStrategy``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ganlab.config.schema import Config
from ganlab.errors import ConfigError
from ganlab.registry import import_object

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

log = logging.getLogger(__name__)

FSDP_DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}
"""``Training.fsdp.mixed_precision`` -> parameter dtype."""

TRUE_DTYPES = {"bf16-true": torch.bfloat16, "16-true": torch.float16}
"""Precisions under which Lightning converts the whole module (buffers too) to one dtype."""


def is_sharded(module: nn.Module) -> bool:
    """Whether ``fully_shard`` (FSDP2) has been applied to ``module``."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def _import_class(path: str) -> type:
    try:
        found = import_object(path, "Training.fsdp.auto_wrap")
    except ConfigError as exc:
        raise ConfigError(f"Training.fsdp.auto_wrap: cannot import {path!r} ({exc})") from None
    if not isinstance(found, type):
        raise ConfigError(f"Training.fsdp.auto_wrap: {path!r} is not a class")
    return found


def wrap_targets(names: Iterable[str], networks: Iterable[nn.Module]) -> list[nn.Module]:
    """Submodules of ``networks`` (not the networks themselves) whose class matches an entry
    of ``Training.fsdp.auto_wrap``, children before parents.

    An entry is a class name (``RRDB``) or an import path (``pkg.module:Class``, which also
    matches subclasses).

    Raises:
        ConfigError: An entry matches no submodule; the message lists the class names found.
    """
    networks = list(networks)
    submodules = [m for network in networks for m in network.modules() if m is not network]
    found = sorted({type(m).__name__ for network in networks for m in network.modules()})
    targets: list[nn.Module] = []
    for name in names:
        if ":" in name:
            cls = _import_class(name)
            matches = [m for m in submodules if isinstance(m, cls)]
        else:
            matches = [m for m in submodules if type(m).__name__ == name]
        if not matches:
            raise ConfigError(
                f"Training.fsdp.auto_wrap: no submodule of the generator or discriminator is "
                f"a {name!r}; class names found in the networks: {', '.join(found)} "
                "(give a class name or 'pkg.module:Class')"
            )
        targets.extend(m for m in matches if all(m is not t for t in targets))
    # fully_shard goes bottom-up: a submodule must be sharded before any module holding it
    depth = {id(m): name.count(".") for net in networks for name, m in net.named_modules()}
    return sorted(targets, key=lambda m: -depth[id(m)])


def fsdp_param_dtype(config: Config) -> torch.dtype | None:
    """Dtype of the gathered parameters in forward/backward (``Training.fsdp_param_precision``:
    ``fsdp.mixed_precision``, else that of a bf16/16 ``precision``), or None (no policy)."""
    choice = config.Training.fsdp_param_precision
    return None if choice is None else FSDP_DTYPES[choice]


@dataclass(frozen=True)
class ShardingPlan:
    """How FSDP2 shards the generator and the discriminator.

    Args:
        auto_wrap: Classes (names or ``pkg.module:Class``) sharded as units of their own.
        param_dtype: Dtype of gathered parameters in forward/backward (None: unchanged);
            gradients are then reduced in float32.
        cpu_offload: Keep shards and optimiser states in CPU memory.
        whole_module_cast: Lightning casts the whole module, buffers too (``bf16-true``,
            ``16-true``), so batch norms need no float32 units of their own.

    Example:
        >>> ShardingPlan(auto_wrap=["RRDB"], param_dtype=torch.bfloat16).cpu_offload
        False
    """

    auto_wrap: Sequence[str] = field(default_factory=tuple)
    param_dtype: torch.dtype | None = None
    cpu_offload: bool = False
    whole_module_cast: bool = False

    @classmethod
    def from_config(cls, config: Config) -> ShardingPlan:
        """The plan of ``Training.fsdp`` and ``Training.precision``."""
        fsdp = config.Training.fsdp
        return cls(
            auto_wrap=tuple(fsdp.auto_wrap),
            param_dtype=fsdp_param_dtype(config),
            cpu_offload=fsdp.cpu_offload,
            whole_module_cast=config.Training.lightning_precision in TRUE_DTYPES,
        )

    def apply(self, generator: nn.Module, discriminator: nn.Module, mesh: DeviceMesh) -> None:
        """Apply FSDP2 ``fully_shard`` in place: first every submodule matched by
        :attr:`auto_wrap` (see :func:`wrap_targets`), then each network as a whole.

        Parameters become ``DTensor`` shards over ``mesh``. Calling it again on sharded networks
        does nothing (Lightning calls ``configure_model`` for every fit/validate/test/predict).
        The generator's EMA copy must have been taken before. Channels-last parameters are
        made contiguous first (FSDP2 refuses others).

        Raises:
            ConfigError: An ``auto_wrap`` entry matches nothing (nothing is sharded then).
        """
        from torch.distributed.fsdp import (
            CPUOffloadPolicy,
            MixedPrecisionPolicy,
            OffloadPolicy,
            fully_shard,
        )

        if is_sharded(generator) and is_sharded(discriminator):
            return
        networks = [generator, discriminator]
        for network in networks:  # FSDP2 shards contiguous parameters only (not channels-last)
            network.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        targets = wrap_targets(self.auto_wrap, networks)
        dtype = self.param_dtype
        # pinned host memory needs an accelerator; on a CPU mesh the shards are in CPU memory
        offload_policy = (
            CPUOffloadPolicy(pin_memory=mesh.device_type != "cpu")
            if self.cpu_offload
            else OffloadPolicy()
        )
        mp_policy = (
            MixedPrecisionPolicy()
            if dtype is None
            else MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        )
        norms: list[nn.Module] = []
        if dtype is not None and not self.whole_module_cast:
            # Batch norms keep float32 running statistics, which batch_norm refuses beside
            # low-precision weights: they run in float32 as units of their own instead.
            norms = [
                m
                for network in networks
                for m in network.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            ]
            norm_policy = MixedPrecisionPolicy(
                param_dtype=torch.float32, reduce_dtype=torch.float32, output_dtype=dtype
            )
            for module in norms:
                fully_shard(module, mesh=mesh, mp_policy=norm_policy, offload_policy=offload_policy)
        for module in [*targets, *networks]:
            if any(module is norm for norm in norms):
                continue
            fully_shard(module, mesh=mesh, mp_policy=mp_policy, offload_policy=offload_policy)
        log.info(
            "FSDP2: sharded %d auto_wrap submodules, %d batch norms, the generator and the "
            "discriminator over %d processes (param dtype %s, cpu offload %s)",
            len(targets),
            len(norms),
            mesh.size(),
            dtype or "unchanged",
            self.cpu_offload,
        )


def shard_networks(
    generator: nn.Module, discriminator: nn.Module, config: Config, mesh: DeviceMesh
) -> None:
    """``ShardingPlan.from_config(config).apply(generator, discriminator, mesh)``."""
    ShardingPlan.from_config(config).apply(generator, discriminator, mesh)
