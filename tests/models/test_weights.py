import pytest
import torch

from ganlab.errors import CheckpointError
from ganlab.models import WeightLoadError, load_generator_weights
from ganlab.models.generators import SRResNet
from ganlab.models.weights import adapt_input_kernels, adapt_output_kernels
from tests.models.tiny import GENERATOR_NAMES, tiny_generator


def rgb_generator(**kwargs: object) -> SRResNet:
    torch.manual_seed(0)
    return SRResNet(3, 3, 2, n_channels=8, n_blocks=1, zero_init_last=False, **kwargs)


def test_round_trip_loads_exactly() -> None:
    source = rgb_generator()
    target = SRResNet(3, 3, 2, n_channels=8, n_blocks=1)
    load_generator_weights(target, source.state_dict())
    lr = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(target(lr), source(lr))


def test_renamed_key_is_named() -> None:
    state = rgb_generator().state_dict()
    state["body.0.body.0.kernel"] = state.pop("body.0.body.0.weight")
    with pytest.raises(WeightLoadError) as error:
        load_generator_weights(rgb_generator(), state)
    message = str(error.value)
    assert "missing in the weights (1):\n    body.0.body.0.weight" in message
    assert "in the weights but not in the model (1):\n    body.0.body.0.kernel" in message
    assert isinstance(error.value, CheckpointError)  # the CLI reports it as a user error


def test_wrong_shape_is_named() -> None:
    state = rgb_generator().state_dict()
    state["body.1.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(WeightLoadError, match=r"body\.1\.weight: weights \(8, 8, 5, 5\) vs model"):
        load_generator_weights(rgb_generator(), state)


def test_band_mismatch_suggests_adaptation_and_prefix_is_suggested() -> None:
    four = SRResNet(4, 4, 2, n_channels=8, n_blocks=1)
    with pytest.raises(WeightLoadError, match=r"(?s)head\.weight: weights .* adapt_bands=True"):
        load_generator_weights(four, rgb_generator().state_dict())
    prefixed = {f"generator.{k}": v for k, v in rgb_generator().state_dict().items()}
    with pytest.raises(WeightLoadError, match=r"prefix='generator\.'"):
        load_generator_weights(rgb_generator(), prefixed)
    load_generator_weights(rgb_generator(), prefixed, prefix="generator.")


def test_rgb_weights_adapt_to_four_bands() -> None:
    rgb = rgb_generator().eval()
    four = SRResNet(4, 4, 2, n_channels=8, n_blocks=1).eval()
    load_generator_weights(four, rgb.state_dict(), adapt_bands=True)
    rgb_head = rgb.head.weight.detach()
    # Existing kernels are kept up to the 3/4 factor; the new band gets their mean.
    torch.testing.assert_close(four.head.weight[:, :3], rgb_head * 3 / 4)
    torch.testing.assert_close(four.head.weight[:, 3], rgb_head.mean(dim=1) * 3 / 4)
    # The response to a constant image is preserved: outputs 0-2 equal the RGB model's, the
    # new output band starts as the mean of the old ones.
    with torch.no_grad():
        sr_rgb = rgb(torch.full((1, 3, 8, 8), 0.7))
        sr_four = four(torch.full((1, 4, 8, 8), 0.7))
    torch.testing.assert_close(sr_four[:, :3], sr_rgb)
    torch.testing.assert_close(sr_four[:, 3], sr_rgb.mean(dim=1))


@pytest.mark.parametrize("name", GENERATOR_NAMES)
def test_every_generator_adapts_bands(name: str) -> None:
    source = tiny_generator(name, 3, 2, zero_init_last=False)
    target = tiny_generator(name, 13, 2)
    load_generator_weights(target, source.state_dict(), adapt_bands=True)
    assert target(torch.rand(1, 13, 8, 8)).shape == (1, 13, 16, 16)


@pytest.mark.parametrize("bands", [1, 2, 4, 13])
def test_input_adaptation_preserves_the_band_sum(bands: int) -> None:
    weight = torch.randn(5, 3, 3, 3)
    adapted = adapt_input_kernels(weight, bands)
    assert adapted.shape == (5, bands, 3, 3)
    torch.testing.assert_close(adapted.sum(dim=1), weight.sum(dim=1))


def test_output_adaptation() -> None:
    weight, bias = torch.randn(3, 8, 3, 3), torch.randn(3)
    more_weight, more_bias = adapt_output_kernels(weight, bias, 5)
    assert more_weight.shape == (5, 8, 3, 3) and more_bias is not None
    torch.testing.assert_close(more_weight[4], weight.mean(dim=0))
    torch.testing.assert_close(more_bias[3:], bias.mean().expand(2))
    fewer_weight, fewer_bias = adapt_output_kernels(weight, bias, 1)
    torch.testing.assert_close(fewer_weight, weight[:1])
    assert fewer_bias is not None and fewer_bias.shape == (1,)
