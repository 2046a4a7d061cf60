"""Training with Generator.lr_consistency: the hard layer in both modes, with EMA; soft's loss."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganlab.models import LRConsistentGenerator
from ganlab.models.prepare import unwrapped
from tests.helpers import MODES, fit, one_epoch


def degraded_error(module, generator: torch.nn.Module, lr: torch.Tensor) -> float:
    """max |area(SR) - LR| in physical units over the LR range (``lr`` physical)."""
    with torch.no_grad():
        sr = module.hr_normalizer.denormalize(generator(module.lr_normalizer.normalize(lr)))
    return float((F.avg_pool2d(sr, 4) - lr).abs().max() / (lr.max() - lr.min()))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_training_with_the_hard_layer_changes_weights_and_keeps_lr_consistency(
    mode: str, make_config, tmp_path: Path
) -> None:
    config = make_config(
        MODES[mode],
        "Generator.lr_consistency=hard",
        "Generator.zero_init_last=false",
        "Training.g_pretrain_steps=1",
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.5",
    )
    torch.manual_seed(0)
    from ganlab.engine import SRGANModule

    module = SRGANModule(config)
    before = copy.deepcopy(unwrapped(module.generator).state_dict())
    fit(config, tmp_path, module=module, **one_epoch(3))
    generator = unwrapped(module.generator)
    assert isinstance(generator, LRConsistentGenerator)
    changed = [k for k, v in generator.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("network.tail") for k in changed)
    assert any(k.startswith("network.head") for k in changed)
    lr = torch.rand(2, 3, 16, 16) * 2000 + 7000
    assert degraded_error(module, generator.eval(), lr) < 1e-5
    ema = module.ema_generator().eval()
    assert isinstance(ema, LRConsistentGenerator)
    assert degraded_error(module, ema, lr) < 1e-5  # the EMA copy keeps the layer


def test_soft_mode_adds_the_weighted_consistency_term_to_the_content_loss(
    make_config, tmp_path: Path
) -> None:
    config = make_config(
        MODES["joint"],
        "Generator.lr_consistency=soft",
        "Training.Losses.lr_consistency_weight=2.0",
        "Generator.zero_init_last=false",
    )
    module, trainer = fit(config, tmp_path, **one_epoch(2))
    assert not isinstance(unwrapped(module.generator), LRConsistentGenerator)
    logged = trainer.logged_metrics
    term, l1, content = (float(logged[f"train/{k}"]) for k in ("lr_consistency", "l1", "content"))
    assert term > 0
    assert content == pytest.approx(l1 + 2.0 * term, rel=1e-5)
