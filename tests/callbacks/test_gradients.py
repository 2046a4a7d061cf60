"""GradientNormLogger: values equal a hand computation in both optimisation modes, cadence,
per-parameter names, rate-limited threshold warnings and alerts."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from ganlab._lightning import Callback, Logger, pl
from ganlab.callbacks.gradients import GradientNormLogger
from tests.helpers import MODES, NaNContentLoss, RecordingSink, fit, one_epoch


class RecordingLogger(Logger):
    """Keeps every ``log_metrics`` call as ``(step, metrics)``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.rows.append((step, dict(metrics)))


class GradientRecorder(Callback):
    """Copies every gradient before each optimiser step, by network and parameter name."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, dict[str, dict[str, torch.Tensor]]]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        names = {id(p): name for name, p in pl_module.named_parameters()}
        grads: dict[str, dict[str, torch.Tensor]] = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    name = names[id(param)].removeprefix(group["name"] + ".")
                    grads.setdefault(group["name"], {})[name] = param.grad.detach().clone()
        self.steps.append((pl_module.step_count, grads))


def _fit_recorded(
    config, run_dir: Path, batches: int, callbacks=()
) -> tuple[pl.Trainer, RecordingLogger]:
    """One epoch of ``batches`` steps, with every ``log_metrics`` call kept."""
    recording = RecordingLogger()
    _, trainer = fit(
        config, run_dir, callbacks=callbacks, loggers=[recording], **one_epoch(batches)
    )
    return trainer, recording


def _norm_logger(trainer: pl.Trainer) -> GradientNormLogger:
    (found,) = [cb for cb in trainer.callbacks if isinstance(cb, GradientNormLogger)]
    return found


@pytest.mark.parametrize(
    ("mode", "norm_type"), [("manual", 2.0), ("joint", 2.0), ("joint", math.inf)]
)
def test_logged_norms_equal_hand_computation(make_config, tmp_path: Path, mode, norm_type):
    config = make_config(
        MODES[mode],
        "Training.g_pretrain_steps=0",  # both networks get gradients at every step
        "Callbacks.gradient_norms.enabled=true",
        "Callbacks.gradient_norms.every_n_steps=2",
        "Callbacks.gradient_norms.per_layer=true",
        f"Callbacks.gradient_norms.norm_type={norm_type}",
    )
    recorder = GradientRecorder()
    _, recording = _fit_recorded(config, tmp_path, 5, [recorder])

    logged: dict[int, dict[str, float]] = {}
    for step, metrics in recording.rows:
        norms = {k: v for k, v in metrics.items() if k.startswith("grad_norm/")}
        if norms:
            logged.setdefault(step, {}).update(norms)
    # steps 1 and 3 of 0..4 with every_n_steps=2; at the step Lightning logs that batch at
    assert sorted(logged) == [1, 3]

    expected: dict[int, dict[str, float]] = {}
    for step, grads in recorder.steps:
        if step not in logged:
            continue
        for network, named in grads.items():
            flat = torch.cat([g.flatten() for g in named.values()])
            expected.setdefault(step, {})[f"grad_norm/{network}"] = float(
                torch.linalg.vector_norm(flat, norm_type)
            )
            for name, grad in named.items():
                expected[step][f"grad_norm/{network}/{name}"] = float(
                    torch.linalg.vector_norm(grad, norm_type)
                )
    for step in (1, 3):
        assert {"grad_norm/generator", "grad_norm/discriminator"} <= set(logged[step])
        assert logged[step].keys() == expected[step].keys()
        for key, value in expected[step].items():
            assert logged[step][key] == pytest.approx(value, rel=1e-5), key
    # parameter names are the module's own, without the network prefix
    some_layer = next(k for k in logged[1] if k.startswith("grad_norm/generator/"))
    assert "generator.generator" not in some_layer and some_layer.count("/") == 2


def test_default_cadence_is_log_every_n_steps(make_config, tmp_path: Path) -> None:
    config = make_config(
        MODES["joint"],
        "Callbacks.gradient_norms.enabled=true",
        "Trainer.log_every_n_steps=3",
        "Data.batch_size=1",  # ten batches in an epoch
        "Training.g_pretrain_steps=100",  # generator only: the discriminator is not logged
    )
    trainer, recording = _fit_recorded(config, tmp_path, 7)
    steps = [step for step, m in recording.rows if "grad_norm/generator" in m]
    assert steps == [2, 5]
    assert not any("grad_norm/discriminator" in m for _, m in recording.rows)
    assert set(_norm_logger(trainer).last_norms) == {"grad_norm/generator"}
    # the CSV file (what reports read) has the norms on those steps only
    with (tmp_path / "logs" / "csv" / "metrics.csv").open(newline="") as table:
        rows = [row for row in csv.DictReader(table) if row.get("grad_norm/generator")]
    assert [int(row["step"]) for row in rows] == [2, 5]


def test_threshold_warnings_are_rate_limited_and_alert(
    make_config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(
        MODES["manual"],
        "Training.g_pretrain_steps=0",
        "Callbacks.gradient_norms.enabled=true",
        "Callbacks.gradient_norms.every_n_steps=1",
        "Callbacks.gradient_norms.generator_threshold=1e-12",
        "Callbacks.gradient_norms.discriminator_threshold=1e12",
        "Callbacks.gradient_norms.warn_interval_steps=3",
        "Data.batch_size=1",  # ten batches in an epoch
        "Callbacks.alerts.log=false",
        "Callbacks.alerts.events=[gradient_threshold]",
    )
    sink = RecordingSink()

    class AttachSink(Callback):
        def on_fit_start(self, trainer, pl_module) -> None:  # before any step
            dispatcher = _norm_logger(trainer).dispatcher
            assert dispatcher is not None
            dispatcher.sinks.append(sink)

    with caplog.at_level(logging.WARNING, logger="ganlab.callbacks.gradients"):
        _, trainer = fit(config, tmp_path, callbacks=[AttachSink()], **one_epoch(7))
    norm_logger = _norm_logger(trainer)

    warnings = [r.getMessage() for r in caplog.records if r.name == "ganlab.callbacks.gradients"]
    assert len(warnings) == 3 and all("generator gradient norm" in w for w in warnings)
    assert [event["step"] for event in sink.events] == [0, 3, 6]  # delivered before fit returned
    event = sink.events[0]
    assert event["event"] == "gradient_threshold"
    assert event["details"]["network"] == "generator" and event["details"]["threshold"] == 1e-12
    # the last warning is at the last step, whose norm the logger kept
    assert sink.events[-1]["details"]["norm"] == norm_logger.last_norms["grad_norm/generator"]


def test_thresholds_without_measuring_are_a_config_error(make_config) -> None:
    from ganlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"generator_threshold needs .*enabled: true"):
        make_config("Callbacks.gradient_norms.generator_threshold=10")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_norms_are_measured_before_clipping(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(
        MODES[mode],
        "Training.g_pretrain_steps=0",
        "Optimizers.gradient_clip_val=1e-9",
        "Callbacks.gradient_norms.enabled=true",
    )
    trainer, _ = _fit_recorded(config, tmp_path, 2)
    norms = _norm_logger(trainer).last_norms
    assert norms["grad_norm/generator"] > 1e-6 and norms["grad_norm/discriminator"] > 1e-6


def test_a_skipped_joint_step_logs_no_norms(make_config, tmp_path: Path) -> None:
    config = make_config(
        MODES["joint"],
        "Callbacks.gradient_norms.enabled=true",
        "Callbacks.gradient_norms.every_n_steps=1",
        "Training.g_pretrain_steps=100",
    )
    _, recording = _fit_recorded(config, tmp_path, 3, callbacks=[NaNContentLoss({1})])
    steps = [step for step, m in recording.rows if "grad_norm/generator" in m]
    assert steps == [0, 2]  # step 1's loss was NaN: its zero stand-in gradients are not norms
    assert all(
        m["grad_norm/generator"] > 0 for _, m in recording.rows if "grad_norm/generator" in m
    )
