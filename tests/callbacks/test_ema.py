"""EMASwap: validation runs on the EMA generator, and the raw weights come back afterwards,
also when validation raises."""

from pathlib import Path

import pytest
import torch

from ganlab._lightning import Callback
from ganlab.config import Config
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.trainer import build_trainer
from tests.helpers import fit, one_epoch


class SeenInValidation(Callback):
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.weights: list[torch.Tensor] = []

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.weights.append(pl_module.generator.head.weight.detach().clone())
        if self.fail:
            raise RuntimeError("validation broke")


def _trained(make_config, tmp_path: Path) -> tuple[SRGANModule, Config]:
    config = make_config("Training.EMA.enabled=true", "Training.EMA.decay=0.5")
    module, _ = fit(config, tmp_path, **one_epoch(3))
    return module, config


def test_validation_uses_ema_and_training_keeps_raw(make_config, tmp_path: Path) -> None:
    module, config = _trained(make_config, tmp_path)
    raw = module.generator.head.weight.detach().clone()
    ema = module.ema.module.head.weight.detach().clone()
    assert not torch.equal(raw, ema)
    seen = SeenInValidation()
    trainer = build_trainer(config, tmp_path, limit_val_batches=1)
    trainer.callbacks.append(seen)
    trainer.validate(module, datamodule=SRDataModule(config), verbose=False)
    assert torch.equal(seen.weights[0], ema)
    assert torch.equal(module.generator.head.weight, raw)


def test_raw_weights_come_back_after_an_exception(make_config, tmp_path: Path) -> None:
    module, config = _trained(make_config, tmp_path)
    raw = module.generator.head.weight.detach().clone()
    trainer = build_trainer(config, tmp_path, limit_val_batches=1)
    trainer.callbacks.append(SeenInValidation(fail=True))
    with pytest.raises(RuntimeError, match="validation broke"):
        trainer.validate(module, datamodule=SRDataModule(config), verbose=False)
    assert torch.equal(module.generator.head.weight, raw)


def test_a_trainer_built_by_hand_predicts_and_tests_with_the_ema_generator(
    make_config, tmp_path: Path
) -> None:
    from ganlab._lightning import new_trainer

    config = make_config("Training.EMA.enabled=true", "Training.EMA.decay=0.5")
    module, _ = fit(config, tmp_path, **one_epoch(3))
    datamodule = SRDataModule(config)
    batch = next(iter(datamodule.predict_dataloader()))
    with torch.no_grad():
        ema = module.ema_generator().eval()(module.lr_normalizer.normalize(batch["lr"]))
        raw = module.generator.eval()(module.lr_normalizer.normalize(batch["lr"]))
    assert not torch.allclose(ema, raw)
    trainer = new_trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_predict_batches=1,
    )  # fmt: skip
    (predicted,) = trainer.predict(module, datamodule=datamodule)
    torch.testing.assert_close(predicted["sr"], module.hr_normalizer.denormalize(ema))
    after = module.generator(module.lr_normalizer.normalize(batch["lr"]))
    torch.testing.assert_close(after.detach(), raw)  # the raw weights are back
