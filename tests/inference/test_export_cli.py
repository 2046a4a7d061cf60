"""``ganlab export``: safetensors, TorchScript and ONNX files of a trained checkpoint reproduce
its generator (EMA weights by default) in physical units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.inference.resolver import SuperResolver
from tests.helpers import fit, one_epoch, tiny_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    config = tiny_config("Training.EMA.enabled=true", "Training.EMA.decay=0.5")
    _, trainer = fit(config, folder, **one_epoch(3))
    path = folder / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def lr_batch() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 20, 28, generator=generator) * 2000 + 6500


@pytest.mark.parametrize("raw", [False, True], ids=["ema", "raw"])
def test_safetensors_export_reproduces_the_checkpoint(
    checkpoint: Path, tmp_path: Path, raw: bool
) -> None:
    output = tmp_path / "model.generator.safetensors"
    flags = ["--raw"] if raw else []
    assert main(["export", "--checkpoint", str(checkpoint), "--output", str(output), *flags]) == 0
    exported = SuperResolver.from_checkpoint(output)
    original = SuperResolver.from_checkpoint(checkpoint, use_ema=not raw)
    assert exported.weights == ("raw" if raw else "ema")
    torch.testing.assert_close(exported.run(lr_batch()), original.run(lr_batch()))


def test_torchscript_export_reproduces_the_ema_generator_in_physical_units(
    checkpoint: Path, tmp_path: Path
) -> None:
    output = tmp_path / "model.pt"
    assert main(["export", "--checkpoint", str(checkpoint), "--output", str(output)]) == 0
    loaded = torch.jit.load(str(output))
    expected = SuperResolver.from_checkpoint(checkpoint).run(lr_batch())
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr_batch()), expected, rtol=1e-4, atol=1e-2)


def test_onnx_export_reproduces_the_ema_generator_in_onnxruntime(
    checkpoint: Path, tmp_path: Path
) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")  # the optional extra [onnx]
    output = tmp_path / "model.onnx"
    args = ["export", "--checkpoint", str(checkpoint), "--output", str(output)]
    assert main([*args, "--format", "onnx"]) == 0
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    (sr,) = session.run(None, {"lr": lr_batch().numpy()})
    expected = SuperResolver.from_checkpoint(checkpoint).run(lr_batch()).numpy()
    np.testing.assert_allclose(sr, expected, rtol=1e-4, atol=1e-2)


def test_export_refuses_to_replace_a_file_and_unknown_suffixes(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"keep")
    assert main(["export", "--checkpoint", str(checkpoint), "--output", str(existing)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep"
    odd = tmp_path / "model.bin"
    assert main(["export", "--checkpoint", str(checkpoint), "--output", str(odd)]) == 2
    assert "pass --format safetensors|torchscript|onnx" in capsys.readouterr().err
