import copy
import itertools

import pytest
import torch
import torch._dynamo
from torch import nn
from torch._dynamo.testing import CompileCounter, CompileCounterWithBackend

from ganlab.engine import SRGANModule
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


def four_d_tensors(model: nn.Module) -> list[torch.Tensor]:
    """The 4-D parameters and buffers (conv weights, 2-D position tables) of ``model``."""
    return [t for t in itertools.chain(model.parameters(), model.buffers()) if t.dim() == 4]


def is_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("name", GENERATOR_NAMES + DISCRIMINATOR_NAMES)
def test_channels_last_and_compile_flags_work(name: str) -> None:
    model, x = tiny_model(name)
    model.eval()
    reference = first_output(model(x))
    assert not all(is_channels_last(t) for t in four_d_tensors(model))  # the default layout
    prepared = prepare_for_training(copy.deepcopy(model), channels_last=True)
    assert four_d_tensors(prepared) and all(is_channels_last(t) for t in four_d_tensors(prepared))
    x_last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(first_output(prepared(x_last)), reference, atol=1e-5, rtol=1e-4)
    # Graph capture of every model (a counting backend that runs the captured graphs eagerly;
    # inductor is tested below).
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = prepare_for_training(
        copy.deepcopy(model).train(), channels_last=True, compile=True, compile_backend=counter
    )
    assert counter.frame_count == 0  # compiled on the first call
    first_output(compiled(x_last)).square().mean().backward()
    assert counter.frame_count >= 1 and counter.op_count > 0
    assert all(p.grad is not None for p in compiled.parameters() if p.requires_grad)
    assert type(compiled) is type(model)
    assert compiled.state_dict().keys() == model.state_dict().keys()
    torch._dynamo.reset()


def test_inductor_compile_of_a_tiny_generator() -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    generator = SRResNet(2, 2, 2, n_channels=4, n_blocks=1, zero_init_last=False)
    reference = copy.deepcopy(generator)
    inductor = CompileCounterWithBackend("inductor")
    compiled = prepare_for_training(
        generator, channels_last=True, compile=True, compile_backend=inductor
    )
    lr = torch.rand(1, 2, 8, 8)
    sr = compiled(lr)
    assert inductor.frame_count >= 1  # the forward ran through inductor
    torch.testing.assert_close(sr, reference(lr), atol=1e-5, rtol=1e-4)
    sr.mean().backward()
    assert compiled.head.weight.grad is not None
    assert isinstance(compiled, SRResNet)
    assert compiled.state_dict().keys() == reference.state_dict().keys()
    copy.deepcopy(compiled)  # the EMA copies the generator
    torch._dynamo.reset()


def test_training_channels_last_reaches_both_networks_of_the_module(make_config) -> None:
    plain = SRGANModule(make_config("Training.channels_last=false"))
    module = SRGANModule(make_config("Training.channels_last=true"))
    for name in ("generator", "discriminator"):
        before = four_d_tensors(getattr(plain, name))
        assert not all(is_channels_last(t) for t in before), name
        after = four_d_tensors(getattr(module, name))
        assert len(after) == len(before) and all(is_channels_last(t) for t in after), name


def test_training_compile_compiles_both_networks_of_the_module(make_config) -> None:
    torch._dynamo.reset()
    plain = SRGANModule(make_config())
    module = SRGANModule(make_config("Training.compile=true"))
    for name in ("generator", "discriminator"):
        # nn.Module.compile keeps the module and records the compiled call here; calling it
        # would start an inductor compilation (tested above on a tiny generator)
        assert getattr(plain, name)._compiled_call_impl is None, name
        assert getattr(module, name)._compiled_call_impl is not None, name
        assert type(getattr(module, name)) is type(getattr(plain, name))
        assert getattr(module, name).state_dict().keys() == getattr(plain, name).state_dict().keys()
    torch._dynamo.reset()
