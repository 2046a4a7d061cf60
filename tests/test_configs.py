"""Every shipped config trains two steps and validates (fast_dev_run)."""

from pathlib import Path

import pytest

from ganlab._lightning import pl
from ganlab.config import load_config
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.trainer import build_trainer

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_trains(path: Path, tmp_path: Path) -> None:
    config = load_config(path, ["Training.g_pretrain_steps=1", "Trainer.enable_progress_bar=false"])
    pl.seed_everything(0)
    module = SRGANModule(config)
    trainer = build_trainer(config, tmp_path, fast_dev_run=2)
    trainer.fit(module, datamodule=SRDataModule(config))
    assert module.step_count == 2
    assert trainer.callback_metrics["val/psnr"] > 0
