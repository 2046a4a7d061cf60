"""``MetricsLog`` as the report uses it: plotted series are the logged values, every row is
placed on the own step axis (callback and validation rows through Lightning's step), and
NaN/Inf and empty cells are left out."""

from __future__ import annotations

import csv
from pathlib import Path

from ganlab.report import METRICS_FILE, Report, write_report
from tests.report.helpers import write_metrics


def read_columns(path: Path) -> dict[str, list[str]]:
    """Every column of a CSV file as its list of cell texts."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in rows[0]}


def csv_series(
    columns: dict[str, list[str]], name: str, x: str = "train/step"
) -> tuple[list[float], list[float]]:
    """(x, y) of the rows where ``name`` is filled, straight from the CSV text."""
    pairs = [(float(a), float(b)) for a, b in zip(columns[x], columns[name], strict=True) if b]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_plotted_series_are_the_logged_values(report: Report, run_dir: Path) -> None:
    columns = read_columns(run_dir / METRICS_FILE)
    for stem, name in [
        ("content_terms", "train/l1"),
        ("generator_loss", "train/g_loss"),
        ("discriminator_probabilities", "train/d_real_prob"),
        ("discriminator_probabilities", "train/d_fake_prob"),
    ]:
        xs, ys = report.figures[stem].series[name]
        assert (xs, ys) == csv_series(columns, name)
    assert report.figures["content_terms"].series["train/l1"][0] == [0, 1, 2, 3, 4, 5]
    assert report.notes == []


def test_callback_rows_share_the_step_axis(report: Report, run_dir: Path) -> None:
    # learning rates and gradient norms come in rows of their own, placed by Lightning's step
    columns = read_columns(run_dir / METRICS_FILE)
    steps = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    for stem, name in [("learning_rates", "lr/generator"), ("grad_norms", "grad_norm/generator")]:
        xs, ys = report.figures[stem].series[name]
        assert ys == csv_series(columns, name, x="step")[1]
        assert xs == steps
    # the discriminator only gets gradients in the adversarial phase
    assert report.figures["grad_norms"].series["grad_norm/discriminator"][0] == steps[3:]


def test_validation_is_plotted_against_bicubic_at_the_panel_steps(
    report: Report, run_dir: Path
) -> None:
    columns = read_columns(run_dir / METRICS_FILE)
    figure = report.figures["val_psnr"]
    assert set(figure.series) == {"val/psnr", "val/psnr_bicubic"}
    for name in figure.series:
        assert figure.series[name][1] == csv_series(columns, name, x="step")[1]
    # a validation runs after its step: it sits at the step count its panel is named with
    panel_steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "panels").glob("*.png"))
    assert figure.series["val/psnr"][0] == panel_steps
    assert len(panel_steps) >= 2


def test_both_learning_rate_names_nan_and_empty_cells(tmp_path: Path) -> None:
    header = ["epoch", "step", "train/step", "train/l1", "lr/generator", "train/lr_discriminator"]
    rows: list[dict[str, object]] = [
        {"epoch": 0, "step": 0, "train/step": 0, "train/l1": 0.5, "lr/generator": 1e-4},
        {"epoch": 0, "step": 1, "train/step": 1, "train/l1": "nan", "lr/generator": 1e-4},
        {"epoch": 0, "step": 2, "train/step": 2, "train/l1": "", "train/lr_discriminator": 2e-4},
        {"epoch": 0, "step": 3, "train/step": 3, "train/l1": "inf", "lr/generator": 5e-5},
        {"epoch": 0, "step": 4, "train/step": 4, "train/l1": 0.25},
    ]
    report = write_report(write_metrics(tmp_path, header, rows))
    rates = report.figures["learning_rates"].series
    assert rates["lr/generator"] == ([0, 1, 3], [1e-4, 1e-4, 5e-5])
    assert rates["train/lr_discriminator"] == ([2], [2e-4])
    assert report.figures["content_terms"].series["train/l1"] == ([0, 4], [0.5, 0.25])
    page = report.html_path.read_text(encoding="utf-8")
    assert "NaN/Inf values not drawn: train/l1: 2" in page
    assert any(note.startswith("Validation: SR against bicubic") for note in report.notes)
    assert any(note.startswith("Validation panels") for note in report.notes)


def test_rows_without_own_step_are_placed_through_lightning_steps(tmp_path: Path) -> None:
    # training logged every 2 batches, validation after batch 4 (Lightning step 4), then
    # rows from an older run with no own counter at all
    header = ["step", "train/step", "train/l1", "val/psnr", "lr/generator"]
    rows: list[dict[str, object]] = [
        {"step": 1, "train/step": 1, "train/l1": 0.3},
        {"step": 3, "train/step": 3, "train/l1": 0.2},
        {"step": 4, "val/psnr": 30.0},
        {"step": 4, "lr/generator": 1e-4},
        {"step": 5, "train/step": 5, "train/l1": 0.1},
        {"step": 8, "lr/generator": 1e-5},
    ]
    report = write_report(write_metrics(tmp_path, header, rows))
    assert report.figures["val_psnr"].series["val/psnr"] == ([5.0], [30.0])
    assert report.figures["learning_rates"].series["lr/generator"] == ([4.0, 8.0], [1e-4, 1e-5])
