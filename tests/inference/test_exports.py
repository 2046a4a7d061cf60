"""TorchScript and ONNX exports: physical units in and out, checked at other sizes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganlab.config import load_config
from ganlab.data.normalizers import AffineNormalizer
from ganlab.errors import OutputError
from ganlab.inference.exports import (
    TORCHSCRIPT_METADATA,
    PhysicalGenerator,
    export_onnx,
    export_torchscript,
    verify_outputs,
)
from ganlab.models import build_generator

FAMILIES: dict[str, list[str]] = {
    "srresnet": [],
    "rrdb": ["Generator.growth_channels=4"],
    "rcan": ["Generator.reduction=4"],
    "lka": [],
    "swinir": ["Generator.window_size=4", "Generator.n_heads=2"],
}
"""Tiny settings of every built-in generator family."""

METADATA = {"scale": "4", "in_bands": "4", "out_bands": "4", "weights": "ema"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: handing work between threads costs more than the work, and
    several times the file's run time when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_generator(model_type: str = "srresnet", *overrides: str) -> nn.Module:
    """A tiny generator (4 bands in and out, x4) with random weights in eval mode."""
    config = load_config(
        None,
        [
            "Generator.n_channels=8",
            "Generator.n_blocks=1",
            "Model.in_bands=4",
            f"Generator.model_type={model_type}",
            *FAMILIES.get(model_type, []),
            *overrides,
        ],
    )
    torch.manual_seed(0)
    generator = build_generator(config).eval()
    # the zero-initialised tail would make the output just the interpolation skip
    with torch.no_grad():
        for parameter in generator.parameters():
            nn.init.normal_(parameter, std=0.05)
    return generator


def lr_normalizer() -> AffineNormalizer:
    """Sentinel-2-like reflectance statistics for 4 bands."""
    return AffineNormalizer([7460.0, 6720.0, 6033.0, 2500.0], [1310.0, 1808.0, 2855.0, 900.0])


def hr_normalizer() -> AffineNormalizer:
    return AffineNormalizer([7000.0, 6500.0, 6000.0, 2400.0], [1200.0, 1700.0, 2700.0, 800.0])


def physical(generator: nn.Module) -> PhysicalGenerator:
    return PhysicalGenerator(generator, lr_normalizer(), hr_normalizer()).eval()


def physical_lr(*shape: int, seed: int = 1) -> torch.Tensor:
    """Reflectance-like LR of ``shape`` (``[B, 4, h, w]``)."""
    network_values = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    return lr_normalizer().denormalize(network_values)


class SizeDependent(nn.Module):
    """Doubles inputs wider than 16 pixels: Python control flow a trace cannot record."""

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return lr * 2 if lr.shape[-1] > 16 else lr


def test_physical_generator_denormalizes_generator_output_of_normalized_lr() -> None:
    generator = tiny_generator("srresnet", "Model.out_bands=2", "Generator.global_skip=none")
    lr_norm = lr_normalizer()
    hr_norm = AffineNormalizer([100.0, 200.0], [10.0, 20.0])
    lr = physical_lr(2, 4, 6, 5)
    with torch.no_grad():
        sr = PhysicalGenerator(generator, lr_norm, hr_norm)(lr)
        network_sr = generator((lr - lr_norm.offset[:, None, None]) / lr_norm.scale[:, None, None])
    assert sr.shape == (2, 2, 24, 20)
    expected = (
        network_sr * torch.tensor([10.0, 20.0])[:, None, None]
        + torch.tensor([100.0, 200.0])[:, None, None]
    )
    torch.testing.assert_close(sr, expected)
    assert network_sr.std() > 0.01  # the random tail makes the output more than a constant


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_torchscript_export_reproduces_module_at_another_size(
    tmp_path: Path, model_type: str
) -> None:
    model = physical(tiny_generator(model_type))
    path = export_torchscript(model, tmp_path / "g.pt", physical_lr(1, 4, 7, 6), METADATA)
    extra = {TORCHSCRIPT_METADATA: ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    lr = physical_lr(3, 4, 10, 5, seed=2)  # neither the example's nor the check's size
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr), model(lr), rtol=1e-4, atol=1e-2)
    assert json.loads(extra[TORCHSCRIPT_METADATA]) == METADATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pt"]


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_onnx_export_reproduces_module_in_onnxruntime_at_two_sizes(
    tmp_path: Path, model_type: str
) -> None:
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = physical(tiny_generator(model_type))
    path = export_onnx(model, tmp_path / "g.onnx", physical_lr(1, 4, 7, 6), metadata=METADATA)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for height, width in [(5, 6), (12, 9)]:
        lr = physical_lr(2, 4, height, width, seed=height)
        (sr,) = session.run(["sr"], {"lr": lr.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(sr), model(lr), rtol=1e-4, atol=1e-2)
    stored = {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}
    assert stored == METADATA


def test_torchscript_export_of_size_dependent_module_raises_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        OutputError, match=r"g\.pt \(TorchScript export.*does not reproduce.*--format onnx"
    ):
        export_torchscript(SizeDependent(), tmp_path / "g.pt", torch.rand(1, 3, 16, 16))
    assert list(tmp_path.iterdir()) == []


def test_onnx_export_of_size_dependent_module_raises_and_keeps_previous_file(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime")
    path = tmp_path / "g.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(
        OutputError, match=r"g\.onnx \(ONNX export.*does not reproduce.*not written"
    ):
        export_onnx(SizeDependent(), path, torch.rand(1, 3, 16, 16))
    assert path.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [path]


def test_torchscript_export_of_swinir_traced_at_window_multiple_is_rejected(
    tmp_path: Path,
) -> None:
    # at 16x16 no padding is traced, so the check at 24x20 (not a multiple of 8) must fail
    model = physical(tiny_generator("swinir", "Generator.window_size=8"))
    with pytest.raises(
        OutputError, match=r"g\.pt \(TorchScript export at input \[2, 4, 24, 20\]\) fails"
    ):
        export_torchscript(model, tmp_path / "g.pt", physical_lr(1, 4, 16, 16))
    assert list(tmp_path.iterdir()) == []


def test_onnx_export_without_onnxruntime_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(OutputError, match=r"pip install 'opensr-gan-lab\[onnx\]'"):
        export_onnx(SizeDependent(), tmp_path / "g.onnx", torch.rand(1, 3, 8, 8))
    assert list(tmp_path.iterdir()) == []


def test_verify_outputs_accepts_rounding_and_rejects_differences_shapes_and_nan() -> None:
    expected = torch.tensor([[1000.0, -2000.0], [0.5, 3.0]])
    verify_outputs(expected, expected.numpy() * (1 + 1e-6), "export", "g.onnx")
    with pytest.raises(OutputError, match=r"up to 0\.5"):
        verify_outputs(expected, expected + torch.tensor([[0.0, 0.0], [0.5, 0.0]]), "x", "g")
    with pytest.raises(OutputError, match=r"output shape \[2\]"):
        verify_outputs(expected, np.zeros(2, dtype=np.float32), "export", "g.onnx")
    with pytest.raises(OutputError, match="up to inf"):
        verify_outputs(expected, expected.clone().fill_(float("nan")), "export", "g.onnx")
