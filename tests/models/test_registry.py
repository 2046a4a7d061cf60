import pytest

from ganlab.config import load_config
from ganlab.errors import ConfigError
from ganlab.models import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from ganlab.models.discriminators import (
    PatchGANDiscriminator,
    SRGANDiscriminator,
    UNetDiscriminator,
)
from ganlab.models.generators import RCAN, LKANet, RRDBNet, SRResNet, SwinIR
from ganlab.registry import Registry
from tests.models.tiny import DISCRIMINATOR_NAMES, GENERATOR_NAMES, generator_config


def test_builtin_lists() -> None:
    assert GENERATORS.names() == GENERATOR_NAMES
    assert DISCRIMINATORS.names() == DISCRIMINATOR_NAMES


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("srresnet", SRResNet),
        ("rcan", RCAN),
        ("rrdb", RRDBNet),
        ("lka", LKANet),
        ("swinir", SwinIR),
    ],
)
def test_generator_builders_follow_config(name: str, cls: type) -> None:
    config = generator_config(name, 13, 2)
    generator = build_generator(config)
    assert isinstance(generator, cls)
    assert (generator.scale, generator.in_bands, generator.out_bands) == (2, 13, 13)
    assert generator.init_kwargs["n_channels"] == 8


@pytest.mark.parametrize(
    ("name", "cls", "n_blocks"),
    [
        ("srgan", SRGANDiscriminator, 8),
        ("patchgan", PatchGANDiscriminator, 3),
        ("unet", UNetDiscriminator, 3),
    ],
)
def test_discriminator_builders_use_family_defaults(name: str, cls: type, n_blocks: int) -> None:
    config = load_config(None, ["Model.in_bands=4", f"Discriminator.model_type={name}"])
    discriminator = build_discriminator(config)
    assert isinstance(discriminator, cls) and discriminator.in_bands == 4
    assert discriminator.init_kwargs["n_blocks"] == n_blocks
    config = load_config(
        None,
        [f"Discriminator.model_type={name}", "Discriminator.n_blocks=2", "Discriminator.norm=none"],
    )
    built = build_discriminator(config)
    assert built.init_kwargs["n_blocks"] == 2 and built.init_kwargs["norm"] == "none"


def test_registry_collision_unknown_and_plugin() -> None:
    registry: Registry = Registry("generator", "Generator.model_type")
    registry.register("a", "first")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", "second")(lambda: 2)
    with pytest.raises(ValueError, match="already registered"):
        GENERATORS.register("srresnet", "again")(lambda config: None)
    with pytest.raises(ConfigError, match="unknown generator 'b'"):
        registry.get("b")
    with pytest.raises(ConfigError, match="did you mean 'srresnet'"):
        GENERATORS.get("srresnt")
    assert GENERATORS.get("ganlab.models.generators:SRResNet") is SRResNet
    with pytest.raises(ConfigError, match="cannot import module"):
        GENERATORS.get("no_such_pkg.mod:X")
    with pytest.raises(ConfigError, match="has no attribute 'Nope'"):
        GENERATORS.get("ganlab.models.generators:Nope")


def test_plugin_factory_from_config() -> None:
    config = load_config(
        None,
        [
            "Generator.model_type=ganlab.models.generators.srresnet:build_srresnet",
            "Generator.n_channels=8",
            "Generator.n_blocks=1",
        ],
    )
    assert isinstance(build_generator(config), SRResNet)


def test_former_generator_name_rcab_still_builds_an_rcan_with_a_deprecation() -> None:
    config = generator_config("rcan", 3, 2).model_copy(deep=True)
    config.Generator.model_type = "rcab"
    with pytest.warns(DeprecationWarning, match="'rcab' is deprecated, use 'rcan'"):
        generator = build_generator(config)
    assert isinstance(generator, RCAN)
    assert "rcab" not in GENERATORS.names()
