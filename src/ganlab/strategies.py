"""``Training.strategy`` -> a Lightning strategy (DDP, FSDP2, DeepSpeed, or a registry name).

* ``ddp``: :class:`DDPStrategy` with ``Training.ddp`` (unused-parameter detection on by default,
  because generator and discriminator take turns).
* ``fsdp``: Lightning's :class:`ModelParallelStrategy` (FSDP2). The module shards its networks
  in ``configure_model`` through :func:`shard_networks`: every submodule whose class is named
  in ``Training.fsdp.auto_wrap``, then the generator and the discriminator as wholes.
* ``deepspeed``: :class:`DeepSpeedStrategy` (ZeRO), CUDA only and joint mode only.
* ``auto`` becomes ``ddp`` when more than one device or node is configured; any other name goes
  to Lightning's strategy registry as is.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import torch
from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy, Strategy
from torch import nn

from ganlab.config.schema import Config
from ganlab.errors import ConfigError
from ganlab.registry import import_object

if TYPE_CHECKING:
    from lightning.pytorch.strategies import DeepSpeedStrategy
    from torch.distributed.device_mesh import DeviceMesh

log = logging.getLogger(__name__)

FSDP_PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-true")
"""Lightning precisions that ``ModelParallelStrategy`` accepts."""

_FSDP_DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}
_TRUE_DTYPES = {"bf16-true": torch.bfloat16, "16-true": torch.float16}
"""Precisions under which Lightning converts the whole module (buffers too) to one dtype."""


def _device_count(devices: int | str | list[int]) -> int | None:
    """Devices per node, or None when Lightning decides (``auto``, ``-1``)."""
    if isinstance(devices, list):
        return len(devices)
    if isinstance(devices, int):
        return None if devices == -1 else devices
    if devices.strip().lstrip("-").isdigit():
        return _device_count(int(devices))
    if "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    return None


# ----------------------------------------------------------------------------------- checks


def check_strategy_environment(config: Config) -> None:
    """Refuse a strategy this machine cannot run, before any data or model is built.

    Raises:
        ConfigError: ``deepspeed`` without a CUDA GPU (or with ``Training.accelerator: cpu``),
            or without the ``deepspeed`` package.
    """
    training = config.Training
    if training.strategy != "deepspeed":
        return
    if training.accelerator == "cpu" or not torch.cuda.is_available():
        where = (
            "Training.accelerator is cpu"
            if training.accelerator == "cpu"
            else "no CUDA GPU is visible (torch.cuda.is_available() is false)"
        )
        raise ConfigError(
            f"Training.strategy: deepspeed needs NVIDIA GPUs (CUDA), but {where}. "
            "On this machine use Training.strategy: ddp, or fsdp to shard the weights."
        )
    _require_deepspeed()


def _require_deepspeed() -> None:
    if importlib.util.find_spec("deepspeed") is None:
        raise ConfigError(
            "Training.strategy: deepspeed needs the deepspeed package, which is not installed; "
            "run `pip install deepspeed` (on a machine with CUDA), or use ddp or fsdp"
        )


# ------------------------------------------------------------------------------- strategies


def ddp_strategy(config: Config) -> DDPStrategy:
    """DDP with ``Training.ddp``.

    ``process_group_backend`` null lets Lightning choose: nccl on CUDA devices, gloo otherwise.
    """
    ddp = config.Training.ddp
    return DDPStrategy(
        find_unused_parameters=ddp.find_unused_parameters,
        static_graph=ddp.static_graph,
        process_group_backend=ddp.process_group_backend,
    )


class DataParallelFSDP(ModelParallelStrategy):
    """``ModelParallelStrategy`` used for data parallelism only (FSDP2 over every process).

    Lightning's ``data_parallel_size="auto"`` means the number of nodes (the rest of the
    processes would form tensor-parallel groups). Here, when the device count is not known
    while the config is read (``devices: auto``), the data-parallel size is set to the world
    size once Lightning knows it.
    """

    def setup_environment(self) -> None:
        if self._data_parallel_size == "auto":
            self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()


def fsdp_strategy(config: Config) -> ModelParallelStrategy:
    """FSDP2 through Lightning's ``ModelParallelStrategy``: data-parallel over all processes,
    no tensor parallelism.

    Raises:
        ConfigError: ``Training.precision`` is one the strategy does not support.
    """
    training = config.Training
    precision = training.lightning_precision
    if precision not in FSDP_PRECISIONS:
        raise ConfigError(
            f"Training.precision: {training.precision} is not supported with strategy fsdp "
            f"(supported: {', '.join(FSDP_PRECISIONS)}); for float16 weights in forward and "
            "backward keep precision 32 and set Training.fsdp.mixed_precision: 16, or use "
            "precision bf16"
        )
    true_dtype = _TRUE_DTYPES.get(precision)
    mixed = training.fsdp.mixed_precision
    if true_dtype is not None and mixed is not None and _FSDP_DTYPES[mixed] != true_dtype:
        raise ConfigError(
            f"Training.fsdp.mixed_precision: {mixed} conflicts with Training.precision "
            f"{training.precision}, which already stores every weight in {true_dtype}; set "
            "mixed_precision to null"
        )
    count = _device_count(training.devices)
    data_parallel_size: Literal["auto"] | int = (
        "auto" if count is None else count * training.num_nodes
    )
    return DataParallelFSDP(
        data_parallel_size=data_parallel_size,
        tensor_parallel_size=1,
        save_distributed_checkpoint=training.fsdp.save_distributed_checkpoint,
        process_group_backend=training.ddp.process_group_backend,
    )


def deepspeed_strategy(config: Config) -> DeepSpeedStrategy:
    """DeepSpeed ZeRO with ``Training.deepspeed``, without checking for CUDA (see
    :func:`check_strategy_environment`).

    ``train_micro_batch_size_per_gpu`` is ``micro_batch_size`` or ``Data.batch_size``; gradient
    clipping by norm (``Optimizers.gradient_clip_val``) becomes DeepSpeed's
    ``gradient_clipping``, because DeepSpeed keeps the gradients in its own partitions.

    Raises:
        ConfigError: The deepspeed package is missing, clipping by value is configured
            (DeepSpeed clips by norm only), or the EMA is combined with ZeRO stage 3.
    """
    _require_deepspeed()
    from lightning.pytorch.strategies import DeepSpeedStrategy

    options = config.Training.deepspeed
    if options.stage == 3 and config.Training.EMA.enabled:
        raise ConfigError(
            "Training.EMA with deepspeed stage 3 is not supported: ZeRO-3 partitions the "
            "generator's weights, which the EMA reads after every step; use "
            "Training.deepspeed.stage 2 (or 1), or strategy fsdp"
        )
    clip_value, clip_algorithm = config.gradient_clipping()
    if clip_value and clip_algorithm != "norm":
        raise ConfigError(
            f"Optimizers.gradient_clip_algorithm: {clip_algorithm} is not supported with "
            "strategy deepspeed, which clips by norm only; set it to norm"
        )
    strategy = DeepSpeedStrategy(
        stage=options.stage,
        offload_optimizer=options.offload_optimizer,
        offload_parameters=options.offload_parameters,
        logging_batch_size_per_gpu=options.micro_batch_size or config.Data.batch_size,
        process_group_backend=config.Training.ddp.process_group_backend,
    )
    if clip_value:
        assert strategy.config is not None  # built from the arguments above
        strategy.config["gradient_clipping"] = clip_value
    return strategy


def build_strategy(config: Config, check_environment: bool = True) -> Strategy | str:
    """The strategy for ``config.Training``.

    ``auto`` becomes ``ddp`` when more than one device or node is configured (Lightning's
    own ``auto`` would pick DDP without unused-parameter detection, which GAN training needs).

    Args:
        config: The validated config.
        check_environment: Run :func:`check_strategy_environment` first (tests turn it off to
            inspect a DeepSpeed strategy on a machine without CUDA).

    Returns:
        A strategy object for ``ddp``, ``fsdp`` and ``deepspeed``; ``auto`` or a registry name
        otherwise.
    """
    if check_environment:
        check_strategy_environment(config)
    training = config.Training
    name = training.strategy
    count = _device_count(training.devices)
    if name == "auto" and ((count is not None and count > 1) or training.num_nodes > 1):
        name = "ddp"
    if name == "ddp":
        return ddp_strategy(config)
    if name == "fsdp":
        return fsdp_strategy(config)
    if name == "deepspeed":
        return deepspeed_strategy(config)
    return name


def strategy_kwargs(config: Config) -> dict[str, Any]:
    """Trainer arguments for placement: strategy, accelerator, devices, num_nodes."""
    training = config.Training
    return {
        "strategy": build_strategy(config),
        "accelerator": training.accelerator,
        "devices": training.devices,
        "num_nodes": training.num_nodes,
    }


# --------------------------------------------------------------------------------- sharding


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
    """Dtype of the gathered parameters in forward/backward: ``Training.fsdp.mixed_precision``,
    else bf16/float16 when ``Training.precision`` is a bf16/16 one, else None (no policy)."""
    choice = config.Training.fsdp.mixed_precision
    if choice is not None:
        return _FSDP_DTYPES[choice]
    precision = config.Training.lightning_precision
    if precision.startswith("bf16"):
        return torch.bfloat16
    if precision.startswith("16"):
        return torch.float16
    return None


def shard_networks(
    generator: nn.Module, discriminator: nn.Module, config: Config, mesh: DeviceMesh
) -> None:
    """Apply FSDP2 ``fully_shard`` in place: first every submodule matched by
    ``Training.fsdp.auto_wrap`` (see :func:`wrap_targets`), then each network as a whole.

    Parameters become ``DTensor`` shards over ``mesh``; with a mixed-precision dtype
    (:func:`fsdp_param_dtype`) they are gathered in that dtype and gradients reduced in
    float32; ``Training.fsdp.cpu_offload`` keeps shards and optimiser states in CPU memory.
    Calling it again on sharded networks does nothing (Lightning calls ``configure_model``
    for every fit/validate/test/predict).

    Args:
        generator: The generator (its EMA copy must have been taken before).
        discriminator: The discriminator.
        config: The validated config.
        mesh: The 1-D data-parallel device mesh.

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
    fsdp = config.Training.fsdp
    networks = [generator, discriminator]
    targets = wrap_targets(fsdp.auto_wrap, networks)
    dtype = fsdp_param_dtype(config)
    # pinned host memory needs an accelerator; on a CPU mesh the shards are in CPU memory anyway
    offload_policy = (
        CPUOffloadPolicy(pin_memory=mesh.device_type != "cpu")
        if fsdp.cpu_offload
        else OffloadPolicy()
    )
    mp_policy = (
        MixedPrecisionPolicy()
        if dtype is None
        else MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
    )
    norms: list[nn.Module] = []
    if dtype is not None and config.Training.lightning_precision not in _TRUE_DTYPES:
        # Batch norms keep float32 running statistics, which batch_norm refuses beside
        # low-precision weights: they run in float32 as units of their own instead. (Under
        # bf16-true/16-true Lightning converts the buffers too, so nothing differs.)
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
        fsdp.cpu_offload,
    )


__all__ = [
    "FSDP_PRECISIONS",
    "DataParallelFSDP",
    "build_strategy",
    "check_strategy_environment",
    "ddp_strategy",
    "deepspeed_strategy",
    "fsdp_param_dtype",
    "fsdp_strategy",
    "is_sharded",
    "shard_networks",
    "strategy_kwargs",
    "wrap_targets",
]
