"""Learning-rate schedules: the factor formulas, config errors, the module's own-counter clock
and the plateau schedule."""

import math
from pathlib import Path

import pytest

from ganlab.config.schema import ScheduleConfig
from ganlab.engine.schedules import NetworkSchedules, Plateau, lr_factor
from ganlab.errors import ConfigError
from tests.helpers import MODES, fit, one_epoch


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


@pytest.mark.parametrize("mode", sorted(MODES))
def test_module_applies_schedules_by_own_counter(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(
        MODES[mode],
        "Training.g_pretrain_steps=1",
        "Optimizers.optim_g_lr=1e-3",
        "Optimizers.optim_d_lr=1e-4",
        "Schedulers.generator.type=step",
        "Schedulers.generator.step_size=2",
        "Schedulers.generator.gamma=0.1",
        "Schedulers.discriminator.warmup_steps=10",
        "Callbacks.lr_monitor=true",
    )
    _, trainer = fit(config, tmp_path, **one_epoch(3))
    rates = {g["name"]: g["lr"] for o in trainer.optimizers for g in o.param_groups}
    generator_opt, discriminator_opt = rates["generator"], rates["discriminator"]
    # the last step was step 2 (0-based): generator 1e-3 x 0.1; the discriminator trains from
    # step 1, so step 2 is its update 1 (0-based) and its warm-up factor 2/10
    assert generator_opt == pytest.approx(1e-4)
    assert discriminator_opt == pytest.approx(2e-5)
    assert trainer.callback_metrics["lr/generator"].item() == pytest.approx(1e-4)
    assert trainer.callback_metrics["lr/discriminator"].item() == pytest.approx(2e-5)


def test_schedule_clock_steps_counts_generator_steps_for_the_discriminator(make_config) -> None:
    own = NetworkSchedules.from_config(
        make_config("Training.g_pretrain_steps=4", "Schedulers.discriminator.warmup_steps=10")
    )
    steps = NetworkSchedules.from_config(
        make_config(
            "Training.g_pretrain_steps=4",
            "Schedulers.discriminator.warmup_steps=10",
            "Schedulers.discriminator.clock=steps",
        )
    )
    # step 6: the discriminator's update 2 on its own clock, generator step 6 on the other
    assert own.factor("discriminator", 6) == pytest.approx(3 / 10)
    assert steps.factor("discriminator", 6) == pytest.approx(7 / 10)
    assert own.factor("generator", 6) == steps.factor("generator", 6) == 1.0


def test_plateau_decays_after_patience(make_config) -> None:
    plateau = Plateau(ScheduleConfig(type="plateau", patience=1, gamma=0.5, mode="max"))
    for value in (10.0, 11.0, 10.5, 10.9):  # best 11; two validations without improvement
        plateau.observe(value)
    assert plateau.factor == 0.5
    config = make_config("Schedulers.generator.type=plateau", "Schedulers.generator.monitor=val/x")
    schedules = NetworkSchedules.from_config(config)
    with pytest.raises(KeyError, match="val/x"):
        schedules.observe({"val/psnr": 1.0})
    schedules.observe({"val/x": 1.0})
    restored = NetworkSchedules.from_config(config)
    restored.load_state_dict(schedules.state_dict())
    assert restored.plateaus["generator"].best == 1.0
