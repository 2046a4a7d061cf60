"""Early stopping built from the config, with and without alerts."""

from __future__ import annotations

from pathlib import Path

from ganlab.callbacks.monitoring import AlertingEarlyStopping, build_monitoring_callbacks


def test_early_stopping_without_alerts_is_plain(make_config, tmp_path: Path) -> None:
    config = make_config("Callbacks.early_stopping.patience=3")
    (stopping,) = build_monitoring_callbacks(config, tmp_path)
    assert isinstance(stopping, AlertingEarlyStopping) and stopping.dispatcher is None
    assert (stopping.monitor, stopping.patience) == ("val/psnr", 3)


def test_early_stopping_settings_come_from_the_config(make_config, tmp_path: Path) -> None:
    config = make_config(
        "Callbacks.early_stopping={monitor: val/ssim, mode: min, patience: 7, min_delta: 0.25}"
    )
    (stopping,) = build_monitoring_callbacks(config, tmp_path)
    assert isinstance(stopping, AlertingEarlyStopping)
    assert (stopping.monitor, stopping.mode, stopping.patience) == ("val/ssim", "min", 7)
    assert abs(float(stopping.min_delta)) == 0.25
