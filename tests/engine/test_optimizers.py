"""Optimiser parameter groups (weight decay, per-network rates) and the clipping settings."""

import pytest
from torch import nn

from ganlab.config.schema import OptimizersConfig
from ganlab.engine.optimizers import network_groups, parameter_groups
from ganlab.errors import ConfigError


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))


def test_weight_decay_skips_biases_and_norms() -> None:
    groups = parameter_groups(_net(), "generator", 1e-3, 0.01)
    decayed, plain = groups
    assert decayed["weight_decay"] == 0.01 and [p.ndim for p in decayed["params"]] == [4]
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    assert {g["name"] for g in groups} == {"generator"} and groups[0]["base_lr"] == 1e-3


def test_discriminator_rate_defaults_to_a_fraction() -> None:
    config = OptimizersConfig(optim_g_lr=4e-4)
    assert config.discriminator_lr == pytest.approx(2e-4)
    g_groups, d_groups = network_groups(_net(), _net(), OptimizersConfig(optim_d_lr=1e-5))
    assert d_groups[0]["lr"] == 1e-5 and g_groups[0]["lr"] == 2e-4


def test_clip_settings_precedence(make_config) -> None:
    config = make_config("Trainer.gradient_clip_val=0.5", "Trainer.gradient_clip_algorithm=value")
    assert config.gradient_clipping() == (0.5, "value")
    config = make_config("Optimizers.gradient_clip_val=0.2")
    assert config.gradient_clipping() == (0.2, "norm")
    config = make_config("Optimizers.gradient_clip_val=0.2", "Trainer.gradient_clip_val=0.5")
    assert config.gradient_clipping() == (0.2, "norm")
    assert "gradient_clip_val" not in config.Trainer
    with pytest.raises(ConfigError, match="accumulate_grad_batches must be a positive integer"):
        make_config("Trainer.accumulate_grad_batches=0")
