"""Validate, test and predict with the generator's EMA weights (:class:`EMASwap`).

It lives in the engine so that :class:`~ganlab.engine.SRGANModule` can hand it to Lightning in
``configure_callbacks``: a Trainer built by hand then swaps too.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from ganlab._lightning import Callback, pl
from ganlab.engine.ema import GeneratorEMA


class EMASwap(Callback):
    """Loads the EMA weights into the generator before validation, test and prediction, and
    restores the raw (trained) weights afterwards, also when an exception interrupts them.

    Does nothing for a module without an EMA (``Training.EMA.enabled: false``).
    """

    def __init__(self) -> None:
        self._raw: dict[str, torch.Tensor] | None = None

    def _swap_in(self, pl_module: pl.LightningModule) -> None:
        ema = getattr(pl_module, "ema", None)
        if ema is not None and self._raw is None:
            self._raw = ema.load_into(cast(nn.Module, pl_module.generator))

    def _restore(self, pl_module: pl.LightningModule) -> None:
        if self._raw is not None:
            GeneratorEMA.restore(cast(nn.Module, pl_module.generator), self._raw)
            self._raw = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_in(pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_in(pl_module)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._swap_in(pl_module)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore(pl_module)

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save: the EMA itself lives in the module's checkpoint state."""
        return {}
