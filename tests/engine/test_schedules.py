import math
from pathlib import Path

import pytest

from ganlab.config.schema import ScheduleConfig
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.engine.schedules import lr_factor
from ganlab.errors import ConfigError
from ganlab.trainer import build_trainer


def test_factors_follow_formulas() -> None:
    assert [lr_factor(ScheduleConfig(), s) for s in (0, 100)] == [1.0, 1.0]
    warm = ScheduleConfig(type="cosine", warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    assert [lr_factor(warm, s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 3 / 10))
    assert lr_factor(warm, 7) == pytest.approx(expected)
    assert lr_factor(warm, 14) == pytest.approx(0.1) and lr_factor(warm, 99) == pytest.approx(0.1)
    step = ScheduleConfig(type="step", step_size=10, gamma=0.5)
    assert [lr_factor(step, s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]


def test_schedule_config_errors(make_config) -> None:
    with pytest.raises(
        ConfigError, match=r"type cosine needs total_steps .* or Training\.max_steps"
    ):
        make_config("Schedulers.generator.type=cosine")
    with pytest.raises(ConfigError, match="type step needs `step_size`"):
        make_config("Schedulers.discriminator.type=step")
    with pytest.raises(ConfigError, match=r"total_steps \(4\) must exceed warmup_steps \(5\)"):
        make_config(
            "Schedulers.generator.type=cosine",
            "Schedulers.generator.total_steps=4",
            "Schedulers.generator.warmup_steps=5",
        )


@pytest.mark.parametrize("manual", ["true", "false"])
def test_module_applies_schedules_by_own_counter(make_config, tmp_path: Path, manual: str) -> None:
    config = make_config(
        f"Training.manual_optimization={manual}",
        "Training.g_pretrain_steps=1",
        "Optimizers.optim_g_lr=1e-3",
        "Optimizers.optim_d_lr=1e-4",
        "Schedulers.generator.type=step",
        "Schedulers.generator.step_size=2",
        "Schedulers.generator.gamma=0.1",
        "Schedulers.discriminator.warmup_steps=10",
        "Callbacks.lr_monitor=true",
    )
    module = SRGANModule(config)
    trainer = build_trainer(
        config, tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0
    )
    trainer.fit(module, datamodule=SRDataModule(config))
    rates = {g["name"]: g["lr"] for o in trainer.optimizers for g in o.param_groups}
    generator_opt, discriminator_opt = rates["generator"], rates["discriminator"]
    # the last step was step 2 (0-based): generator 1e-3 x 0.1; the discriminator trains from
    # step 1, so step 2 is its update 1 (0-based) and its warm-up factor 2/10
    assert generator_opt == pytest.approx(1e-4)
    assert discriminator_opt == pytest.approx(2e-5)
    assert trainer.callback_metrics["lr/generator"].item() == pytest.approx(1e-4)
    assert trainer.callback_metrics["lr/discriminator"].item() == pytest.approx(2e-5)
