import math

import pytest
import torch

from ganlab.metrics import ImageQuality


def test_psnr_of_known_mse_per_band_and_mean() -> None:
    quality = ImageQuality(bands=2, scale=4)
    target = torch.rand(3, 2, 16, 16)
    prediction = target.clone()
    prediction[:, 0] += 0.1  # MSE 0.01 -> 20 dB
    prediction[:, 1] += 0.01  # MSE 1e-4 -> 40 dB
    quality.update(prediction, target, prediction + 5, target + 5)
    values = quality.compute()
    assert values["psnr_band0"].item() == pytest.approx(20.0, abs=1e-3)
    assert values["psnr_band1"].item() == pytest.approx(40.0, abs=1e-3)
    assert values["psnr"].item() == pytest.approx(30.0, abs=1e-3)
    assert 0 < values["ssim"].item() <= 1


def test_sam_and_ergas_on_physical_values() -> None:
    quality = ImageQuality(bands=2, scale=4)
    target = torch.zeros(1, 2, 16, 16)
    target[:, 0] = 1.0
    prediction = torch.zeros(1, 2, 16, 16)
    prediction[:, 1] = 1.0
    quality.update(prediction, target, prediction, target)
    assert quality.compute()["sam"].item() == pytest.approx(math.pi / 2, abs=1e-4)

    quality = ImageQuality(bands=1, scale=4)
    target = torch.full((1, 1, 16, 16), 100.0)
    quality.update(target, target, target * 1.1, target)
    # ERGAS = 100 / ratio * sqrt(mean_k (RMSE_k / mu_k)^2) = 25 * 0.1
    values = quality.compute()
    assert values["ergas"].item() == pytest.approx(2.5, rel=1e-4)
    assert "sam" not in values  # undefined for one band


def test_reset_starts_a_new_epoch() -> None:
    quality = ImageQuality(bands=1, scale=2)
    target = torch.rand(1, 1, 16, 16)
    quality.update(target + 0.1, target, target + 0.1, target)
    quality.reset()
    quality.update(target + 0.01, target, target + 0.01, target)
    assert quality.compute()["psnr"].item() == pytest.approx(40.0, abs=1e-3)


def test_lpips_unavailable_offline_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        quality = ImageQuality(bands=3, scale=2, lpips=True)
    if quality.lpips is None:
        assert sum("LPIPS is not computed" in r.message for r in caplog.records) == 1
        target = torch.rand(1, 3, 16, 16)
        quality.update(target, target, target, target)
        assert "lpips" not in quality.compute()
    else:  # weights present locally: the metric runs
        target = torch.rand(1, 3, 32, 32)
        quality.update(target, target, target, target)
        assert quality.compute()["lpips"].item() == pytest.approx(0.0, abs=1e-4)
