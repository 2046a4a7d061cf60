"""Fidelity metrics on constructed cases: SR == bicubic is all omission, SR == HR all
improvement, structured noise far from both is hallucination; SR == HR under the same
degradation is perfectly consistent; fractions sum to 1."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganlab.fidelity import CLASSES, consistency, correctness, correctness_map, synthesis

SCALE = 4
SPAN = torch.tensor([1000.0, 2000.0, 500.0, 800.0])  # physical units per band (4 bands)


def area(image: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(image, SCALE)


def scene(seed: int = 0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HR with texture at every scale, its area LR and the LR's bicubic upsample."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(2, 4, size // 8, size // 8, generator=generator)
    fine = torch.rand(2, 4, size, size, generator=generator)
    unit = 0.7 * F.interpolate(coarse, size=(size, size), mode="bilinear") + 0.3 * fine
    hr = 3000 + unit * SPAN.reshape(1, -1, 1, 1)
    lr = area(hr)
    bicubic = F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False)
    return hr, lr, bicubic


def test_sr_equal_to_bicubic_is_all_omission_and_synthesises_nothing() -> None:
    hr, _, bicubic = scene()
    fractions = correctness(bicubic, hr, bicubic, SPAN)
    assert torch.equal(fractions["omission"], torch.ones(2))
    assert torch.equal(fractions["improvement"] + fractions["hallucination"], torch.zeros(2))
    assert torch.equal(synthesis(bicubic, bicubic, SPAN), torch.zeros(2))


def test_sr_equal_to_hr_is_all_improvement() -> None:
    hr, _, bicubic = scene()
    fractions = correctness(hr.clone(), hr, bicubic, SPAN)
    assert torch.equal(fractions["improvement"], torch.ones(2))
    assert float(synthesis(hr, bicubic, SPAN).min()) > 0


def test_structured_noise_far_from_hr_and_bicubic_is_hallucination() -> None:
    hr, _, bicubic = scene()
    rows = torch.arange(hr.shape[-2]).reshape(-1, 1)
    cols = torch.arange(hr.shape[-1]).reshape(1, -1)
    stripes = torch.where((rows // 2 + cols // 3) % 2 == 0, 1.0, -1.0)  # invented texture
    typical = (bicubic - hr).abs().mean()
    sr = hr + 40 * typical * stripes
    fractions = correctness(sr, hr, bicubic, SPAN)
    assert float(fractions["hallucination"].min()) > 0.95
    labels = correctness_map(sr, hr, bicubic, SPAN)
    assert set(labels.unique().tolist()) <= {-1, 0, 1, 2} and (labels == 2).any()


def test_fractions_sum_to_one_and_leave_out_the_quiet_pixels() -> None:
    hr, _, bicubic = scene(seed=3)
    generator = torch.Generator().manual_seed(1)
    for weight in (0.2, 0.5, 0.8):
        noise = torch.randn(hr.shape, generator=generator) * (bicubic - hr).abs().mean()
        sr = weight * hr + (1 - weight) * bicubic + noise
        fractions = correctness(sr, hr, bicubic, SPAN)
        total = sum(fractions[name] for name in CLASSES)
        torch.testing.assert_close(total, torch.ones(2))
        kept = (correctness_map(sr, hr, bicubic, SPAN) >= 0).float().mean()
        assert 0.25 <= float(kept) < 1.0  # the 75th-percentile rule keeps at least a quarter


def test_more_of_hr_in_sr_means_more_improvement() -> None:
    hr, _, bicubic = scene(seed=5)
    shares = [
        float(correctness(w * hr + (1 - w) * bicubic, hr, bicubic, SPAN)["improvement"].mean())
        for w in (0.1, 0.5, 0.9)
    ]
    assert shares[0] < shares[1] < shares[2]


def test_sr_equal_to_hr_is_perfectly_consistent_under_the_same_degradation() -> None:
    hr, lr, _ = scene()
    result = consistency(hr, lr, area, SPAN)
    assert torch.equal(result.mae, torch.zeros(2)) and torch.equal(
        result.mae_band, torch.zeros(2, 4)
    )
    assert torch.isinf(result.psnr).all() and torch.isinf(result.psnr_band).all()
    assert result.sam is not None and float(result.sam.max()) < 1e-3


def test_consistency_measures_the_error_of_the_degraded_sr_in_band_units() -> None:
    hr, lr, bicubic = scene()
    offset = torch.tensor([10.0, 0.0, 5.0, 0.0]).reshape(1, -1, 1, 1)  # physical units
    result = consistency(hr + offset, lr, area, SPAN)
    expected_band = (offset.reshape(-1) / SPAN).expand(2, -1)
    torch.testing.assert_close(result.mae_band, expected_band)
    torch.testing.assert_close(result.psnr_band[:, 0], torch.full((2,), 20 * math.log10(100)))
    assert torch.isinf(result.psnr_band[:, 1]).all()
    bicubic_result = consistency(bicubic, lr, area, SPAN)
    assert float(bicubic_result.mae.min()) > 0  # bicubic does not keep the area averages
    single = consistency(hr[:, :1], lr[:, :1], area, SPAN[:1])
    assert single.sam is None


def test_a_data_range_that_does_not_fit_the_bands_is_refused() -> None:
    hr, lr, bicubic = scene()
    with pytest.raises(ValueError, match="one positive span per band \\(4\\)"):
        synthesis(hr, bicubic, torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="one positive span per band"):
        consistency(hr, lr, area, torch.tensor([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="must be \\[B, C, H, W\\] tensors of one shape"):
        correctness(hr[:, :, :32], hr, bicubic, SPAN)


def test_row_quantile_matches_torch_quantile_and_takes_rows_torch_refuses() -> None:
    from ganlab.fidelity import row_quantile

    torch.manual_seed(0)
    values = torch.rand(3, 1001)
    for q in (0.0, 0.25, 0.75, 0.9, 1.0):
        assert torch.allclose(row_quantile(values, q), torch.quantile(values, q, dim=1))
    long = torch.arange(2**24 + 1, dtype=torch.float32).flip(0)[None]  # over torch's limit
    with pytest.raises(RuntimeError):
        torch.quantile(long, 0.75, dim=1)
    assert row_quantile(long, 0.75).item() == 0.75 * 2**24
