"""Smoke tests of the benchmark scripts at tiny sizes: each runs and prints its JSON lines
(figures are not checked: speed targets live in the scripts' output, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "Generator.n_channels=8", "Generator.n_blocks=1", "Discriminator.n_channels=8",
    "Discriminator.n_blocks=2", "Discriminator.fc_size=16", "Data.batch_size=2",
    "Data.hr_patch_size=32",
]  # fmt: skip


def run_script(*args: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_step_overhead_prints_ganlab_and_bare_medians_for_both_modes() -> None:
    sets = [word for item in TINY for word in ("--set", item)]
    rows = run_script("benchmarks/step_overhead.py", "--steps", "4", "--warmup", "1",
                      "--runs", "1", *sets)  # fmt: skip
    assert [row["mode"] for row in rows] == ["manual", "joint"]
    for row in rows:
        assert {"mode", "precision", "ganlab_median_s", "bare_median_s", "ratio"} <= set(row)
        assert row["ratio"] == row["ganlab_median_s"] / row["bare_median_s"]  # type: ignore[operator]


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
