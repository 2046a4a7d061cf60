from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.config.schema import OptimizersConfig, ScheduleConfig
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.engine.ema import GeneratorEMA
from ganlab.engine.optimizers import network_groups, parameter_groups
from ganlab.engine.schedules import NetworkSchedules, Plateau
from ganlab.errors import ConfigError
from ganlab.trainer import build_trainer


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))


def test_ema_equals_closed_form_average() -> None:
    net = _net()
    ema = GeneratorEMA(net, decay=0.8)
    start = net[0].weight.detach().clone()
    values = [start]
    for k in range(1, 4):
        with torch.no_grad():
            net[0].weight.fill_(float(k))
            net[1].running_mean.fill_(float(k))
        values.append(net[0].weight.detach().clone())
        ema.update(net)
    # ema_3 = d^3 w0 + (1 - d) (d^2 w1 + d w2 + w3)
    d = 0.8
    expected = d**3 * values[0] + (1 - d) * (d**2 * values[1] + d * values[2] + values[3])
    torch.testing.assert_close(ema.module[0].weight, expected)
    assert torch.equal(ema.module[1].running_mean, torch.full((2,), 3.0))  # buffers copied
    assert ema.num_updates == 3


def test_ema_warmup_schedule_and_cadence() -> None:
    ema = GeneratorEMA(_net(), decay=0.999, use_warmup=True)
    assert ema.current_decay() == pytest.approx(1 / 10)
    ema.num_updates = 90
    assert ema.current_decay() == pytest.approx(91 / 100)
    cadence = GeneratorEMA(_net(), update_after_step=4, update_every=2)
    assert [cadence.due(s) for s in range(8)] == [False] * 4 + [True, False, True, False]


def test_ema_swap_restores_raw_weights_even_on_error() -> None:
    net = _net()
    ema = GeneratorEMA(net, decay=0.5)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    raw = net[0].weight.detach().clone()
    with pytest.raises(RuntimeError, match="boom"), ema.swapped_into(net):
        torch.testing.assert_close(net[0].weight, ema.module[0].weight)
        raise RuntimeError("boom")
    assert torch.equal(net[0].weight, raw)


def test_module_ema_follows_generator_steps(make_config, tmp_path: Path) -> None:
    config = make_config("Training.EMA.enabled=true", "Training.EMA.decay=0.5")
    module = SRGANModule(config)
    trainer = build_trainer(
        config, tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0
    )
    trainer.fit(module, datamodule=SRDataModule(config))
    assert module.ema is not None and module.ema.num_updates == 3
    ema_generator = module.ema_generator()
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ema_generator(lr), module.ema.module(lr))
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["ganlab"]["ema"]["num_updates"] == 3


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


def test_plateau_decays_after_patience(make_config) -> None:
    plateau = Plateau(ScheduleConfig(type="plateau", patience=1, gamma=0.5, mode="max"))
    for value in (10.0, 11.0, 10.5, 10.9):  # best 11; two validations without improvement
        plateau.observe(value)
    assert plateau.factor == 0.5
    config = make_config("Schedulers.generator.type=plateau", "Schedulers.generator.monitor=val/x")
    schedules = NetworkSchedules(config)
    with pytest.raises(KeyError, match="val/x"):
        schedules.observe({"val/psnr": 1.0})
    schedules.observe({"val/x": 1.0})
    restored = NetworkSchedules(config)
    restored.load_state_dict(schedules.state_dict())
    assert restored.plateaus["generator"].best == 1.0
