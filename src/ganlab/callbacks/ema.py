"""Validate, test and predict with the generator's EMA weights."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from ganlab._lightning import pl


class EMASwap(pl.Callback):
    """Loads the EMA weights into the generator before validation, test and prediction, and
    restores the raw (trained) weights afterwards, also when an exception interrupts them.

    Does nothing for a module without an EMA (``Training.EMA.enabled: false``).
    """

    def __init__(self) -> None:
        self._raw: dict[str, torch.Tensor] | None = None

    def _swap_in(self, pl_module: pl.LightningModule) -> None:
        ema = getattr(pl_module, "ema", None)
        if ema is None or self._raw is not None:
            return
        generator = _generator(pl_module)
        self._raw = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        generator.load_state_dict(
            {k: v.to(self._raw[k].device) for k, v in ema.module.state_dict().items()}
        )

    def _restore(self, pl_module: pl.LightningModule) -> None:
        if self._raw is None:
            return
        _generator(pl_module).load_state_dict(self._raw)
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


def _generator(pl_module: pl.LightningModule) -> nn.Module:
    """The module's generator, behind ``torch.compile``'s wrapper if any."""
    generator = cast(nn.Module, pl_module.generator)
    return cast(nn.Module, getattr(generator, "_orig_mod", generator))
