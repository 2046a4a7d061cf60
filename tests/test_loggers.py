"""CSV, TensorBoard and W&B (offline) runs write scalars, panels, histograms and the config."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ganlab._lightning import pl
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.trainer import build_trainer


def _fit(config, run_dir: Path) -> pl.Trainer:
    pl.seed_everything(0)
    trainer = build_trainer(
        config, run_dir, max_epochs=2, limit_train_batches=2, limit_val_batches=1
    )
    trainer.fit(SRGANModule(config), datamodule=SRDataModule(config))
    return trainer


def test_csv_and_tensorboard_runs_write_scalars_images_histograms_and_config(
    make_config, tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config(
        "Logging.logger=[csv, tensorboard]",
        "Logging.histograms=true",
        "Callbacks.lr_monitor=true",
        "Training.g_pretrain_steps=1",
    )
    _fit(config, tmp_path)

    with (tmp_path / "logs" / "csv" / "metrics.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [float(r["val/psnr"]) for r in rows if r.get("val/psnr")] != []
    assert len([r for r in rows if r.get("train/g_loss")]) == 4
    rates = [float(r["lr/generator"]) for r in rows if r.get("lr/generator")]
    assert rates == pytest.approx([2e-4] * 4)
    hparams = yaml.safe_load((tmp_path / "logs" / "csv" / "hparams.yaml").read_text())
    assert hparams["config"]["Generator"]["n_channels"] == 8
    assert sorted(p.name for p in (tmp_path / "panels").glob("*.png")) == [
        "step_000002.png",
        "step_000004.png",
    ]

    events = EventAccumulator(str(tmp_path / "logs" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/g_loss", "val/psnr", "val/psnr_bicubic", "lr/discriminator"} <= set(
        tags["scalars"]
    )
    psnr = [event.value for event in events.Scalars("val/psnr")]
    csv_psnr = [float(r["val/psnr"]) for r in rows if r.get("val/psnr")]
    assert psnr == pytest.approx(csv_psnr, rel=1e-6)
    assert tags["images"] == ["val/panel"]
    image = events.Images("val/panel")[-1]
    png = Image.open(tmp_path / "panels" / "step_000004.png")
    assert (image.width, image.height) == png.size
    assert "weights/generator/head.weight" in tags["histograms"]
    assert "gradients/generator/head.weight" in tags["histograms"]
    # the discriminator only steps after pretraining; its gradients are recorded too
    assert any(t.startswith("gradients/discriminator/") for t in tags["histograms"])


def test_wandb_offline_run_writes_its_local_folder_with_images(
    make_config, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = make_config(
        "Logging.logger=wandb",
        "Logging.wandb.mode=offline",
        "Logging.wandb.tags=[test]",
        "Logging.wandb.project=sr-tests",
        "Logging.wandb.name=tiny-run",
    )
    trainer = _fit(config, tmp_path)
    trainer.loggers[0].experiment.finish()
    runs = list((tmp_path / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    images = sorted((runs[0] / "files" / "media" / "images" / "val").glob("panel_*.png"))
    assert len(images) == 2
    pixels = np.asarray(Image.open(images[-1]))
    assert pixels.dtype == np.uint8 and pixels.std() > 10  # a real picture, not a black frame
    # the run file holds the config snapshot and the scalars
    record = next(runs[0].glob("run-*.wandb")).read_bytes()
    assert b'"model_type":"srresnet"' in record and b"val/psnr" in record
    assert b"sr-tests" in record and b"tiny-run" in record


def test_log_images_false_keeps_panels_out_of_the_loggers(make_config, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config("Logging.logger=tensorboard", "Logging.log_images=false")
    _fit(config, tmp_path)
    events = EventAccumulator(str(tmp_path / "logs" / "tensorboard"))
    events.Reload()
    assert events.Tags()["images"] == []
    assert "val/psnr" in events.Tags()["scalars"]
    assert len(list((tmp_path / "panels").glob("*.png"))) == 2  # the PNG files still
