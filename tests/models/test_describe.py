from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganlab.cli import main
from ganlab.models import DISCRIMINATORS, GENERATORS, describe_model, summarize_models
from ganlab.models.describe import count_flops
from ganlab.models.guide import GUIDE, committed_table, render_model_table
from tests.models.tiny import GENERATOR_NAMES, tiny_discriminator, tiny_generator

REPO = Path(__file__).resolve().parents[2]


def real_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.rand(shape))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_descriptor(name: str) -> None:
    generator = tiny_generator(name, 4, 3)
    info = describe_model(generator, (10, 12))
    assert (info.kind, info.scale, info.in_bands, info.out_bands) == ("generator", 3, 4, 4)
    assert info.parameters == sum(p.numel() for p in generator.parameters())
    assert info.input_shape == (1, 4, 10, 12)
    # The meta-device count equals a real forward pass.
    assert info.flops == real_flops(generator, (1, 4, 10, 12)) > 0
    assert info.supports_bf16 is True
    assert info.supports_fp16 is (name != "swinir")


def test_discriminator_descriptor_and_summary() -> None:
    discriminator = tiny_discriminator("unet", 13)
    before = {k: v.clone() for k, v in discriminator.state_dict().items()}
    info = describe_model(discriminator, (64, 64))
    assert (info.kind, info.scale, info.in_bands, info.out_bands) == (
        "discriminator",
        None,
        13,
        None,
    )
    assert info.flops == real_flops(discriminator.eval(), (1, 13, 64, 64))
    for key, value in discriminator.state_dict().items():  # power iterations untouched
        torch.testing.assert_close(value, before[key])
    summary = summarize_models(tiny_generator("srresnet", 13, 4), discriminator, (16, 16))
    lines = summary.splitlines()
    assert lines[0].startswith("generator SRResNet: x4, 13 -> 13 bands")
    assert lines[1].startswith("discriminator UNetDiscriminator: 13 bands")
    assert "per 64x64 input" in lines[1]


def test_plugin_models_are_measured_by_a_real_forward() -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="in_bands"):
        describe_model(model)
    info = describe_model(model, (8, 8), in_bands=2)
    assert info.flops == count_flops(model, (1, 2, 8, 8)) == 2 * 4 * 2 * 9 * 6 * 6
    assert info.supports_fp16 is None and model.training


def test_committed_model_table_is_current() -> None:
    committed = committed_table((REPO / GUIDE).read_text(encoding="utf-8"))
    assert committed == render_model_table(), (
        "docs/models.md is stale: run `python -m ganlab.models.guide`"
    )


def test_models_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "Generators (Generator.model_type):" in out
    assert "Discriminators (Discriminator.model_type):" in out
    for registry in (GENERATORS, DISCRIMINATORS):
        for name, description in registry.describe():
            assert any(
                line.split() and line.split()[0] == name and line.endswith(description)
                for line in out.splitlines()
            )


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_bf16_claim_holds(name: str) -> None:
    generator = tiny_generator(name, 4, 2, zero_init_last=False)
    assert describe_model(generator, (8, 8)).supports_bf16
    lr = torch.rand(1, 4, 6, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = generator(lr)
    pure = generator.to(torch.bfloat16)(lr.to(torch.bfloat16))
    for sr in (mixed, pure):
        assert sr.shape == (1, 4, 12, 14) and torch.isfinite(sr).all()


def test_summary_of_plugin_models_uses_fallbacks() -> None:
    generator = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    discriminator = nn.Sequential(nn.Conv2d(3, 1, 3))
    summary = summarize_models(generator, discriminator, (8, 8), in_bands=3, scale=2, out_bands=3)
    first, second = summary.splitlines()
    assert first.startswith("generator Sequential: x2, 3 -> 3 bands")
    assert second.startswith("discriminator Sequential: 3 bands") and "per 16x16 input" in second
