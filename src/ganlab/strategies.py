"""``Training.strategy`` -> a Lightning strategy (DDP, FSDP2, DeepSpeed, or a registry name)."""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch.strategies import DDPStrategy, Strategy

from ganlab.config.schema import Config

log = logging.getLogger(__name__)


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


def build_strategy(config: Config) -> Strategy | str:
    """The strategy for ``config.Training``.

    ``auto`` becomes ``ddp`` when more than one device or node is configured (Lightning's
    own ``auto`` would pick DDP without unused-parameter detection, which GAN training needs).
    """
    training = config.Training
    name = training.strategy
    count = _device_count(training.devices)
    if name == "auto" and ((count is not None and count > 1) or training.num_nodes > 1):
        name = "ddp"
    if name == "ddp":
        ddp = training.ddp
        return DDPStrategy(
            find_unused_parameters=ddp.find_unused_parameters,
            static_graph=ddp.static_graph,
            process_group_backend=ddp.process_group_backend,
        )
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
