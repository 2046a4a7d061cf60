"""Weight and gradient histograms of both networks for TensorBoard and W&B."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ganlab._lightning import Callback, TensorBoardLogger, WandbLogger, pl


def _networks(pl_module: pl.LightningModule) -> dict[str, nn.Module]:
    return {
        name: module
        for name in ("generator", "discriminator")
        if isinstance(module := getattr(pl_module, name, None), nn.Module)
    }


class Histograms(Callback):
    """At each validation during fit, log a histogram of every parameter of the generator and
    discriminator (``weights/<network>/<parameter>``); on the first optimiser step after it,
    one of every gradient (``gradients/<network>/<parameter>``, before clipping).

    Only TensorBoard and W&B take histograms; with neither active this does nothing. Kept to
    once per validation interval because a histogram of every tensor is costly.
    """

    def __init__(self) -> None:
        self._gradients_due: set[str] = set()

    @staticmethod
    def _targets(trainer: pl.Trainer) -> list[Any]:
        return [
            logger
            for logger in trainer.loggers
            if isinstance(logger, TensorBoardLogger | WandbLogger)
        ]

    @staticmethod
    def _write(trainer: pl.Trainer, tensors: dict[str, torch.Tensor]) -> None:
        step = trainer.global_step
        for logger in Histograms._targets(trainer):
            if isinstance(logger, TensorBoardLogger):
                for name, tensor in tensors.items():
                    logger.experiment.add_histogram(name, tensor, global_step=step)
            else:  # W&B
                import wandb

                logger.experiment.log(
                    {
                        **{
                            name: wandb.Histogram(np_histogram=np.histogram(t.numpy(), bins=64))
                            for name, t in tensors.items()
                        },
                        "trainer/global_step": step,
                    }
                )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self._targets(trainer):
            return
        tensors = {
            f"weights/{network}/{name}": param.detach().float().cpu()
            for network, module in _networks(pl_module).items()
            for name, param in module.named_parameters()
        }
        self._write(trainer, tensors)
        self._gradients_due = set(_networks(pl_module))

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self._gradients_due or not trainer.is_global_zero:
            return
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        tensors: dict[str, torch.Tensor] = {}
        for network, module in _networks(pl_module).items():
            if network not in self._gradients_due:
                continue
            grads = {
                f"gradients/{network}/{name}": param.grad.detach().float().cpu()
                for name, param in module.named_parameters()
                if param.grad is not None and id(param) in owned
            }
            if grads:
                tensors.update(grads)
                self._gradients_due.discard(network)
        if tensors:
            self._write(trainer, tensors)
