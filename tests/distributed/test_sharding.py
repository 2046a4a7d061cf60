"""Sharding helpers for the module: FSDP parameter dtype, auto-wrap targets, ``shard_networks``
(also with CPU offload) and the EMA on sharded (DTensor) parameters, in one process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import nn

from ganlab.config.schema import Config
from ganlab.distributed.sharding import fsdp_param_dtype, is_sharded, shard_networks, wrap_targets
from ganlab.engine import SRGANModule
from ganlab.engine.ema import GeneratorEMA
from ganlab.errors import ConfigError
from ganlab.models import build_discriminator, build_generator
from ganlab.models.prepare import network_class
from tests.helpers import tiny_config

FSDP_FLOAT16 = "Training.fsdp.mixed_precision='16'"
"""Float16 FSDP compute (quoted: an unquoted 16 reads as a number, which the schema refuses)."""


def test_fsdp_param_dtype_follows_the_config() -> None:
    assert fsdp_param_dtype(tiny_config()) is None
    assert fsdp_param_dtype(tiny_config("Training.precision=bf16")) is torch.bfloat16
    assert fsdp_param_dtype(tiny_config(FSDP_FLOAT16)) is torch.float16
    explicit = tiny_config("Training.precision=bf16", FSDP_FLOAT16)
    assert fsdp_param_dtype(explicit) is torch.float16


def networks(config: Config) -> tuple[nn.Module, nn.Module]:
    return build_generator(config), build_discriminator(config)


def test_unknown_auto_wrap_class_lists_the_classes_found() -> None:
    config = tiny_config("Training.fsdp.auto_wrap=[ResidualBlok]")
    with pytest.raises(ConfigError, match="ResidualBlok") as caught:
        wrap_targets(config.Training.fsdp.auto_wrap, networks(config))
    message = str(caught.value)
    assert "Training.fsdp.auto_wrap" in message
    assert "ResidualBlock" in message and "SRResNet" in message and "Conv2d" in message
    with pytest.raises(ConfigError, match=r"cannot import 'ganlab\.models\.blocks:Nope'"):
        wrap_targets(["ganlab.models.blocks:Nope"], networks(config))


def test_auto_wrap_matches_names_and_import_paths_bottom_up() -> None:
    generator, discriminator = networks(tiny_config())
    targets = wrap_targets(
        ["ResidualBlock", "ganlab.models.blocks:PixelShuffleUpsampler", "Conv2d"],
        [generator, discriminator],
    )
    kinds = {type(m).__name__ for m in targets}
    assert kinds == {"ResidualBlock", "PixelShuffleUpsampler", "Conv2d"}
    assert generator not in targets and discriminator not in targets
    position = {id(m): index for index, m in enumerate(targets)}
    for module in targets:
        for child in module.modules():
            if child is not module and id(child) in position:
                assert position[id(child)] < position[id(module)]


@pytest.fixture
def single_process_mesh() -> Iterator[Any]:
    """A one-process gloo group and its 1-D CPU mesh (torn down afterwards)."""
    from torch.distributed.device_mesh import init_device_mesh

    assert not dist.is_initialized()
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def test_shard_networks_and_the_ema_on_shards(single_process_mesh: Any) -> None:
    config = tiny_config(
        "Training.fsdp.auto_wrap=[ResidualBlock]",
        "Training.fsdp.mixed_precision=bf16",
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.5",
    )
    module = SRGANModule(config)
    assert module.ema is not None
    generator, discriminator = module.generator, module.discriminator
    with pytest.raises(ConfigError):
        shard_networks(
            generator,
            discriminator,
            tiny_config("Training.fsdp.auto_wrap=[X]"),
            single_process_mesh,
        )
    assert not is_sharded(generator)

    shard_networks(generator, discriminator, config, single_process_mesh)
    shard_networks(generator, discriminator, config, single_process_mesh)  # idempotent
    assert is_sharded(generator) and is_sharded(discriminator)
    assert network_class(generator) is type(module.ema.module)
    assert all(is_sharded(m) for m in generator.modules() if type(m).__name__ == "ResidualBlock")
    # batch norms run as float32 units of their own
    assert all(is_sharded(m) for m in discriminator.modules() if isinstance(m, nn.BatchNorm2d))
    logits, _ = discriminator(generator(torch.rand(2, 3, 8, 8)))
    logits.float().mean().backward()  # bf16 convs beside float32 batch norms

    with torch.no_grad():
        for param in generator.parameters():
            param.add_(1.0)  # DTensor shards
    raw = {
        k: v.full_tensor() for k, v in generator.state_dict().items() if hasattr(v, "full_tensor")
    }
    module.ema.update(generator)
    averaged = module.ema.module.state_dict()
    swapped = module.ema.load_into(generator)
    for name, value in generator.state_dict().items():
        full = value.full_tensor() if hasattr(value, "full_tensor") else value
        assert torch.equal(full, averaged[name])
    GeneratorEMA.restore(generator, swapped)
    for name, value in raw.items():
        assert torch.equal(generator.state_dict()[name].full_tensor(), value)
    plain = module.ema_generator()
    assert not is_sharded(plain)
    for name, value in plain.state_dict().items():
        assert torch.equal(value, averaged[name])


def test_cpu_offload_reaches_every_fully_shard_call(
    single_process_mesh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.distributed.fsdp as fsdp

    calls: list[Any] = []
    monkeypatch.setattr(fsdp, "fully_shard", lambda module, **kw: calls.append(kw) or module)
    module = SRGANModule(tiny_config("Training.fsdp.cpu_offload=true"))
    shard_networks(module.generator, module.discriminator, module.config, single_process_mesh)
    assert calls and all(type(kw["offload_policy"]).__name__ == "CPUOffloadPolicy" for kw in calls)
    calls.clear()
    plain = SRGANModule(tiny_config())
    shard_networks(plain.generator, plain.discriminator, plain.config, single_process_mesh)
    assert calls and all(type(kw["offload_policy"]).__name__ == "OffloadPolicy" for kw in calls)
