import math
from functools import partial

import pytest
import torch

from ganlab.losses.perceptual import PerceptualLoss, VGG19Features
from ganlab.losses.ssim import ms_ssim, ms_ssim_loss, ssim, ssim_loss
from ganlab.losses.terms import (
    charbonnier_loss,
    fft_loss,
    gradient_loss,
    l1_loss,
    mse_loss,
    sam_loss,
    spectral_angle,
    tv_loss,
)

COMPARING_TERMS = {
    "l1": l1_loss,
    "mse": mse_loss,
    "charbonnier": charbonnier_loss,
    "ssim": ssim_loss,
    "ms_ssim": partial(ms_ssim_loss, window_size=5, scales=3),
    "sam": sam_loss,
    "fft": fft_loss,
    "gradient": gradient_loss,
}


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
@pytest.mark.parametrize("name", sorted(COMPARING_TERMS))
def test_term_zero_for_identical_positive_otherwise(name: str, bands: int) -> None:
    term = COMPARING_TERMS[name]
    torch.manual_seed(0)
    hr = torch.rand(2, bands, 24, 24) + 0.1
    assert float(term(hr, hr.clone())) == pytest.approx(0.0, abs=1e-5)
    sr = (hr + 0.2 * torch.randn_like(hr)).requires_grad_()
    one_band_sam = name == "sam" and bands == 1
    if one_band_sam:
        # one band: the angle is 0 or pi (sign only), piecewise constant, so its gradient is 0
        sr = (-hr).detach().requires_grad_()
    value = term(sr, hr)
    assert value.item() > 1e-4
    value.backward()
    assert sr.grad is not None and torch.isfinite(sr.grad).all()
    assert one_band_sam or sr.grad.abs().sum() > 0


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_tv_regulariser(bands: int) -> None:
    flat = torch.full((1, bands, 8, 8), 0.3)
    assert tv_loss(flat).item() == 0.0
    noisy = (flat + 0.1 * torch.randn_like(flat)).requires_grad_()
    value = tv_loss(noisy)
    value.backward()
    assert value.item() > 0 and torch.isfinite(noisy.grad).all()


def test_known_values() -> None:
    a = torch.tensor([1.0, 0.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
    b = torch.tensor([0.0, 2.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
    assert sam_loss(a, b).item() == pytest.approx(math.pi / 2, abs=1e-6)
    c = torch.tensor([1.0, 1.0, 0.0, 0.0]).reshape(1, 4, 1, 1)
    assert sam_loss(a, c).item() == pytest.approx(math.pi / 4, abs=1e-6)
    x = torch.rand(2, 4, 32, 32)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(x, x, window_size=5, scales=3).item() == pytest.approx(1.0, abs=1e-6)
    assert l1_loss(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)).item() == 0.5
    assert mse_loss(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)).item() == 0.25


def test_sam_is_safe_at_zero_vectors() -> None:
    zero = torch.zeros(1, 4, 2, 2, requires_grad=True)
    other = torch.rand(1, 4, 2, 2)
    angle = spectral_angle(zero, other)
    assert torch.equal(angle, torch.zeros(1, 2, 2))
    angle.sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_ssim_checks_size_and_window() -> None:
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="ms_ssim with 5 scales"):
        ms_ssim(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    blurred = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 3, 1, 1)
    noisy = blurred + 0.05 * torch.randn_like(blurred)
    assert 0 < ssim(noisy, blurred).item() < 1


def test_shape_errors_show_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) vs \(1, 4, 8, 8\)"):
        l1_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"expected \[B, C, H, W\]"):
        sam_loss(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_terms_under_bf16_autocast() -> None:
    x = torch.rand(1, 4, 24, 24)
    y = x + 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for term in (fft_loss, ssim_loss, sam_loss):
            value = term(x.bfloat16(), y.bfloat16())
            assert value.dtype == torch.float32 and torch.isfinite(value)


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_perceptual_term(bands: int) -> None:
    torch.manual_seed(0)
    loss = PerceptualLoss(VGG19Features(["relu1_2", "relu2_2"], random_init=True))
    hr = torch.rand(1, bands, 24, 24)
    assert loss(hr, hr.clone()).item() == pytest.approx(0.0, abs=1e-6)
    sr = (hr + 0.1).requires_grad_()
    value = loss(sr, hr)
    value.backward()
    assert value.item() > 0 and torch.isfinite(sr.grad).all()
