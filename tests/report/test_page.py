"""``ganlab report``'s page (``write_report``): self-contained HTML with every section, the
latest panel and the run summary; the output folder; user errors for folders it cannot
report on; a page of notes when there is nothing to plot."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from ganlab.errors import UserInputError
from ganlab.report import Report, ReportError, write_report
from tests.report.helpers import PNG_MAGIC, write_metrics

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


def test_header_only_metrics_give_a_page_of_notes(tmp_path: Path) -> None:
    report = write_report(write_metrics(tmp_path, ["epoch", "step", "train/l1", "val/psnr"], []))
    assert report.figures == {}
    assert report.html_path.is_file()
    assert any(note.startswith("Loss curves") for note in report.notes)
