"""``ganlab.report``: the HTML run report, on a real tiny run and on hand-written metrics."""

from __future__ import annotations

import base64
import csv
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

from ganlab._lightning import pl
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.errors import UserInputError
from ganlab.report import METRICS_FILE, Report, ReportError, write_report
from ganlab.trainer import build_trainer, prepare_run_dir
from tests.conftest import tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTION_HEADINGS = (
    "Run summary",
    "Loss curves",
    "Discriminator probabilities",
    "Learning rates",
    "Adversarial weight and phase",
    "Validation: SR against bicubic",
    "Gradient norms",
    "Validation panels",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from 6 real steps: 3 of pretraining, 3 adversarial, validation every 2,
    learning rates and gradient norms logged."""
    config = tiny_config(
        "Trainer.max_steps=6",
        "Training.g_pretrain_steps=3",
        "Trainer.limit_val_batches=2",
        "Trainer.val_check_interval=2",
        "Callbacks.lr_monitor=true",
        "Callbacks.gradient_norms.enabled=true",
        "Callbacks.gradient_norms.every_n_steps=1",
    )
    folder = prepare_run_dir(config, tmp_path_factory.mktemp("run") / "tiny-run")
    pl.seed_everything(0)
    trainer = build_trainer(config, folder)
    trainer.fit(SRGANModule(config), datamodule=SRDataModule(config))
    return folder


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Report:
    return write_report(run_dir)


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


def write_metrics(folder: Path, header: list[str], rows: list[dict[str, object]]) -> Path:
    """A fake run folder with ``logs/csv/metrics.csv``; missing cells stay empty."""
    path = folder / METRICS_FILE
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_page_is_self_contained_with_every_section(report: Report, run_dir: Path) -> None:
    assert report.html_path == run_dir / "report" / "index.html"
    page = report.html_path.read_text(encoding="utf-8")
    for heading in SECTION_HEADINGS:
        assert f">{heading}</h2>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "url(" not in page and "<script" not in page and "<link" not in page
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(report.figures) + 1  # the plots and the latest panel
    assert all(base64.b64decode(image).startswith(PNG_MAGIC) for image in images)


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


def test_phase_switches_from_pretraining_to_adversarial(report: Report) -> None:
    xs, phase = report.figures["adversarial_schedule"].series["train/phase"]
    assert phase == [0, 0, 0, 1, 1, 1]
    assert xs[phase.index(1)] == 3
    assert report.figures["discriminator_probabilities"].series["train/d_real_prob"][0][0] == 3


def test_latest_panel_is_embedded(report: Report, run_dir: Path) -> None:
    panels = sorted((run_dir / "panels").glob("step_*.png"))
    assert report.panel == panels[-1]
    page = report.html_path.read_text(encoding="utf-8")
    assert base64.b64encode(panels[-1].read_bytes()).decode("ascii") in page


def test_summary_names_the_run(report: Report) -> None:
    page = report.html_path.read_text(encoding="utf-8")
    for text in ("tiny-run", "srresnet, x4, 3 -&gt; 3 bands", "srgan", "last.ckpt"):
        assert text in page
    assert "<td>Adversarial phase</td><td>from step 3</td>" in page
    assert "<td>Generator steps reached</td><td>6</td>" in page
    assert "final bicubic" in page


def test_output_folder_can_be_chosen(run_dir: Path, tmp_path: Path) -> None:
    report = write_report(run_dir, tmp_path / "elsewhere")
    assert report.html_path == tmp_path / "elsewhere" / "index.html"
    assert (tmp_path / "elsewhere" / "val_psnr.png").is_file()


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such folder") as raised:
        write_report(tmp_path / "nope")
    assert isinstance(raised.value, UserInputError)
    assert str(tmp_path / "nope") in str(raised.value)


def test_folder_without_csv_metrics_says_to_use_the_csv_logger(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("Generator: {}\n")
    with pytest.raises(ReportError, match=r"logs/csv/metrics.csv.*Logging.logger: csv"):
        write_report(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match="not a run folder"):
        write_report(empty)


def test_missing_matplotlib_names_the_extra(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ReportError, match=r"pip install 'opensr-gan-lab\[report\]'"):
        write_report(run_dir, tmp_path)


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


def test_columns_are_grouped_by_prefix(tmp_path: Path) -> None:
    header = [
        "step",
        "train/step",
        "train/new_term",
        "train/d_r1",
        "grad_norm/generator",
        "grad_norm/generator/head.weight",
        "extra/lpips_sharpness",
        "val/lpips",
        "val/psnr_band0",
        "val/psnr_band0_bicubic",
        "val/psnr_band1",
    ]
    rows: list[dict[str, object]] = [
        {**{name: 1.0 + index for name in header}, "step": index, "train/step": index}
        for index in range(3)
    ]
    report = write_report(write_metrics(tmp_path, header, rows))
    assert "train/new_term" in report.figures["content_terms"].series
    assert "train/d_r1" in report.figures["discriminator_loss"].series
    assert set(report.figures["grad_norms"].series) == {"grad_norm/generator"}
    assert set(report.figures["other_extra"].series) == {"extra/lpips_sharpness"}
    assert set(report.figures["val_psnr_per_band"].series) == {
        "val/psnr_band0",
        "val/psnr_band0_bicubic",
        "val/psnr_band1",
    }
    assert set(report.figures["val_lpips"].series) == {"val/lpips"}
    page = report.html_path.read_text(encoding="utf-8")
    assert "lpips (lower is better)" in page


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


def test_header_only_metrics_give_a_page_of_notes(tmp_path: Path) -> None:
    report = write_report(write_metrics(tmp_path, ["epoch", "step", "train/l1", "val/psnr"], []))
    assert report.figures == {}
    assert report.html_path.is_file()
    assert any(note.startswith("Loss curves") for note in report.notes)
