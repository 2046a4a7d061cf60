"""Smoke tests of the benchmark scripts at tiny sizes: each runs and prints its JSON lines
(figures are not checked: speed targets live in the scripts' output, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "Generator.n_channels=8", "Generator.n_blocks=1", "Discriminator.n_channels=8",
    "Discriminator.n_blocks=2", "Discriminator.fc_size=16", "Data.batch_size=2",
    "Data.hr_patch_size=32",
]  # fmt: skip


@pytest.fixture(autouse=True)
def results_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scripts append their lines under a temporary folder, not benchmarks/results/."""
    folder = tmp_path / "results"
    monkeypatch.setenv("GANLAB_BENCH_RESULTS", str(folder))
    return folder


def run_script(*args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def stored(folder: Path, name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / f"{name}.jsonl").read_text().splitlines()]


def test_step_overhead_prints_ganlab_and_bare_medians_for_both_modes(results_in_tmp: Path) -> None:
    sets = [word for item in TINY for word in ("--set", item)]
    rows = run_script("benchmarks/step_overhead.py", "--steps", "4", "--warmup", "1",
                      "--runs", "1", *sets)  # fmt: skip
    assert [row["mode"] for row in rows] == ["manual", "joint"]
    for row in rows:
        assert {"mode", "precision", "ganlab_median_s", "bare_median_s", "ratio"} <= set(row)
        assert row["ratio"] == row["ganlab_median_s"] / row["bare_median_s"]  # type: ignore[operator]
        assert row["precision"] == "32-true"  # as the bare loop, whatever auto would pick
    assert stored(results_in_tmp, "step_overhead") == rows


def test_inference_scaling_prints_each_size_and_a_summary() -> None:
    rows = run_script("benchmarks/inference_scaling.py", "--sizes", "64", "96")
    assert [row.get("size") for row in rows[:2]] == [64, 96]
    assert rows[0]["tiles"] == 1 and rows[-1]["benchmark"] == "inference_scaling_summary"
    assert rows[0]["peak_rss_mib"] > 0  # type: ignore[operator]


def test_precision_prints_each_combination_and_the_cpu_flags() -> None:
    sets = [word for item in TINY for word in ("--set", item)]
    rows = run_script("benchmarks/precision.py", "--steps", "3", "--warmup", "1", *sets)
    combos = [(row["precision"], row["channels_last"]) for row in rows[:-1]]
    assert combos == [("32", False), ("32", True), ("bf16-mixed", False), ("bf16-mixed", True)]
    assert rows[0]["speed_vs_fp32"] == 1.0
    summary = rows[-1]
    assert summary["benchmark"] == "precision_summary" and "bf16_flags" in summary


def test_quality_trains_both_modes_and_compares_with_bicubic(results_in_tmp: Path) -> None:
    sets = [word for item in TINY for word in ("--set", item)]
    rows = run_script("benchmarks/quality.py", "--steps", "3", *sets)
    runs, summary = rows[:-1], rows[-1]
    assert [row["mode"] for row in runs] == ["manual", "joint"]
    for row in runs:
        assert row["steps"] == 3
        assert row["psnr_gain"] == pytest.approx(row["psnr"] - row["psnr_bicubic"], abs=1e-3)  # type: ignore[operator]
        assert row["ssim_gain"] == pytest.approx(row["ssim"] - row["ssim_bicubic"], abs=1e-4)  # type: ignore[operator]
        assert row["beats_bicubic"] == (row["psnr_gain"] > 0 and row["ssim_gain"] > 0)  # type: ignore[operator]
        assert {"sam", "sam_bicubic", "train_s", "precision", "channels_last", "cpu"} <= set(row)
    assert summary["benchmark"] == "quality_summary"
    assert summary["all_beat_bicubic"] == all(row["beats_bicubic"] for row in runs)
    assert stored(results_in_tmp, "quality") == runs


def test_quality_compares_lr_consistency_settings_with_fidelity_figures(
    results_in_tmp: Path,
) -> None:
    sets = [word for item in TINY for word in ("--set", item)]
    args = ("--steps", "2", "--modes", "joint", "--lr-consistency", "none", "hard")
    runs = run_script("benchmarks/quality.py", *args, *sets)[:-1]
    assert [row["lr_consistency"] for row in runs] == ["none", "hard"]
    for row in runs:
        fractions = [row["improvement"], row["omission"], row["hallucination"]]
        assert sum(fractions) == pytest.approx(1.0, abs=1e-4)  # type: ignore[arg-type]
        assert {"consistency_psnr_bicubic", "consistency_sam", "synthesis"} <= set(row)
    assert runs[1]["consistency_psnr"] > 100 > runs[0]["consistency_psnr"]  # type: ignore[operator]


def test_quality_length_overrides_keep_the_phases_in_proportion() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from quality import budget, length_overrides

    from ganlab.config import load_config

    path = str(REPO / "configs" / "quickstart.yaml")
    config = load_config(path, [])
    total = budget(config, path)
    overrides = length_overrides(config, path, total // 2)
    assert f"Training.max_steps={total // 2}" in overrides
    pretrain = round(config.Training.g_pretrain_steps * (total // 2) / total)
    assert f"Training.g_pretrain_steps={pretrain}" in overrides


def test_throughput_prints_each_family_and_each_dataset_against_the_recipe(
    results_in_tmp: Path,
) -> None:
    rows = run_script(
        "benchmarks/throughput.py", "--families", "srresnet", "swinir", "--lr-size", "8",
        "--batch", "2", "--channels", "8", "--blocks", "1", "--steps", "3", "--warmup", "1",
        "--data-batches", "2", "--datasets", "degrade", "paired",
    )  # fmt: skip
    training = [row for row in rows if row["benchmark"] == "throughput_training"]
    data = [row for row in rows if row["benchmark"] == "throughput_data"]
    assert [row["family"] for row in training] == ["srresnet", "swinir"]
    for row in training:
        assert row["samples_per_s"] == pytest.approx(2 / row["s_per_step"], rel=1e-2)  # type: ignore[operator]
        assert row["peak_rss_mib"] > 50 and row["bands"] == 4  # type: ignore[operator]
    assert [row["dataset"] for row in data] == ["degrade", "paired"]
    for row in data:
        fastest = max(row["recipe_training_samples_per_s"].values())  # type: ignore[attr-defined]
        assert row["ratio"] == pytest.approx(row["samples_per_s"] / fastest, rel=2e-2)  # type: ignore[operator]
    assert stored(results_in_tmp, "throughput") == rows


def test_summary_prints_the_newest_line_of_each_measurement_with_its_target(
    results_in_tmp: Path,
) -> None:
    results_in_tmp.mkdir()
    old = {"benchmark": "step_overhead", "mode": "joint", "precision": "32-true",
           "ganlab_median_s": 2.0, "bare_median_s": 1.0, "ratio": 2.0}  # fmt: skip
    new = {**old, "ganlab_median_s": 1.02, "ratio": 1.02}
    data = {"benchmark": "throughput_data", "dataset": "degrade", "samples_per_s": 20.0,
            "ratio": 3.0}  # fmt: skip
    lines = [json.dumps(row) for row in (old, new, data)]
    (results_in_tmp / "x.jsonl").write_text("\n".join(lines) + "\nnot json\n")
    result = subprocess.run(
        [sys.executable, "benchmarks/summary.py"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout.splitlines()
    assert table[0] == "| benchmark | case | figures | target |"
    assert len(table) == 4  # header, rule, one line per measurement
    assert "ratio 1.020" in table[2] and "met (<= 1.05)" in table[2]
    assert "MISSED (>= 5x)" in table[3]
