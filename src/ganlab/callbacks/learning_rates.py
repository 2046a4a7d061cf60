"""Learning rates of both networks as ``lr/generator`` and ``lr/discriminator``."""

from __future__ import annotations

from typing import Any

from ganlab._lightning import Callback, pl


class LearningRateLogger(Callback):
    """Log each network's current learning rate at every logged training step.

    The module names its parameter groups ``generator`` and ``discriminator`` (both in one
    optimiser in the joint mode, one optimiser each in the alternating mode) and sets their
    rates from ``Schedulers`` before each step; this logs the rate of the first group of each
    name. Lightning's own ``LearningRateMonitor`` would name them after the optimiser class.
    """

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        rates: dict[str, float] = {}
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                rates.setdefault(f"lr/{group.get('name', 'group')}", float(group["lr"]))
        pl_module.log_dict(rates, on_step=True, on_epoch=False)
