import csv
from pathlib import Path

import torch

from ganlab._lightning import CPUAccelerator, DDPStrategy, StrategyRegistry
from ganlab.trainer import build_trainer
from tests.helpers import fit


def test_last_checkpoint_is_the_newest_state(make_config, tmp_path: Path) -> None:
    # the bicubic PSNR never changes, so only the first epoch makes a ranked checkpoint
    config = make_config(
        "Callbacks.checkpoint.monitor=val/psnr_bicubic", "Training.g_pretrain_steps=100"
    )
    fit(config, tmp_path, max_epochs=3, limit_train_batches=2, limit_val_batches=1)
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["best-epoch000.ckpt", "last.ckpt"]
    last = torch.load(folder / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["epoch"] == 2 and last["ganlab"]["step_count"] == 6
    best = torch.load(folder / "best-epoch000.ckpt", weights_only=True, map_location="cpu")
    assert best["epoch"] == 0


def test_save_last_off_writes_ranked_checkpoints_only(make_config, tmp_path: Path) -> None:
    config = make_config("Callbacks.checkpoint.save_last=false")
    fit(config, tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    assert [p.name for p in (tmp_path / "checkpoints").glob("*.ckpt")] == ["best-epoch000.ckpt"]


def test_passthrough_arguments_take_effect(make_config, tmp_path: Path) -> None:
    config = make_config(
        "Trainer.enable_progress_bar=false",
        "Trainer.log_every_n_steps=2",
        "Trainer.max_epochs=1",
        "Trainer.limit_train_batches=4",
        "Trainer.limit_val_batches=0",
    )
    _, trainer = fit(config, tmp_path)  # no Trainer arguments but the config's
    assert trainer.progress_bar_callback is None
    assert trainer.log_every_n_steps == 2
    with (tmp_path / "logs" / "csv" / "metrics.csv").open(newline="") as file:
        steps = [int(row["step"]) for row in csv.DictReader(file) if row.get("train/g_loss")]
    assert steps == [1, 3]  # every second of 4 steps


def test_strategy_and_devices_reach_the_trainer(make_config, tmp_path: Path, caplog) -> None:
    # The fixture puts Trainer.devices=1 (one CPU, Lightning's single-device strategy); the
    # key of its own wins over it, and two devices on two nodes make `auto` a DDP strategy
    # that detects unused parameters.
    with caplog.at_level("WARNING", logger="ganlab.config.schema"):
        config = make_config(
            "Training.devices=2", "Training.num_nodes=2", "Training.ddp.static_graph=true"
        )
    assert (
        "Training.devices=2 is used; Trainer.devices=1 is ignored (a key of its own wins over "
        "the Trainer block)"
    ) in caplog.text
    trainer = build_trainer(config, tmp_path)
    assert type(trainer.strategy) is DDPStrategy
    assert trainer.strategy._ddp_kwargs == {"find_unused_parameters": True, "static_graph": True}
    assert isinstance(trainer.accelerator, CPUAccelerator)
    assert trainer.num_devices == 2 and trainer.num_nodes == 2
    assert trainer.strategy.parallel_devices == [torch.device("cpu")] * 2


def test_trainer_block_placement_moves_to_the_training_keys(make_config, tmp_path: Path) -> None:
    # set only in the Trainer block (the fixture's Trainer.devices=1 is overridden): moved to
    # Training.*, and a name of Lightning's registry is passed as is
    config = make_config("Trainer.devices=3", "Trainer.strategy=ddp_spawn")
    assert config.Training.devices == 3 and config.Training.strategy == "ddp_spawn"
    assert "devices" not in config.Trainer and "strategy" not in config.Trainer
    trainer = build_trainer(config, tmp_path)
    assert type(trainer.strategy) is StrategyRegistry["ddp_spawn"]["strategy"]
    assert trainer.strategy._start_method == "spawn"
    assert trainer.num_devices == 3


def test_fp16_on_cpu_says_it_runs_bf16(make_config, tmp_path: Path, caplog) -> None:
    config = make_config("Training.precision=16")
    with caplog.at_level("INFO", logger="ganlab.trainer"):
        build_trainer(config, tmp_path)
    assert "Training.precision=16 on CPU: Lightning runs bfloat16 autocast" in caplog.text


def test_continue_training_auto_resumes_the_newest_checkpoint_or_starts_fresh(
    make_config, tmp_path: Path
) -> None:
    import os

    import pytest

    from ganlab.errors import CheckpointError
    from ganlab.trainer import resolve_run

    config = make_config("Model.continue_training=auto")
    with pytest.raises(CheckpointError, match="auto resumes the run folder given with --run-dir"):
        resolve_run(config, None, None, root=tmp_path)
    run_dir = tmp_path / "run"
    assert resolve_run(config, run_dir, None) == (run_dir, None)  # nothing yet: fresh start

    (run_dir / "checkpoints").mkdir(parents=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    hpc = run_dir / "hpc_ckpt_1.ckpt"  # Lightning's, on SLURM's pre-timeout signal
    partial = run_dir / "checkpoints" / "last.ckpt.partial"  # an interrupted write
    for path, age in ((last, 20), (hpc, 10), (partial, 0)):
        path.write_bytes(b"x")
        os.utime(path, ns=(10**18 - age * 10**9, 10**18 - age * 10**9))
    assert resolve_run(config, run_dir, None) == (run_dir, hpc)
    os.utime(last, ns=(10**18, 10**18))
    assert resolve_run(config, run_dir, None) == (run_dir, last)
