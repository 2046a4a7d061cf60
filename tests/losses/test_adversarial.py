import math

import pytest
import torch
from torch import nn

from ganlab.config.schema import LossesConfig
from ganlab.losses import GANObjective
from ganlab.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    feature_matching_loss,
    gradient_penalty,
    r1_penalty,
)

# Hand-made logits: real r = [2, 0], fake f = [-1, 1]
REAL = torch.tensor([[2.0], [0.0]])
FAKE = torch.tensor([[-1.0], [1.0]])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# BCE(x, 1) = softplus(-x); BCE(x, 0) = softplus(x)
def test_vanilla_numbers() -> None:
    vanilla = ADVERSARIAL_LOSSES["vanilla"]
    d = (softplus(-2) + softplus(0)) / 2 + (softplus(-1) + softplus(1)) / 2
    assert vanilla.discriminator_loss(REAL, FAKE, 1.0).item() == pytest.approx(d, rel=1e-6)
    g = (softplus(1) + softplus(-1)) / 2
    assert vanilla.generator_loss(FAKE, None).item() == pytest.approx(g, rel=1e-6)
    # label smoothing 0.1: real target 0.9 -> BCE(x, t) = softplus(x) - t x
    smoothed = (softplus(2) - 0.9 * 2 + softplus(0)) / 2 + (softplus(-1) + softplus(1)) / 2
    assert vanilla.discriminator_loss(REAL, FAKE, 0.9).item() == pytest.approx(smoothed, rel=1e-6)


def test_lsgan_numbers() -> None:
    lsgan = ADVERSARIAL_LOSSES["lsgan"]
    d = 0.5 * (((2 - 1) ** 2 + (0 - 1) ** 2) / 2 + ((-1) ** 2 + 1**2) / 2)
    assert lsgan.discriminator_loss(REAL, FAKE, 1.0).item() == pytest.approx(d)
    g = 0.5 * (((-1 - 1) ** 2 + (1 - 1) ** 2) / 2)
    assert lsgan.generator_loss(FAKE, None).item() == pytest.approx(g)


def test_hinge_and_wgan_numbers() -> None:
    hinge = ADVERSARIAL_LOSSES["hinge"]
    d = (max(0, 1 - 2) + max(0, 1 - 0)) / 2 + (max(0, 1 - 1) + max(0, 1 + 1)) / 2
    assert hinge.discriminator_loss(REAL, FAKE, 1.0).item() == pytest.approx(d)
    assert hinge.generator_loss(FAKE, None).item() == pytest.approx(0.0)  # -mean([-1, 1])
    wgan = ADVERSARIAL_LOSSES["wgan_gp"]
    assert wgan.discriminator_loss(REAL, FAKE, 1.0).item() == pytest.approx(0.0 - 1.0)
    assert wgan.generator_loss(torch.tensor([[3.0], [1.0]]), None).item() == pytest.approx(-2.0)


def test_relativistic_numbers_use_real_and_fake() -> None:
    rel = ADVERSARIAL_LOSSES["relativistic"]
    assert rel.generator_needs_real
    mean_r, mean_f = 1.0, 0.0
    d = (softplus(-(2 - mean_f)) + softplus(-(0 - mean_f))) / 2 + (
        softplus(-1 - mean_r) + softplus(1 - mean_r)
    ) / 2
    assert rel.discriminator_loss(REAL, FAKE, 1.0).item() == pytest.approx(d, rel=1e-6)
    g = (softplus(2 - mean_f) + softplus(0 - mean_f)) / 2 + (
        softplus(-(-1 - mean_r)) + softplus(-(1 - mean_r))
    ) / 2
    assert rel.generator_loss(FAKE, REAL).item() == pytest.approx(g, rel=1e-6)
    # changing the real logits changes the generator loss: it really uses both
    assert rel.generator_loss(FAKE, REAL + 1).item() != pytest.approx(g)
    with pytest.raises(ValueError, match="needs the real logits"):
        rel.generator_loss(FAKE, None)


class ToyDiscriminator(nn.Module):
    """D(x) = sum(w * x^2) per image: gradient 2 w x, known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return (self.w * x.square()).flatten(1).sum(1, keepdim=True), [x]


def test_r1_penalty_matches_hand_computation() -> None:
    real = torch.tensor([[[[1.0, 2.0]]], [[[0.0, 3.0]]]], requires_grad=True)
    logits, _ = ToyDiscriminator()(real)
    # grad = 2 * 0.5 * x = x -> ||grad||^2 per image: 1 + 4 = 5 and 0 + 9 = 9 -> mean 7
    assert r1_penalty(logits, real).item() == pytest.approx(7.0)


def test_gradient_penalty_of_unit_gradient_critic_is_zero() -> None:
    class Linear(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            # gradient of x[...,0,0] is a unit vector -> penalty (1 - 1)^2 = 0
            return x[:, 0, 0, :1], []

    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    assert gradient_penalty(Linear(), real, fake).item() == pytest.approx(0.0, abs=1e-6)
    penalty = gradient_penalty(ToyDiscriminator(), real, fake)
    assert penalty.item() > 0 and penalty.requires_grad


def test_feature_matching() -> None:
    real = [torch.rand(2, 4, 8, 8, requires_grad=True), torch.rand(2, 8, 4, 4, requires_grad=True)]
    assert feature_matching_loss([r.detach().clone() for r in real], real).item() == 0.0
    fake = [torch.rand(2, 4, 8, 8, requires_grad=True), torch.rand(2, 8, 4, 4, requires_grad=True)]
    loss = feature_matching_loss(fake, real)
    loss.backward()
    assert all(r.grad is None for r in real)
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fake)
    expected = torch.stack([(f - r).abs().mean() for f, r in zip(fake, real, strict=True)]).mean()
    assert loss.item() == pytest.approx(expected.item())


def test_objective_adds_penalties_and_matching() -> None:
    disc = ToyDiscriminator()
    hr, sr = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4, requires_grad=True)
    plain = GANObjective.from_config(LossesConfig(adv_loss_type="wgan_gp", gp_weight=0.0))
    with_gp = GANObjective.from_config(LossesConfig(adv_loss_type="wgan_gp", gp_weight=10.0))
    torch.manual_seed(0)
    base, _ = plain.discriminator_step_loss(disc, hr, sr, 0)
    torch.manual_seed(0)
    total, logs = with_gp.discriminator_step_loss(disc, hr, sr, 0)
    assert total.item() == pytest.approx(base.item() + 10 * logs["d_gradient_penalty"].item())
    r1 = GANObjective.from_config(LossesConfig(r1_weight=2.0, r1_interval=4))
    assert [r1.r1_due(s) for s in range(5)] == [True, False, False, False, True]
    total, logs = r1.discriminator_step_loss(disc, hr, sr, 0)
    assert total.item() == pytest.approx(logs["d_adv"].item() + 0.5 * 2.0 * 4 * logs["d_r1"].item())
    fm = GANObjective.from_config(LossesConfig(feature_matching_weight=1.0))
    adversarial, matching = fm.generator_terms(disc, hr, sr)
    assert matching is not None and matching.item() == pytest.approx((sr - hr).abs().mean().item())
    adversarial.backward()
    assert sr.grad is not None
