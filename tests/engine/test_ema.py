"""GeneratorEMA: the closed-form average, warm-up and cadence, the swap, and the module's EMA
that follows every generator step."""

from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.engine.ema import GeneratorEMA
from tests.helpers import fit, one_epoch


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
    module, _ = fit(config, tmp_path, **one_epoch(3))
    assert module.ema is not None and module.ema.num_updates == 3
    ema_generator = module.ema_generator()
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ema_generator(lr), module.ema.module(lr))
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["ganlab"]["ema"]["num_updates"] == 3
