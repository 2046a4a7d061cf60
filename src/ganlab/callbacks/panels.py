"""PNG panels of validation samples: LR (nearest) | bicubic | SR | HR | fidelity map, one row per
sample, under column titles, each row with its PSNR gain over bicubic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ganlab._lightning import Callback, TensorBoardLogger, WandbLogger, pl
from ganlab.files import atomic_write


def stretch(image: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map ``[C, H, W]`` values per band from ``low..high`` to uint8 ``[H, W, C]``."""
    span = np.maximum(high - low, 1e-12)
    scaled = (image - low[:, None, None]) / span[:, None, None]
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)


CORRECTNESS_COLOURS = {
    0: (0, 158, 115),  # improvement: bluish green
    1: (150, 150, 150),  # omission: grey
    2: (213, 94, 0),  # hallucination: vermillion
    -1: (25, 25, 25),  # not classified (flat areas)
}
"""Colours of the fidelity map (colour-blind safe), by :func:`ganlab.fidelity.correctness_map`
label."""

_TITLES = {"lr": "LR (nearest)", "bicubic": "bicubic", "sr": "SR", "hr": "HR"}


def correctness_image(labels: torch.Tensor) -> np.ndarray:
    """uint8 ``[H, W, 3]`` of correctness labels ``[H, W]`` in :data:`CORRECTNESS_COLOURS`."""
    array = labels.numpy()
    image = np.zeros((*array.shape, 3), dtype=np.uint8)
    for label, colour in CORRECTNESS_COLOURS.items():
        image[array == label] = colour
    return image


def psnr_gain(row: dict[str, torch.Tensor]) -> float | None:
    """PSNR of SR minus that of bicubic against HR (dB, per band, averaged over bands; the
    same for any data range), or None without a bicubic upsample."""
    if "bicubic" not in row:
        return None
    hr = row["hr"].double()
    sr_mse = (row["sr"].double() - hr).square().flatten(1).mean(1)
    bicubic_mse = (row["bicubic"].double() - hr).square().flatten(1).mean(1)
    tiny = torch.finfo(torch.float64).tiny
    return float((10 * torch.log10(bicubic_mse.clamp_min(tiny) / sr_mse.clamp_min(tiny))).mean())


def render_panel(rows: list[dict[str, torch.Tensor]], bands: list[int], scale: int) -> Image.Image:
    """One RGB image of ``rows`` of ``{lr, bicubic, sr, hr, correctness}`` ``[C, H, W]`` tensors
    (``bicubic`` is left out when LR and SR band counts differ; ``correctness``, the labels of
    :func:`ganlab.fidelity.correctness_map`, when not computed), under a line of column titles;
    above each row, its PSNR gain of SR over bicubic.

    Every image of a row is stretched with the 2nd-98th percentiles of its HR (per shown
    band), so the columns compare like for like, whatever the data's units. The fidelity map
    colours improvement green, omission grey, hallucination vermillion, unclassified near black.
    """
    width = rows[0]["hr"].shape[-1]
    font = ImageFont.load_default(size=max(9, min(14, width // 9)))
    line_height = int(font.size if hasattr(font, "size") else 11) + 6
    columns = ["lr", *(["bicubic"] if "bicubic" in rows[0] else []), "sr", "hr"]
    if "correctness" in rows[0]:
        columns.append("correctness")
    lines = [_text_strip([_TITLES.get(c, "fidelity map") for c in columns], width, line_height,
                         font)]  # fmt: skip
    for number, row in enumerate(rows):
        gain = psnr_gain(row)
        label = f"sample {number + 1}" + (
            "" if gain is None else f": SR PSNR gain over bicubic {gain:+.2f} dB"
        )
        lines.append(_text_strip([label], width * len(columns), line_height, font))
        hr = row["hr"][bands].float().numpy()
        low = np.percentile(hr, 2, axis=(1, 2))
        high = np.percentile(hr, 98, axis=(1, 2))
        lr = F.interpolate(row["lr"][None].float(), scale_factor=scale, mode="nearest")[0]
        tiles = [lr, *([row["bicubic"]] if "bicubic" in row else []), row["sr"], row["hr"]]
        # an LR input with other bands than the output is shown through its first bands
        shown = [bands if t.shape[0] > max(bands) else [0] * len(bands) for t in tiles]
        line = [stretch(t[b].float().numpy(), low, high) for t, b in zip(tiles, shown, strict=True)]
        line = [np.repeat(t, 3, axis=2) if t.shape[-1] == 1 else t for t in line]
        if "correctness" in row:
            line.append(correctness_image(row["correctness"]))
        lines.append(np.concatenate(line, axis=1))
    return Image.fromarray(np.concatenate(lines, axis=0))


def _text_strip(
    texts: list[str], cell: int, height: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont
) -> np.ndarray:
    """A white strip of ``len(texts)`` cells of ``cell`` pixels, each text centred in its cell."""
    strip = Image.new("RGB", (cell * len(texts), height), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for index, text in enumerate(texts):
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        x = index * cell + max(0, (cell - (right - left)) // 2)
        draw.text((x, 3), text, fill=(0, 0, 0), font=font)
    return np.asarray(strip)


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
