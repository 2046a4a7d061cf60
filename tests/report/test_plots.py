"""Report plots: every expected figure is a PNG file; a missing matplotlib names the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from ganlab.report import Report, ReportError, write_report
from tests.report.helpers import PNG_MAGIC


def test_every_expected_plot_is_a_png_file(report: Report) -> None:
    expected = {
        "content_terms",
        "generator_loss",
        "discriminator_loss",
        "generator_adversarial",
        "discriminator_probabilities",
        "adversarial_schedule",
        "val_psnr",
        "val_psnr_gain",
        "val_ssim",
        "val_sam",
        "val_ergas",
        "learning_rates",
        "grad_norms",
    }
    assert expected <= set(report.figures)
    for stem, figure in report.figures.items():
        assert figure.path == report.html_path.parent / f"{stem}.png"
        assert figure.path.read_bytes().startswith(PNG_MAGIC)
        with Image.open(figure.path) as image:
            image.verify()


def test_missing_matplotlib_names_the_extra(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ReportError, match=r"pip install 'opensr-gan-lab\[report\]'"):
        write_report(run_dir, tmp_path)
