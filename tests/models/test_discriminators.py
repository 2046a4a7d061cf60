import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganlab.models.discriminators import (
    PatchGANDiscriminator,
    SRGANDiscriminator,
    UNetDiscriminator,
)
from tests.models.tiny import DISCRIMINATOR_NAMES, tiny_discriminator


def expected_logits_shape(name: str, size: tuple[int, int]) -> tuple[int, ...]:
    if name == "srgan":
        return (2, 1)
    if name == "patchgan":  # three stride-2 layers, then two 4x4 stride-1 convs (-1 each)
        return (2, 1, size[0] // 8 - 2, size[1] // 8 - 2)
    return (2, 1, *size)  # unet: one logit per pixel


@pytest.mark.parametrize("bands", [1, 4, 13])
@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
@pytest.mark.parametrize("name", DISCRIMINATOR_NAMES)
def test_discriminator_logits_and_features(name: str, size: tuple[int, int], bands: int) -> None:
    discriminator = tiny_discriminator(name, bands)
    assert discriminator.in_bands == bands
    logits, features = discriminator(torch.rand(2, bands, *size))
    assert logits.shape == expected_logits_shape(name, size)
    assert torch.isfinite(logits).all()
    # Family-default depths: srgan 8 conv layers, patchgan 3 + 1 layers, unet 1 + 3 + 3 + 1.
    assert len(features) == {"srgan": 8, "patchgan": 4, "unet": 8}[name]
    assert all(f.ndim == 4 and f.shape[0] == 2 for f in features)
    logits.mean().backward()
    first = next(discriminator.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


def spectral_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if parametrize.is_parametrized(m, "weight")]


@pytest.mark.parametrize("name", DISCRIMINATOR_NAMES)
def test_spectral_norm_is_applied(name: str) -> None:
    torch.manual_seed(0)
    discriminator = tiny_discriminator(name, 4, spectral_norm=True).train()
    layers = spectral_layers(discriminator)
    assert layers
    for _ in range(5):  # each training-mode forward runs one power iteration
        discriminator(torch.rand(2, 4, 64, 64))
    for layer in layers:
        weight = layer.weight.detach()
        sigma = torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
        raw = layer.parametrizations.weight.original.detach()
        assert not torch.allclose(raw, weight)


def test_spectral_norm_family_defaults_and_override() -> None:
    assert spectral_layers(tiny_discriminator("unet"))  # on by default
    assert not spectral_layers(tiny_discriminator("unet", spectral_norm=False))
    assert not spectral_layers(tiny_discriminator("srgan"))
    assert not spectral_layers(tiny_discriminator("patchgan"))


@pytest.mark.parametrize(
    ("norm", "layer_type"),
    [("batch", nn.BatchNorm2d), ("instance", nn.InstanceNorm2d), ("none", None)],
)
def test_patchgan_norm(norm: str, layer_type: type[nn.Module] | None) -> None:
    discriminator = tiny_discriminator("patchgan", 3, norm=norm)
    norms = [
        m for m in discriminator.modules() if isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d)
    ]
    if layer_type is None:
        assert not norms
    else:
        assert len(norms) == 3 and all(isinstance(m, layer_type) for m in norms)
    logits, _ = discriminator(torch.rand(2, 3, 48, 48))
    assert logits.shape == (2, 1, 4, 4)


def test_patchgan_rejects_too_small_inputs() -> None:
    discriminator = PatchGANDiscriminator(3, n_channels=4, n_blocks=3)
    with pytest.raises(ValueError, match="at least 24x24"):
        discriminator(torch.rand(1, 3, 20, 64))


def test_unet_handles_odd_sizes_and_depth() -> None:
    discriminator = UNetDiscriminator(2, n_channels=4, n_blocks=2)
    logits, features = discriminator(torch.rand(1, 2, 37, 50))
    assert logits.shape == (1, 1, 37, 50)
    assert len(features) == 1 + 2 + 2 + 1


def test_srgan_depth_and_width() -> None:
    discriminator = SRGANDiscriminator(13, n_channels=8, n_blocks=4, fc_size=16)
    logits, features = discriminator(torch.rand(2, 13, 64, 96))
    assert logits.shape == (2, 1)
    assert [f.shape[1] for f in features] == [8, 8, 16, 16]
    assert features[-1].shape[-2:] == (16, 24)
