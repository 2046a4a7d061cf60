"""Generator exports beside checkpoints, periodic checkpoints and weights-only starts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ganlab.engine import SRGANModule
from ganlab.engine.checkpoint import load_start_weights
from ganlab.errors import CheckpointError
from ganlab.export import load_generator, read_export_metadata, save_generator
from ganlab.models.prepare import unwrapped
from tests.helpers import MODES, fit, one_epoch


def standard_layout(network: torch.nn.Module) -> torch.nn.Module:
    """An eval copy of ``network`` with its weights in the standard (contiguous) layout."""
    copied = copy.deepcopy(network).eval()
    copied.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    return copied


def test_every_checkpoint_gets_raw_and_ema_exports_that_rebuild_the_generator(
    make_config, tmp_path: Path
) -> None:
    config = make_config(
        "Training.EMA.enabled=true", "Training.EMA.decay=0.5", "Training.g_pretrain_steps=1"
    )
    module, _ = fit(config, tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        "best-epoch000.ckpt",
        "best-epoch000.generator-ema.safetensors",
        "best-epoch000.generator.safetensors",
        "last.ckpt",
        "last.generator-ema.safetensors",
        "last.generator.safetensors",
    ]
    lr = torch.rand(2, 3, 8, 8)
    ema = load_generator(folder / "last.generator-ema.safetensors")
    raw = load_generator(folder / "last.generator.safetensors")
    assert ema.weights == "ema" and raw.weights == "raw"
    assert ema.step == module.step_count == 3 and ema.epoch == 0
    assert ema.config["Generator"]["model_type"] == "srresnet"
    assert ema.config["Data"]["normalization"]["type"] == "percentile"
    with torch.no_grad():
        # the module trains channels-last (auto on CPUs); the exports load in the standard
        # layout, whose convolutions round differently: compare in the same layout
        assert torch.equal(ema.generator(lr), standard_layout(module.ema_generator())(lr))
        assert torch.equal(raw.generator(lr), standard_layout(unwrapped(module.generator))(lr))
        assert not torch.equal(ema.generator(lr), raw.generator(lr))
    assert not any(p.name.endswith(".partial") for p in folder.iterdir())


def test_top_k_rotation_removes_the_exports_of_dropped_checkpoints(
    make_config, tmp_path: Path
) -> None:
    # train/step rises every epoch, so each epoch's checkpoint replaces the previous best
    config = make_config(
        "Callbacks.checkpoint.monitor=train/step", "Callbacks.checkpoint.save_last=false"
    )
    fit(config, tmp_path, max_epochs=3, limit_train_batches=1, limit_val_batches=1)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best-epoch002.ckpt", "best-epoch002.generator.safetensors"]


def test_export_generator_false_writes_checkpoints_only(make_config, tmp_path: Path) -> None:
    config = make_config("Callbacks.checkpoint.export_generator=false")
    fit(config, tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    assert {p.suffix for p in (tmp_path / "checkpoints").iterdir()} == {".ckpt"}


@pytest.mark.parametrize("keep", [-1, 1])
def test_periodic_checkpoints_count_generator_steps(make_config, tmp_path: Path, keep) -> None:
    # alternating mode with the discriminator stepping every batch: Lightning's global_step
    # rises by 2 per batch, the own counter by 1
    config = make_config(
        MODES["manual"],
        "Callbacks.checkpoint.every_n_steps=2",
        f"Callbacks.checkpoint.keep_every_n_steps={keep}",
        "Callbacks.checkpoint.save_top_k=0",
        "Callbacks.checkpoint.save_last=false",
    )
    fit(config, tmp_path, **one_epoch(5))
    folder = tmp_path / "checkpoints"
    expected = ["step-0000002.ckpt", "step-0000004.ckpt"] if keep == -1 else ["step-0000004.ckpt"]
    assert sorted(p.name for p in folder.glob("*.ckpt")) == expected
    assert sorted(p.name for p in folder.glob("*.safetensors")) == [
        name.replace(".ckpt", ".generator.safetensors") for name in expected
    ]
    state = torch.load(folder / "step-0000004.ckpt", weights_only=True, map_location="cpu")
    assert state["ganlab"]["step_count"] == 4
    assert state["global_step"] == 8


def test_load_generator_refuses_other_files_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "missing.safetensors")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not an OpenSR GAN Lab generator export"):
        read_export_metadata(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_generator(garbage)


def test_load_checkpoint_starts_from_weights_only(make_config, tmp_path: Path) -> None:
    config = make_config("Training.EMA.enabled=true", "Training.g_pretrain_steps=0")
    trained, _ = fit(config, tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=1)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"

    fresh = SRGANModule(config)
    assert load_start_weights(fresh, ckpt) == ["generator", "discriminator"]
    for name in ("generator", "discriminator"):
        for (key, a), b in zip(
            getattr(trained, name).state_dict().items(),
            getattr(fresh, name).state_dict().values(),
            strict=True,
        ):
            assert torch.equal(a, b), key
    assert fresh.step_count == 0
    # the EMA restarts from the loaded generator
    for a, b in zip(
        fresh.ema.module.state_dict().values(), fresh.generator.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)

    only_generator = SRGANModule(config)
    discriminator_before = {
        k: v.clone() for k, v in only_generator.discriminator.state_dict().items()
    }
    export = tmp_path / "checkpoints" / "last.generator-ema.safetensors"
    assert load_start_weights(only_generator, export) == ["generator"]
    assert all(
        torch.equal(v, discriminator_before[k])
        for k, v in only_generator.discriminator.state_dict().items()
    )
    with torch.no_grad():
        lr = torch.rand(1, 3, 8, 8)
        assert torch.equal(only_generator.generator(lr), trained.ema_generator()(lr))

    wider = SRGANModule(make_config("Generator.n_channels=16"))
    with pytest.raises(
        CheckpointError, match=r"(?s)Model.load_checkpoint .*\(generator\).*shape mismatch"
    ):
        load_start_weights(wider, ckpt)


class PluginGenerator(torch.nn.Module):
    """A generator from outside the package (its module would run code when imported)."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(self.conv(x), scale_factor=self.scale)


def test_an_export_naming_a_plugin_class_loads_only_when_allowed(tmp_path: Path) -> None:
    generator = PluginGenerator()
    description = {
        "generator_class": f"{__name__}:PluginGenerator",
        "init_kwargs": {"scale": 2},
        "config": {},
    }
    path = save_generator(tmp_path / "p.safetensors", generator.state_dict(), description, "raw")
    with pytest.raises(CheckpointError, match=r"not one of OpenSR GAN Lab's; importing it would"):
        load_generator(path)
    loaded = load_generator(path, allow_plugins=True)
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(loaded.generator(x), generator(x))
