import copy

import pytest
import torch
import torch._dynamo
from torch import nn

from ganlab.config import load_config
from ganlab.models import prepare_for_training
from ganlab.models.generators import SRResNet
from tests.models.tiny import (
    DISCRIMINATOR_NAMES,
    GENERATOR_NAMES,
    tiny_discriminator,
    tiny_generator,
)

# Emitted by torch's own modules while dynamo traces; not about our code.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")


def first_output(output: torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def tiny_model(name: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if name in GENERATOR_NAMES:
        return tiny_generator(name, 4, 2, zero_init_last=False), torch.rand(2, 4, 6, 7)
    return tiny_discriminator(name, 4), torch.rand(2, 4, 48, 40)


@pytest.mark.parametrize("name", GENERATOR_NAMES + DISCRIMINATOR_NAMES)
def test_channels_last_and_compile_flags_work(name: str) -> None:
    model, x = tiny_model(name)
    model.eval()
    reference = first_output(model(x))
    prepared = prepare_for_training(copy.deepcopy(model), channels_last=True)
    conv_weights = [m.weight for m in prepared.modules() if isinstance(m, nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights)
    x_last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(first_output(prepared(x_last)), reference, atol=1e-5, rtol=1e-4)
    # Graph capture of every model (the fast "eager" backend; inductor is tested below).
    torch._dynamo.reset()
    compiled = prepare_for_training(
        copy.deepcopy(model).train(), channels_last=True, compile=True, compile_backend="eager"
    )
    first_output(compiled(x_last)).square().mean().backward()
    assert all(p.grad is not None for p in compiled.parameters() if p.requires_grad)
    assert compiled.state_dict().keys() == model.state_dict().keys()


def test_inductor_compile_of_a_tiny_generator() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    generator = SRResNet(2, 2, 2, n_channels=4, n_blocks=1, zero_init_last=False)
    reference = copy.deepcopy(generator)
    compiled = prepare_for_training(generator, channels_last=True, compile=True)
    lr = torch.rand(1, 2, 8, 8)
    sr = compiled(lr)
    torch.testing.assert_close(sr, reference(lr), atol=1e-5, rtol=1e-4)
    sr.mean().backward()
    assert compiled.head.weight.grad is not None
    assert isinstance(compiled, SRResNet)
    assert compiled.state_dict().keys() == reference.state_dict().keys()
    copy.deepcopy(compiled)  # the EMA copies the generator
    torch._dynamo.reset()


def test_training_flags_in_config() -> None:
    config = load_config(None, ["Training.channels_last=true", "Training.compile=true"])
    assert config.Training.channels_last and config.Training.compile
    assert not load_config(None, []).Training.compile
