import pytest
import torch

from ganlab.config import load_config
from ganlab.errors import ConfigError
from ganlab.models import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from ganlab.models.discriminators import SRGANDiscriminator
from ganlab.models.generators import SRResNet, interpolate
from ganlab.registry import Registry


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_generator_shapes_and_gradients(bands: int, scale: int) -> None:
    generator = SRResNet(
        bands, bands, scale, n_channels=8, n_blocks=2, block_type="standard", zero_init_last=False
    )
    lr = torch.rand(2, bands, 6, 7)
    sr = generator(lr)
    assert sr.shape == (2, bands, 6 * scale, 7 * scale)
    assert torch.isfinite(sr).all()
    sr.square().mean().backward()
    head = generator.head[0].weight.grad
    assert head is not None and head.abs().sum() > 0  # gradient reaches the first layer


def test_generator_without_skip_can_change_band_count() -> None:
    generator = SRResNet(
        4, 13, 2, n_channels=8, n_blocks=1, global_skip="none", zero_init_last=False
    )
    assert generator(torch.rand(1, 4, 8, 8)).shape == (1, 13, 16, 16)
    with pytest.raises(ValueError, match="in_bands == out_bands"):
        SRResNet(4, 13, 2, global_skip="bicubic")


def test_zero_initialised_tail_still_learns() -> None:
    generator = SRResNet(3, 3, 2, n_channels=8, n_blocks=1)
    generator(torch.rand(1, 3, 8, 8)).square().mean().backward()
    assert generator.tail.weight.grad is not None and generator.tail.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("skip", ["bicubic", "nearest"])
def test_untrained_generator_equals_interpolation(skip: str) -> None:
    generator = SRResNet(4, 4, 4, n_channels=8, n_blocks=2, global_skip=skip)
    lr = torch.rand(2, 4, 8, 8)
    torch.testing.assert_close(generator(lr), interpolate(lr, 4, skip))


@pytest.mark.parametrize("bands", [1, 4, 13])
@pytest.mark.parametrize("size", [(64, 64), (96, 128)])
def test_discriminator_logits_and_features(bands: int, size: tuple[int, int]) -> None:
    discriminator = SRGANDiscriminator(bands, n_channels=8, n_blocks=4, fc_size=16)
    logits, features = discriminator(torch.rand(2, bands, *size))
    assert logits.shape == (2, 1)
    assert [f.shape[1] for f in features] == [8, 8, 16, 16]
    assert features[-1].shape[-2:] == (size[0] // 4, size[1] // 4)


def test_builders_follow_config() -> None:
    config = load_config(
        None,
        [
            "Model.in_bands=13",
            "Generator.n_blocks=1",
            "Generator.n_channels=8",
            "Generator.scaling_factor=2",
            "Discriminator.n_blocks=2",
        ],
    )
    generator = build_generator(config)
    assert (generator.scale, generator.in_bands, generator.out_bands) == (2, 13, 13)
    assert generator.init_kwargs["n_blocks"] == 1
    assert isinstance(build_discriminator(config), SRGANDiscriminator)
    assert "srresnet" in GENERATORS.names() and "srgan" in DISCRIMINATORS.names()


def test_registry_collision_unknown_and_plugin() -> None:
    registry: Registry = Registry("generator", "Generator.model_type")
    registry.register("a", "first")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", "second")(lambda: 2)
    with pytest.raises(ConfigError, match="unknown generator 'b'"):
        registry.get("b")
    with pytest.raises(ConfigError, match="did you mean 'srresnet'"):
        GENERATORS.get("srresnt")
    assert GENERATORS.get("ganlab.models.generators:SRResNet") is SRResNet
    with pytest.raises(ConfigError, match="cannot import module"):
        GENERATORS.get("no_such_pkg.mod:X")
    with pytest.raises(ConfigError, match="has no attribute 'Nope'"):
        GENERATORS.get("ganlab.models.generators:Nope")
