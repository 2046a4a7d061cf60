"""PNG panels of validation samples: LR (nearest) | bicubic | SR | HR, one row per sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganlab._lightning import Callback, TensorBoardLogger, WandbLogger, pl
from ganlab.files import atomic_write


def stretch(image: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map ``[C, H, W]`` values per band from ``low..high`` to uint8 ``[H, W, C]``."""
    span = np.maximum(high - low, 1e-12)
    scaled = (image - low[:, None, None]) / span[:, None, None]
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def render_panel(rows: list[dict[str, torch.Tensor]], bands: list[int], scale: int) -> Image.Image:
    """One RGB (or grey) image of ``rows`` of ``{lr, bicubic, sr, hr}`` ``[C, H, W]`` tensors
    (``bicubic`` is left out when LR and SR band counts differ).

    Every image of a row is stretched with the 2nd-98th percentiles of its HR (per shown
    band), so the columns compare like for like, whatever the data's units.
    """
    lines = []
    for row in rows:
        hr = row["hr"][bands].float().numpy()
        low = np.percentile(hr, 2, axis=(1, 2))
        high = np.percentile(hr, 98, axis=(1, 2))
        lr = F.interpolate(row["lr"][None].float(), scale_factor=scale, mode="nearest")[0]
        tiles = [lr, *([row["bicubic"]] if "bicubic" in row else []), row["sr"], row["hr"]]
        # an LR input with other bands than the output is shown through its first bands
        shown = [bands if t.shape[0] > max(bands) else [0] * len(bands) for t in tiles]
        line = [stretch(t[b].float().numpy(), low, high) for t, b in zip(tiles, shown, strict=True)]
        lines.append(np.concatenate(line, axis=1))
    array = np.concatenate(lines, axis=0)
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def log_image(trainer: pl.Trainer, name: str, image: np.ndarray, step: int) -> None:
    """Send a uint8 ``[H, W, C]`` (or ``[H, W]``) image to every image-capable active logger:
    TensorBoard (``add_image``) and W&B (``log_image``); other loggers are skipped."""
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(name, rgb, global_step=step, dataformats="HWC")
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=name, images=[rgb], step=step)


class ValidationPanels(Callback):
    """Write ``panels/step_NNNNNN.png`` in the run folder after each validation, and send the
    panel as ``val/panel`` to TensorBoard and W&B when they are active.

    Args:
        folder: Where the PNG files go.
        num_images: Samples per panel (the first ones of the validation set).
        bands: Displayed bands (1 for grey or 3 for RGB); None: 0-2, or 0 for single-band data.
        to_loggers: Also send the panel to the image-capable loggers.
    """

    def __init__(
        self,
        folder: Path,
        num_images: int,
        bands: list[int] | None = None,
        to_loggers: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.num_images = num_images
        self.bands = bands
        self.to_loggers = to_loggers
        self._rows: list[dict[str, torch.Tensor]] = []
        self.last_path: Path | None = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._rows = []

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or len(self._rows) >= self.num_images:
            return
        for index in range(outputs["sr"].shape[0]):
            if len(self._rows) >= self.num_images:
                break
            self._rows.append(
                {
                    key: value[index].detach().cpu()
                    for key, value in outputs.items()
                    if isinstance(value, torch.Tensor)
                }
            )

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self._rows or not trainer.is_global_zero:
            return
        channels = self._rows[0]["sr"].shape[0]
        bands = self.bands or ([0, 1, 2] if channels >= 3 else [0])
        scale = self._rows[0]["sr"].shape[-1] // self._rows[0]["lr"].shape[-1]
        self.folder.mkdir(parents=True, exist_ok=True)
        step = getattr(pl_module, "step_count", trainer.global_step)
        path = self.folder / f"step_{step:06d}.png"
        panel = render_panel(self._rows, bands, scale)
        atomic_write(path, lambda partial: panel.save(partial, format="PNG"), "panel")
        self.last_path = path
        if self.to_loggers:
            log_image(trainer, "val/panel", np.asarray(panel), trainer.global_step)
        self._rows = []
