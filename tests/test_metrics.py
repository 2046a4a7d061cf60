import importlib.util
import math
from pathlib import Path

import pytest
import torch

from ganlab import metrics
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


TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.fixture
def lpips_untried(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget an earlier failure to build LPIPS in this process, so it is tried again."""
    monkeypatch.setattr(metrics, "_lpips_failure", None)


@pytest.mark.skipif(TORCHVISION, reason="torchvision is installed: LPIPS may be buildable")
def test_lpips_without_torchvision_warns_once_with_what_to_install_and_where(
    lpips_untried: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level("WARNING", logger="ganlab.metrics"):
        # the module builds one for SR and one for the bicubic baseline
        qualities = [ImageQuality(bands=3, scale=2, lpips=True) for _ in range(2)]
    (record,) = [r for r in caplog.records if r.name == "ganlab.metrics"]
    weights = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert record.getMessage() == (
        "LPIPS is not computed: its network could not be built offline (ModuleNotFoundError: "
        "LPIPS metric requires that torchvision is installed. Either install as `pip install "
        "torchmetrics[image]` or `pip install torchvision`.). It needs torchvision (pip install "
        f"torchvision) and AlexNet's ImageNet weights in {weights} (torchvision's "
        "alexnet-owt-7be5be79.pth, from https://download.pytorch.org/models/)."
    )
    target = torch.rand(1, 3, 16, 16)
    for quality in qualities:
        assert quality.lpips is None
        quality.update(target + 0.1, target, target, target)
        values = quality.compute()
        assert "lpips" not in values
        assert values["psnr"].item() == pytest.approx(20.0, abs=1e-3)  # the rest still runs


@pytest.mark.skipif(TORCHVISION, reason="torchvision is installed: LPIPS may be buildable")
def test_a_module_with_lpips_on_warns_once(
    lpips_untried: None, make_config, caplog: pytest.LogCaptureFixture
) -> None:
    from ganlab.engine import SRGANModule

    with caplog.at_level("WARNING", logger="ganlab.metrics"):
        module = SRGANModule(make_config("Logging.lpips=true"))
    assert module.sr_quality.lpips is None and module.bicubic_quality is not None
    assert module.bicubic_quality.lpips is None
    assert [r.name for r in caplog.records].count("ganlab.metrics") == 1


@pytest.mark.skipif(
    not (TORCHVISION and metrics.lpips_backbone_path().is_file()),
    reason=f"LPIPS needs torchvision and its AlexNet weights at {metrics.lpips_backbone_path()}",
)
def test_lpips_on_three_clamped_bands(lpips_untried: None) -> None:
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    reference = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    torch.manual_seed(0)
    target = torch.rand(2, 4, 32, 32)
    prediction = (target + 0.2 * torch.randn_like(target)).clamp(0, 1)

    quality = ImageQuality(bands=4, scale=2, lpips=True)
    quality.update(target, target, target, target)
    assert quality.compute()["lpips"].item() == pytest.approx(0.0, abs=1e-6)
    quality.reset()
    seen = prediction.clone()
    seen[:, 3] = 0  # band 3 is not one of the three LPIPS bands
    seen[:, :3] += 5 * (prediction[:, :3] > 0.99)  # normalised values may exceed 1: clamped
    quality.update(seen, target, prediction, target)
    expected = reference(prediction[:, :3], target[:, :3]).item()
    assert expected > 0.01
    assert quality.compute()["lpips"].item() == pytest.approx(expected, rel=1e-5)

    single = ImageQuality(bands=1, scale=2, lpips=True)  # band 0 as grey RGB
    single.update(prediction[:, :1], target[:, :1], prediction[:, :1], target[:, :1])
    grey = reference(prediction[:, [0, 0, 0]], target[:, [0, 0, 0]]).item()
    assert single.compute()["lpips"].item() == pytest.approx(grey, rel=1e-5)
