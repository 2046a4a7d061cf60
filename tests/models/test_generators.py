import pytest
import torch
from pydantic import ValidationError

from ganlab.models import build_generator
from ganlab.models.blocks import PixelShuffleUpsampler
from ganlab.models.generators import RRDBNet, SRGenerator, SRResNet, SwinIR, interpolate
from tests.models.tiny import GENERATOR_NAMES, generator_config, tiny_generator


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_generator_shapes_and_gradients(name: str, scale: int, bands: int) -> None:
    torch.manual_seed(0)
    generator = tiny_generator(name, bands, scale, zero_init_last=False)
    assert (generator.scale, generator.in_bands, generator.out_bands) == (scale, bands, bands)
    lr = torch.rand(2, bands, 6, 7)  # sides not multiples of the swinir window
    sr = generator(lr)
    assert sr.shape == (2, bands, 6 * scale, 7 * scale)
    assert torch.isfinite(sr).all()
    sr.square().mean().backward()
    grad = generator.head.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # gradient reaches the first layer


@pytest.mark.parametrize("upsampling", ["pixelshuffle", "nearest_conv"])
@pytest.mark.parametrize("skip", ["bicubic", "nearest"])
@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_untrained_generator_equals_interpolation(name: str, skip: str, upsampling: str) -> None:
    generator = tiny_generator(name, 4, 4, global_skip=skip, upsampling=upsampling)
    lr = torch.rand(2, 4, 5, 6)
    torch.testing.assert_close(generator(lr), interpolate(lr, 4, skip))


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_zeroed_tail_gives_interpolation_and_still_learns(name: str) -> None:
    generator = tiny_generator(name, 3, 3, zero_init_last=False)
    torch.nn.init.zeros_(generator.tail.weight)
    torch.nn.init.zeros_(generator.tail.bias)
    lr = torch.rand(1, 3, 8, 8)
    sr = generator(lr)
    torch.testing.assert_close(sr, interpolate(lr, 3, "bicubic"))
    sr.square().mean().backward()
    assert generator.tail.weight.grad is not None and generator.tail.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("scale", [3, 8])
@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_nearest_conv_upsampling(name: str, scale: int) -> None:
    generator = tiny_generator(name, 2, scale, upsampling="nearest_conv", zero_init_last=False)
    assert not any(isinstance(m, PixelShuffleUpsampler) for m in generator.modules())
    assert generator(torch.rand(1, 2, 5, 4)).shape == (1, 2, 5 * scale, 4 * scale)


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_band_count_change_needs_no_skip(name: str) -> None:
    config = generator_config(name, 4, 2, out_bands=13, global_skip="none", zero_init_last=False)
    generator = build_generator(config)
    assert generator(torch.rand(1, 4, 8, 8)).shape == (1, 13, 16, 16)
    with pytest.raises(ValueError, match="in_bands == out_bands"):
        type(generator)(**{**generator.init_kwargs, "global_skip": "bicubic"})


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_init_kwargs_rebuild_the_same_architecture(name: str) -> None:
    generator = tiny_generator(name, 4, 3)
    assert isinstance(generator, SRGenerator)
    twin = type(generator)(**generator.init_kwargs)
    twin.load_state_dict(generator.state_dict())
    lr = torch.rand(1, 4, 6, 6)
    generator.eval()
    twin.eval()
    torch.testing.assert_close(twin(lr), generator(lr))


def test_res_scale_follows_family_default_and_config() -> None:
    rrdb = tiny_generator("rrdb")
    assert rrdb.init_kwargs["res_scale"] == 0.2
    assert tiny_generator("srresnet").init_kwargs["res_scale"] == 1.0
    assert tiny_generator("rrdb", res_scale=0.5).body[0].res_scale == 0.5


def test_swinir_pads_inputs_smaller_than_the_window() -> None:
    generator = SwinIR(2, 2, 2, n_channels=8, n_blocks=2, window_size=8, n_heads=2)
    assert generator(torch.rand(1, 2, 3, 5)).shape == (1, 2, 6, 10)


def test_swinir_heads_must_divide_width() -> None:
    with pytest.raises(ValidationError, match="n_heads"):
        generator_config("swinir", n_channels=10, n_heads=4)


def test_family_initialisation() -> None:
    torch.manual_seed(0)
    # SRResNet: PyTorch's default conv init (uniform, bound 1/sqrt(fan_in)), head included.
    srresnet = SRResNet(3, 3, 4, n_channels=64, n_blocks=1, block_type="res")
    for weight in (srresnet.body[0].body[0].weight, srresnet.head.weight):
        default_std = (1.0 / weight[0].numel()) ** 0.5 / 3**0.5
        assert weight.std().item() == pytest.approx(default_std, rel=0.1)
    # RRDB: ESRGAN's Kaiming (leaky ReLU 0.2) x 0.1 on the dense convs.
    rrdb = RRDBNet(3, 3, 4, n_channels=32, n_blocks=1, growth_channels=32)
    dense = rrdb.body[0].body[0].convs[1].weight
    lrelu_std = (2.0 / (1 + 0.2**2) / dense[0].numel()) ** 0.5
    assert dense.std().item() == pytest.approx(0.1 * lrelu_std, rel=0.1)
    # ICNR (without a zero tail): all sub-pixel outputs of a pixel-shuffle conv start with the
    # same kernel; with the default zero tail they do not.
    icnr = SRResNet(3, 3, 4, n_channels=8, n_blocks=1, zero_init_last=False).upsample[0].weight
    torch.testing.assert_close(icnr[0], icnr[3])
    shuffle_conv = srresnet.upsample[0].weight
    assert not torch.equal(shuffle_conv[0], shuffle_conv[3])
    # zero_init_last: the tail is zero.
    assert srresnet.tail.weight.abs().sum() == 0 and srresnet.tail.bias.abs().sum() == 0
