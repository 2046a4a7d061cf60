"""Extra validation: user hooks that see every validation batch and log their own metrics.

A hook derives from :class:`ValidationHook` and is named in the config::

    Callbacks:
      extra_validation:
        - target: ganlab.callbacks.extra:BandBias
        - target: mypackage.metrics:CloudEdgeError
          kwargs: {threshold: 0.3}

For every validation batch it receives the LightningModule and the batch's outputs: ``lr``,
``sr``, ``hr`` (and ``bicubic`` when LR and SR bands match) as ``[B, C, H, W]`` tensors in
physical units (denormalised; the EMA generator's output when EMA is on), and ``meta`` (the
collated per-sample metadata, e.g. file names and georeferencing). At the end of validation
the values its :meth:`ValidationHook.compute` returns are logged as ``val/<name>``.
"""

from __future__ import annotations

from typing import Any

import torch

from ganlab._lightning import Callback, pl
from ganlab.config.schema import ExtraValidationConfig
from ganlab.errors import ConfigError
from ganlab.registry import import_object


class ValidationHook:
    """Base class of extra validation hooks; subclasses take their options as typed keyword
    arguments (``kwargs`` in the config)."""

    def reset(self, module: pl.LightningModule) -> None:
        """Called when a validation run starts; clear accumulated state."""

    def update(self, module: pl.LightningModule, outputs: dict[str, Any]) -> None:
        """Called for each validation batch with ``lr``, ``sr``, ``hr``, ``bicubic`` (when
        available) and ``meta``; tensors are in physical units."""
        raise NotImplementedError

    def compute(self, module: pl.LightningModule) -> dict[str, float | torch.Tensor]:
        """Metrics of the finished validation run, logged as ``val/<name>``."""
        raise NotImplementedError


class BandBias(ValidationHook):
    """Mean signed error ``mean(SR - HR)`` per band, in physical units (e.g. reflectance).

    A super-resolved product must not shift radiometry: a bias that drifts away from 0 in
    one band shows a colour/spectral shift that PSNR hides. Logs ``val/bias_band<i>`` and,
    with ``relative: true``, also ``val/relative_bias_band<i>`` = bias / mean(HR) of the band.

    Args:
        relative: Also log the bias relative to the band's mean HR value.
    """

    def __init__(self, relative: bool = False) -> None:
        self.relative = relative
        self._error_sum: torch.Tensor | None = None
        self._hr_sum: torch.Tensor | None = None
        self._count = 0

    def reset(self, module: pl.LightningModule) -> None:
        self._error_sum, self._hr_sum, self._count = None, None, 0

    def update(self, module: pl.LightningModule, outputs: dict[str, Any]) -> None:
        sr, hr = outputs["sr"].double(), outputs["hr"].double()
        error = (sr - hr).sum(dim=(0, 2, 3))
        total = hr.sum(dim=(0, 2, 3))
        self._error_sum = error if self._error_sum is None else self._error_sum + error
        self._hr_sum = total if self._hr_sum is None else self._hr_sum + total
        self._count += hr.shape[0] * hr.shape[2] * hr.shape[3]

    def compute(self, module: pl.LightningModule) -> dict[str, float | torch.Tensor]:
        if self._error_sum is None or self._hr_sum is None:
            return {}
        bias = self._error_sum / self._count
        values: dict[str, float | torch.Tensor] = {
            f"bias_band{band}": float(value) for band, value in enumerate(bias)
        }
        if self.relative:
            mean = self._hr_sum / self._count
            for band, (b, m) in enumerate(zip(bias, mean, strict=True)):
                values[f"relative_bias_band{band}"] = float(b / m) if m != 0 else float("nan")
        return values


def build_validation_hook(entry: ExtraValidationConfig, index: int) -> ValidationHook:
    """Import and construct ``Callbacks.extra_validation[index]``.

    Raises:
        ConfigError: Unimportable target, not a ValidationHook, or wrong keyword arguments.
    """
    key = f"Callbacks.extra_validation[{index}].target"
    target = import_object(entry.target, key)
    if not (isinstance(target, type) and issubclass(target, ValidationHook)):
        raise ConfigError(
            f"{key}: {entry.target} is not a ganlab.callbacks.extra.ValidationHook subclass"
        )
    try:
        return target(**entry.kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"Callbacks.extra_validation[{index}].kwargs {entry.kwargs} do not fit "
            f"{entry.target} ({exc})"
        ) from None


class ExtraValidation(Callback):
    """Runs :class:`ValidationHook` objects over validation and logs what they compute.

    Args:
        hooks: The hooks, in config order.
    """

    def __init__(self, hooks: list[ValidationHook]) -> None:
        self.hooks = hooks

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for hook in self.hooks:
            hook.reset(pl_module)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for hook in self.hooks:
            hook.update(pl_module, outputs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        values: dict[str, float | torch.Tensor] = {}
        for hook in self.hooks:
            for name, value in hook.compute(pl_module).items():
                values[name if name.startswith("val/") else f"val/{name}"] = value
        if values:
            pl_module.log_dict(values, sync_dist=trainer.world_size > 1)
