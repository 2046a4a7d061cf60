"""CSV, TensorBoard and W&B (offline) runs write scalars, panels, histograms and the config."""

from __future__ import annotations

import csv
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.helpers import fit

TWO_EPOCHS = {"max_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1}
"""Two epochs of two training steps, each followed by one validation batch."""


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
    fit(config, tmp_path, **TWO_EPOCHS)

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


_WANDB_BLOCK = 32768
_WANDB_FULL, _WANDB_FIRST, _WANDB_MIDDLE, _WANDB_LAST = 1, 2, 3, 4


def _wandb_records(path: Path) -> list[Any]:
    """The records of a W&B transaction log (``run-<id>.wandb``).

    wandb >= 0.19 no longer ships a Python reader (its Go core writes the file), so this
    follows the format that core writes: a 7-byte header (``:W&B``, magic ``0xBEE1``, version),
    then LevelDB-log framing in 32 KiB blocks (4-byte checksum, 2-byte length, 1-byte chunk
    type; a record may span blocks) around serialised ``wandb_internal_pb2.Record`` messages.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6]) == (0xBEE1,), data[:7]
    records, pending, position = [], b"", 7
    while position < len(data):
        left_in_block = _WANDB_BLOCK - position % _WANDB_BLOCK
        if left_in_block < 7:  # too short for a chunk header: zero padding
            position += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        start, position = position + 7, position + 7 + length
        assert kind in (_WANDB_FULL, _WANDB_FIRST, _WANDB_MIDDLE, _WANDB_LAST), (kind, start)
        assert position <= len(data), f"{path.name} ends inside a record (truncated)"
        pending += data[start:position]
        if kind in (_WANDB_FULL, _WANDB_LAST):
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b""
    assert pending == b"", f"{path.name} ends inside a record (truncated)"
    return records


def test_wandb_offline_run_writes_its_local_folder_with_images(
    make_config, tmp_path: Path, monkeypatch
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    config = make_config(
        "Logging.logger=wandb",
        "Logging.wandb.mode=offline",
        "Logging.wandb.tags=[test]",
        "Logging.wandb.project=sr-tests",
        "Logging.wandb.name=tiny-run",
    )
    _, trainer = fit(config, tmp_path, **TWO_EPOCHS)
    trainer.loggers[0].experiment.finish()
    # finish() returns once the run's exit is acknowledged, but the W&B service closes the
    # run file on its own time; teardown waits for the service process to exit, so the file
    # is complete when read, however busy the machine
    wandb.teardown()

    runs = list((tmp_path / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    images = sorted((runs[0] / "files" / "media" / "images" / "val").glob("panel_*.png"))
    assert len(images) == 2
    pixels = np.asarray(Image.open(images[-1]))
    assert pixels.dtype == np.uint8 and pixels.std() > 10  # a real picture, not a black frame

    (run_file,) = runs[0].glob("run-*.wandb")
    records = _wandb_records(run_file)
    kinds = [record.WhichOneof("record_type") for record in records]
    assert kinds[0] == "header" and kinds[-1] == "exit"  # the whole run, to its end
    assert records[-1].exit.exit_code == 0
    (run,) = [record.run for record in records if record.HasField("run")]
    assert (run.project, run.display_name, list(run.tags)) == ("sr-tests", "tiny-run", ["test"])

    run_config: dict[str, Any] = {}
    for record in records:
        if record.HasField("config"):
            run_config.update({u.key: json.loads(u.value_json) for u in record.config.update})
    # nested on Lightning 2.x; pytorch-lightning 1.x flattens it to "config/Generator/..." keys
    generator = run_config.get("config", {}).get("Generator") or {
        key.rsplit("/", 1)[1]: value
        for key, value in run_config.items()
        if key.startswith("config/Generator/")
    }
    assert generator["model_type"] == "srresnet"
    assert generator["n_channels"] == 8

    history = [
        {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
        for record in records
        if record.HasField("history")
    ]
    psnr = [row["val/psnr"] for row in history if "val/psnr" in row]
    assert len(psnr) == 2 and all(math.isfinite(value) for value in psnr)
    assert psnr[-1] == pytest.approx(trainer.callback_metrics["val/psnr"].item(), rel=1e-6)
    assert len([row for row in history if "train/g_loss" in row]) == 4
    panels = [name for row in history for name in row.get("val/panel/filenames", [])]
    assert sorted(runs[0] / "files" / name for name in panels) == images


def test_log_images_false_keeps_panels_out_of_the_loggers(make_config, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config("Logging.logger=tensorboard", "Logging.log_images=false")
    fit(config, tmp_path, **TWO_EPOCHS)
    events = EventAccumulator(str(tmp_path / "logs" / "tensorboard"))
    events.Reload()
    assert events.Tags()["images"] == []
    assert "val/psnr" in events.Tags()["scalars"]
    assert len(list((tmp_path / "panels").glob("*.png"))) == 2  # the PNG files still


def test_resumed_run_continues_the_same_wandb_run_and_tensorboard_folder(
    make_config, tmp_path: Path, monkeypatch
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    config = make_config("Logging.logger=[wandb, tensorboard]", "Logging.wandb.mode=offline")
    limits = {"limit_train_batches": 2, "limit_val_batches": 1}
    _, trainer = fit(config, tmp_path, max_epochs=1, **limits)
    trainer.loggers[0].experiment.finish()
    wandb.teardown()
    run_id = (tmp_path / "logs" / "wandb-run-id").read_text()
    last = tmp_path / "checkpoints" / "last.ckpt"
    _, trainer = fit(config, tmp_path, ckpt_path=last, max_epochs=2, **limits)
    trainer.loggers[0].experiment.finish()
    wandb.teardown()

    runs = sorted((tmp_path / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2  # one local folder per start, both of the same W&B run
    # offline-run-<time>-<id>; W&B adds -1 to the second folder when both start in one second
    pattern = rf"offline-run-\d{{8}}_\d{{6}}-{run_id}(-\d+)?"
    assert all(re.fullmatch(pattern, run.name) for run in runs), [r.name for r in runs]
    # TensorBoard continues in its one folder: a second events file beside the first
    assert sorted(p.name for p in (tmp_path / "logs").iterdir() if p.is_dir()) == [
        "tensorboard",
        "wandb",
    ]
    assert len(list((tmp_path / "logs" / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_only_the_first_process_stores_the_wandb_run_id(tmp_path: Path, monkeypatch) -> None:
    from ganlab._lightning import rank_zero_only
    from ganlab.loggers import WANDB_ID_FILE, wandb_run_id

    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    wandb_run_id(tmp_path)
    assert not (tmp_path / WANDB_ID_FILE).exists()
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    stored = wandb_run_id(tmp_path)
    assert (tmp_path / WANDB_ID_FILE).read_text() == stored == wandb_run_id(tmp_path)
