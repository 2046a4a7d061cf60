import math

import pytest
import torch

from ganlab.losses import ContentLoss
from ganlab.losses.adversarial import vanilla_discriminator_loss, vanilla_generator_loss
from ganlab.losses.content import l1_loss, mse_loss


@pytest.mark.parametrize("bands", [1, 3, 4, 13])
def test_content_terms(bands: int) -> None:
    hr = torch.rand(2, bands, 8, 8)
    assert l1_loss(hr, hr) == 0 and mse_loss(hr, hr) == 0
    sr = (hr + 0.5).requires_grad_()
    assert l1_loss(sr, hr).item() == pytest.approx(0.5)
    assert mse_loss(sr, hr).item() == pytest.approx(0.25)
    mse_loss(sr, hr).backward()
    assert torch.isfinite(sr.grad).all()


def test_content_shape_check() -> None:
    with pytest.raises(ValueError, match=r"shapes differ: \(1, 3, 8, 8\) vs \(1, 3, 4, 4\)"):
        l1_loss(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4))


def test_weighted_sum_skips_zero_weights() -> None:
    loss = ContentLoss({"l1": 2.0, "mse": 0.0})
    total, terms = loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    assert list(terms) == ["l1"] and total.item() == 2.0
    with pytest.raises(ValueError, match="unknown content terms"):
        ContentLoss({"ssim": 1.0})


def test_vanilla_formulas() -> None:
    real = torch.tensor([[2.0], [0.0]])
    fake = torch.tensor([[-1.0], [0.5]])
    sig = torch.sigmoid
    expected_d = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    torch.testing.assert_close(vanilla_discriminator_loss(real, fake), expected_d)
    torch.testing.assert_close(vanilla_generator_loss(fake), -torch.log(sig(fake)).mean())
    assert vanilla_generator_loss(torch.zeros(3, 1)).item() == pytest.approx(math.log(2))
