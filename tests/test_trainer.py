from pathlib import Path

import torch

from ganlab._lightning import pl
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.trainer import build_trainer


def test_last_checkpoint_is_the_newest_state(make_config, tmp_path: Path) -> None:
    # the bicubic PSNR never changes, so only the first epoch makes a ranked checkpoint
    config = make_config(
        "Callbacks.checkpoint.monitor=val/psnr_bicubic", "Training.g_pretrain_steps=100"
    )
    pl.seed_everything(0)
    trainer = build_trainer(
        config, tmp_path, max_epochs=3, limit_train_batches=2, limit_val_batches=1
    )
    module = SRGANModule(config)
    trainer.fit(module, datamodule=SRDataModule(config))
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["best-epoch000.ckpt", "last.ckpt"]
    last = torch.load(folder / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["epoch"] == 2 and last["ganlab"]["step_count"] == 6
    best = torch.load(folder / "best-epoch000.ckpt", weights_only=True, map_location="cpu")
    assert best["epoch"] == 0


def test_save_last_off_writes_ranked_checkpoints_only(make_config, tmp_path: Path) -> None:
    config = make_config("Callbacks.checkpoint.save_last=false")
    trainer = build_trainer(
        config, tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1
    )
    trainer.fit(SRGANModule(config), datamodule=SRDataModule(config))
    assert [p.name for p in (tmp_path / "checkpoints").glob("*.ckpt")] == ["best-epoch000.ckpt"]
