"""SuperResolver: loads checkpoints and exports, physical units in and out, dtypes kept, the EMA
weights by default, clear errors for files that are not GAN Lab's and for wrong band counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.engine.checkpoint import read_checkpoint
from ganlab.errors import ArgumentError, CheckpointError, DataError
from ganlab.export import export_paths, write_checkpoint_exports
from ganlab.inference.resolver import SuperResolver
from tests.helpers import fit, one_epoch, tiny_config
from tests.inference.conftest import MakeExport

PERCENTILE = (
    "Data.normalization={type: percentile, low: [7000, 6500, 6000], high: [9000, 8800, 8900]}"
)


def test_physical_units_in_and_out_match_the_generator_on_normalised_values(
    export: MakeExport,
) -> None:
    resolver = SuperResolver.from_checkpoint(export(PERCENTILE))
    lr = np.random.default_rng(0).uniform(6000, 9000, (3, 24, 20)).astype(np.float32)
    sr = resolver(lr, whole_image=True, overlap=0, tile=64)
    with torch.no_grad():
        normalised = resolver.lr_normalizer.normalize(torch.from_numpy(lr)[None])
        expected = resolver.hr_normalizer.denormalize(resolver.generator(normalised))[0]
    np.testing.assert_allclose(sr, expected.numpy(), rtol=1e-5)
    assert 4000 < sr.mean() < 11000  # reflectance-like DN, not normalised values


def test_integer_input_comes_back_in_its_dtype_rounded_and_clipped(export: MakeExport) -> None:
    resolver = SuperResolver.from_checkpoint(export(PERCENTILE))
    lr = np.random.default_rng(1).integers(6000, 9000, (3, 20, 20)).astype(np.uint16)
    sr = resolver(lr)
    assert sr.dtype == np.uint16 and sr.shape == (3, 80, 80)
    floats = resolver(lr.astype(np.float32))
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(sr, np.clip(np.rint(floats), 0, 65535).astype(np.uint16))
    dark = resolver(np.zeros((3, 8, 8), np.uint16))  # SR below 0 DN clips to 0
    assert dark.min() == 0


def test_tensor_batches_come_back_as_tensors(export: MakeExport) -> None:
    resolver = SuperResolver.from_checkpoint(export(PERCENTILE))
    batch = torch.rand(2, 3, 12, 10) * 2000 + 7000
    sr = resolver(batch)
    assert isinstance(sr, torch.Tensor) and sr.shape == (2, 3, 48, 40)
    torch.testing.assert_close(sr[1], resolver(batch[1]))


def test_checkpoint_uses_ema_weights_by_default_and_raw_on_request(tmp_path: Path) -> None:
    config = tiny_config("Training.EMA.enabled=true", "Training.EMA.decay=0.5")
    module, trainer = fit(config, tmp_path, **one_epoch(3))
    checkpoint = tmp_path / "model.ckpt"
    trainer.save_checkpoint(checkpoint)
    lr = torch.rand(1, 3, 16, 16) * 2000 + 7000
    ema = SuperResolver.from_checkpoint(checkpoint)
    raw = SuperResolver.from_checkpoint(checkpoint, use_ema=False)
    assert (ema.weights, raw.weights) == ("ema", "raw")
    with torch.no_grad():
        generator = module.ema_generator().eval()
        norm = module.lr_normalizer.normalize(lr)
        expected = module.hr_normalizer.denormalize(generator(norm))
    torch.testing.assert_close(ema.run(lr), expected, rtol=1e-4, atol=1e-2)  # no padding
    assert not torch.allclose(raw(lr), ema(lr))
    # the export written beside a checkpoint gives the same SR
    paths = export_paths(checkpoint)

    write_checkpoint_exports(read_checkpoint(checkpoint), checkpoint)
    exported = SuperResolver.from_checkpoint(paths["ema"])
    torch.testing.assert_close(exported(lr), ema(lr))


def test_a_checkpoint_that_is_not_gan_labs_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"layer.weight": torch.zeros(2)}, "epoch": 1}, path)
    with pytest.raises(CheckpointError, match=r"other\.ckpt is a Lightning checkpoint but not"):
        SuperResolver.from_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        SuperResolver.from_checkpoint(tmp_path / "missing.ckpt")


def test_wrong_band_count_is_refused_with_both_counts(export: MakeExport) -> None:
    resolver = SuperResolver.from_checkpoint(export(PERCENTILE))
    with pytest.raises(DataError, match=r"has 4 bands but the model .* reads 3"):
        resolver(np.zeros((4, 8, 8), np.float32))


def test_half_precision_without_cuda_is_refused(export: MakeExport) -> None:
    with pytest.raises(ArgumentError, match="16-mixed needs a CUDA device"):
        SuperResolver.from_checkpoint(export(PERCENTILE), precision="16-mixed")
    with pytest.raises(ArgumentError, match="not supported for inference"):
        SuperResolver.from_checkpoint(export(PERCENTILE), precision="64")


def test_the_package_exports_super_resolver() -> None:
    import ganlab

    assert ganlab.SuperResolver is SuperResolver
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = ganlab.Nothing  # type: ignore[attr-defined]


def test_exports_carry_the_training_band_selection_and_slice_axis(
    export: MakeExport,
) -> None:
    path = export(PERCENTILE, "Data.bands=[B4, B3, B2]", "Data.slice_axis=0")
    resolver = SuperResolver.from_checkpoint(path)
    assert resolver.bands == ["B4", "B3", "B2"] and resolver.slice_axis == 0


def test_unknown_or_missing_devices_are_refused(export: MakeExport) -> None:
    with pytest.raises(ArgumentError, match="not a device name"):
        SuperResolver.from_checkpoint(export(PERCENTILE), device="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ArgumentError, match="sees no CUDA GPU"):
            SuperResolver.from_checkpoint(export(PERCENTILE), device="cuda")


def test_a_precision_the_generator_does_not_support_is_refused() -> None:
    from ganlab.data.normalizers import AffineNormalizer

    class NoBF16(torch.nn.Conv2d):
        supports_bf16 = False

    identity = AffineNormalizer([0.0], [1.0])
    with pytest.raises(ArgumentError, match="does not support precision bf16-mixed"):
        SuperResolver(
            NoBF16(1, 1, 1), identity, identity, scale=1, in_bands=1, out_bands=1,
            precision="bf16-mixed",
        )  # fmt: skip
