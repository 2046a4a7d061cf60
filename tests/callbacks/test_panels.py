"""Validation panels: column titles, each row's PSNR gain and the fidelity map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganlab.callbacks.panels import (
    CORRECTNESS_COLOURS,
    correctness_image,
    psnr_gain,
    render_panel,
)


def _row(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    hr = torch.rand(3, 64, 64, generator=generator)
    lr = torch.nn.functional.avg_pool2d(hr[None], 4)[0]
    bicubic = hr + 0.2 * torch.randn(3, 64, 64, generator=generator)
    sr = hr + 0.1 * torch.randn(3, 64, 64, generator=generator)
    labels = torch.randint(-1, 3, (64, 64), generator=generator)
    return {"lr": lr, "bicubic": bicubic, "sr": sr, "hr": hr, "correctness": labels}


def test_psnr_gain_is_the_band_mean_of_the_psnr_differences() -> None:
    row = _row(0)
    expected = np.mean(
        [
            10 * math.log10(float(((row["bicubic"][b] - row["hr"][b]) ** 2).mean()))
            - 10 * math.log10(float(((row["sr"][b] - row["hr"][b]) ** 2).mean()))
            for b in range(3)
        ]
    )
    assert psnr_gain(row) == pytest.approx(expected, rel=1e-6)
    assert psnr_gain({k: v for k, v in row.items() if k != "bicubic"}) is None


def test_panel_has_a_title_line_a_label_line_per_row_and_the_fidelity_map_column() -> None:
    rows = [_row(1), _row(2)]
    panel = np.asarray(render_panel(rows, [0, 1, 2], 4))
    strip = (panel.shape[0] - 2 * 64) // 3  # titles + one label line per row
    assert strip > 8 and panel.shape == (3 * strip + 2 * 64, 5 * 64, 3)
    titles = panel[:strip]
    assert (titles < 128).any() and (titles == 255).mean() > 0.5  # dark text on white
    first_map = panel[2 * strip : 2 * strip + 64, 4 * 64 :]
    assert np.array_equal(first_map, correctness_image(rows[0]["correctness"]))
    without_map = [{k: v for k, v in row.items() if k != "correctness"} for row in rows]
    assert np.asarray(render_panel(without_map, [0, 1, 2], 4)).shape[1] == 4 * 64


def test_correctness_image_colours_every_label() -> None:
    labels = torch.tensor([[0, 1], [2, -1]])
    image = correctness_image(labels)
    for (i, j), label in np.ndenumerate(labels.numpy()):
        assert tuple(image[i, j]) == CORRECTNESS_COLOURS[int(label)]
