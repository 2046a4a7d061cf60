"""Report sections: columns grouped by prefix into figures (new terms and prefixes show up),
and the adversarial phase."""

from __future__ import annotations

from pathlib import Path

from ganlab.report import Report, write_report
from tests.report.helpers import write_metrics


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


def test_phase_switches_from_pretraining_to_adversarial(report: Report) -> None:
    xs, phase = report.figures["adversarial_schedule"].series["train/phase"]
    assert phase == [0, 0, 0, 1, 1, 1]
    assert xs[phase.index(1)] == 3
    assert report.figures["discriminator_probabilities"].series["train/d_real_prob"][0][0] == 3


def test_validation_axes_name_quantity_and_unit_and_fractions_share_a_figure() -> None:
    from ganlab.report.sections import _validation_figures

    columns = [
        "val/psnr_gain",
        "val/consistency_psnr",
        "val/consistency_psnr_bicubic",
        "val/improvement",
        "val/omission",
        "val/hallucination",
        "val/psnr_band0",
    ]
    figures = {figure.stem: figure for figure in _validation_figures(columns)}
    assert figures["val_psnr_gain"].panels[0].ylabel == "PSNR gain over bicubic (dB)"
    consistency = figures["val_consistency_psnr"].panels[0]
    assert consistency.ylabel == "PSNR of degraded SR vs LR (dB)"
    assert [line.column for line in consistency.lines] == [
        "val/consistency_psnr",
        "val/consistency_psnr_bicubic",
    ]
    fractions = figures["val_correctness"].panels[0]
    assert [line.label for line in fractions.lines] == ["improvement", "omission", "hallucination"]
    assert fractions.ylabel == "fraction of classified pixels" and fractions.ylim == (0.0, 1.0)
    assert figures["val_psnr_per_band"].panels[0].ylabel == "PSNR (dB)"
    assert not any(stem in figures for stem in ("val_improvement", "val_omission"))
