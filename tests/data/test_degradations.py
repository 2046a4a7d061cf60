import math

import numpy as np
import pytest
import torch

from ganlab.config import load_config
from ganlab.data.degradations import Degradation, gaussian_blur, item_generator, mtf_to_sigma
from ganlab.data.transforms import downsample


def _high_frequency_energy(image: torch.Tensor) -> float:
    spectrum = torch.fft.rfft2(image - image.mean()).abs() ** 2
    h, w = image.shape[-2:]
    fy = torch.fft.fftfreq(h).abs()[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return float(spectrum[..., (fy > 0.25) | (fx > 0.25)].sum())


def test_blur_reduces_high_frequency_energy() -> None:
    hr = torch.rand(2, 64, 64, generator=torch.Generator().manual_seed(0)) * 1000
    energies = [
        _high_frequency_energy(Degradation(scale=2, blur_sigma=s)(hr)) for s in (0.0, 0.8, 1.6)
    ]
    assert energies[0] > energies[1] > energies[2]
    assert energies[2] < 0.2 * energies[0]


def test_blur_preserves_mean_and_is_gaussian() -> None:
    impulse = torch.zeros(1, 31, 31)
    impulse[0, 15, 15] = 1.0
    blurred = gaussian_blur(impulse, 2.0)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    ratio = float(blurred[0, 15, 17] / blurred[0, 15, 15])
    assert ratio == pytest.approx(math.exp(-(2**2) / (2 * 2.0**2)), rel=1e-4)


def test_mtf_at_nyquist_converts_to_sigma() -> None:
    sigma = mtf_to_sigma(0.3, 4)
    nyquist = 1 / (2 * 4)
    assert math.exp(-2 * math.pi**2 * sigma**2 * nyquist**2) == pytest.approx(0.3)
    assert Degradation(scale=4, blur_sigma=9.0, mtf_nyquist=0.3).sigma() == pytest.approx(sigma)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        mtf_to_sigma(1.5, 4)


def test_gaussian_noise_has_the_configured_std() -> None:
    hr = torch.full((1, 256, 256), 500.0)
    lr = Degradation(scale=2, noise_std=10.0)(hr, torch.Generator().manual_seed(0))
    assert float(lr.std()) == pytest.approx(10.0, rel=0.05)
    assert float(lr.mean()) == pytest.approx(500.0, abs=1.0)


def test_poisson_noise_depends_on_the_signal() -> None:
    hr = torch.cat([torch.full((1, 128, 256), 100.0), torch.full((1, 128, 256), 10000.0)], dim=1)
    lr = Degradation(scale=2, poisson_gain=1.0)(hr, torch.Generator().manual_seed(0))
    dark, bright = lr[0, :64], lr[0, 64:]
    assert float(dark.std()) == pytest.approx(10.0, rel=0.1)  # sqrt(100)
    assert float(bright.std()) == pytest.approx(100.0, rel=0.1)  # sqrt(10000)
    assert float(bright.mean()) == pytest.approx(10000.0, rel=0.01)


def test_quantize_rounds_and_clips_to_the_source_dtype() -> None:
    hr = torch.tensor([[[-5.0, 10.4], [254.6, 300.0]]]).repeat_interleave(2, 1)
    hr = hr.repeat_interleave(2, 2)
    lr = Degradation(scale=2, quantize=True)(hr, None, np.dtype(np.uint8))
    assert lr.tolist() == [[[0.0, 10.0], [255.0, 255.0]]]
    unchanged = Degradation(scale=2, quantize=True)(hr, None, np.dtype(np.float32))
    torch.testing.assert_close(unchanged, downsample(hr, 2, "area"))


def test_ranges_are_seedable_and_vary() -> None:
    degrade = Degradation(scale=2, blur_sigma=(0.2, 2.0), noise_std=(0.0, 5.0))
    hr = torch.rand(3, 32, 32) * 100
    torch.testing.assert_close(degrade(hr, item_generator(7, 3)), degrade(hr, item_generator(7, 3)))
    assert not torch.equal(degrade(hr, item_generator(7, 3)), degrade(hr, item_generator(7, 4)))
    sigmas = {degrade.sigma(torch.Generator().manual_seed(s)) for s in range(5)}
    assert len(sigmas) == 5 and all(0.2 <= s <= 2.0 for s in sigmas)


def test_from_config() -> None:
    config = load_config(
        None,
        [
            "Data.downsample=bicubic",
            "Data.degradation.blur_sigma=[0.5, 1.5]",
            "Data.degradation.noise_std=3",
            "Data.degradation.poisson_gain=0.5",
            "Data.degradation.quantize=true",
            "Generator.scaling_factor=2",
        ],
    )
    degrade = Degradation.from_config(config)
    assert degrade == Degradation(2, "bicubic", (0.5, 1.5), None, 3.0, 0.5, True)
