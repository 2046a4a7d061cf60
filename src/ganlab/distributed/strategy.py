"""``Training.strategy`` -> a Lightning strategy (DDP, FSDP2, DeepSpeed, or a registry name): the
trainer-facing half of :mod:`ganlab.distributed`.

* ``ddp``: :class:`DDPStrategy` with ``Training.ddp`` (unused-parameter detection on by default,
  because generator and discriminator take turns).
* ``fsdp``: Lightning's :class:`ModelParallelStrategy` (FSDP2). The module shards its networks
  in ``configure_model`` through :class:`ganlab.distributed.sharding.ShardingPlan`: every
  submodule whose class is named in ``Training.fsdp.auto_wrap``, then the generator and the
  discriminator as wholes.
* ``deepspeed``: :class:`DeepSpeedStrategy` (ZeRO), CUDA only and joint mode only.
* ``auto`` becomes ``ddp`` when more than one device or node is configured; any other name goes
  to Lightning's strategy registry as is.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any, Literal

import torch

from ganlab._lightning import (
    DDPStrategy,
    DeepSpeedStrategy,
    ModelParallelStrategy,
    Strategy,
)
from ganlab.config.schema import Config
from ganlab.distributed.sharding import FSDP_DTYPES as _FSDP_DTYPES
from ganlab.distributed.sharding import TRUE_DTYPES as _TRUE_DTYPES
from ganlab.errors import ConfigError

log = logging.getLogger(__name__)

FSDP_PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-true")
"""Lightning precisions that ``ModelParallelStrategy`` accepts."""


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


__all__ = [
    "FSDP_PRECISIONS",
    "DataParallelFSDP",
    "build_strategy",
    "check_strategy_environment",
    "ddp_strategy",
    "deepspeed_strategy",
    "fsdp_strategy",
    "strategy_kwargs",
]
