"""Every shipped config trains two steps and validates (fast_dev_run), then validates, tests
and predicts with the trained module (``trainer.validate``/``test``/``predict``): finite
``val/*`` and ``test/*`` metrics, predictions of the EMA generator in physical units."""

import math
from pathlib import Path

import pytest
import torch

from ganlab.config import load_config
from ganlab.data.datamodule import SRDataModule
from tests.helpers import fit

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
PINNED = [
    "Training.g_pretrain_steps=1",
    "Trainer.enable_progress_bar=false",
    "Training.precision=32",
]
"""Short runs in float32 (a recipe's precision may be auto: bf16-mixed on a CPU with bf16)."""


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_trains_and_validates(path: Path, tmp_path: Path) -> None:
    config = load_config(path, PINNED)
    module, trainer = fit(config, tmp_path, fast_dev_run=2)
    assert module.step_count == 2
    assert trainer.callback_metrics["val/psnr"] > 0

    (logged,) = trainer.validate(module, datamodule=SRDataModule(config))
    bands = config.Model.sr_bands
    names = ["psnr", "ssim", "ergas", *(f"psnr_band{band}" for band in range(bands))]
    if bands > 1:
        names.append("sam")
    expected = {f"val/{name}" for name in names}
    expected |= {f"{name}_bicubic" for name in expected} | {"val/psnr_gain"}
    if bands == config.Model.in_bands:  # the fidelity figures (docs/losses.md, Faithful SR)
        fidelity = ["consistency_psnr", "consistency_psnr_bicubic", "consistency_mae"]
        fidelity += ["synthesis", "improvement", "omission", "hallucination"]
        if bands > 1:
            fidelity += ["consistency_sam", "consistency_sam_bicubic"]
        expected |= {f"val/{name}" for name in fidelity}
    assert set(logged) == expected
    for name, value in logged.items():
        assert isinstance(value, float) and math.isfinite(value), (name, value)
        assert trainer.callback_metrics[name].item() == pytest.approx(value)
    assert 0 < logged["val/psnr"] < 100 and -1 <= logged["val/ssim"] <= 1
    assert logged["val/psnr_gain"] == pytest.approx(
        logged["val/psnr"] - logged["val/psnr_bicubic"], abs=1e-4
    )
    assert module.step_count == 2  # validation trains nothing


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_tests_and_predicts_with_the_ema_generator(
    path: Path, tmp_path: Path
) -> None:
    config = load_config(path, PINNED)
    module, trainer = fit(config, tmp_path, fast_dev_run=2)
    datamodule = SRDataModule(config)
    (validated,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    (tested,) = trainer.test(module, datamodule=datamodule, verbose=False)
    assert set(tested) == {name.replace("val/", "test/") for name in validated}
    for name, value in validated.items():  # same items, same (EMA) weights
        assert tested[name.replace("val/", "test/")] == pytest.approx(value, rel=1e-5)

    predictions = trainer.predict(module, datamodule=datamodule)
    assert predictions is not None
    batch = next(iter(datamodule.predict_dataloader()))
    first = predictions[0]
    assert first["sr"].shape == batch["hr"].shape
    assert first["meta"] == batch["meta"]
    generator = module.ema_generator().eval()  # what EMASwap puts in (raw without an EMA)
    with torch.no_grad():
        expected = module.hr_normalizer.denormalize(
            generator(module.lr_normalizer.normalize(batch["lr"]))
        )
    torch.testing.assert_close(first["sr"], expected, rtol=1e-4, atol=1e-4 * expected.abs().max())


def test_eo_recipe_hard_variant_keeps_the_measurement(tmp_path: Path) -> None:
    config = load_config(
        REPO / "configs" / "eo_multispectral.yaml",
        [*PINNED, "Generator.lr_consistency=hard"],
    )
    module, _ = fit(config, tmp_path, fast_dev_run=2)
    (logged,) = module.trainer.validate(module, datamodule=SRDataModule(config), verbose=False)
    # the PSF + area operator, projected to float32 precision: far above bicubic's consistency
    assert logged["val/consistency_psnr"] > 100 > logged["val/consistency_psnr_bicubic"]
