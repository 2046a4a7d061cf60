"""One table of the latest benchmark figures (the newest line of each measurement).

Usage:
    python benchmarks/summary.py [--results DIR]

Reads the JSON lines the benchmark scripts append under ``benchmarks/results/`` and prints a
Markdown table: for each measurement (benchmark + mode, precision, family or dataset) its newest
line's key figures and whether it meets its target where there is one (step overhead ratio
<= 1.05, SR beats bicubic in PSNR and SSIM, data pipeline >= 5x the recipe's training rate).
The scripts write their lines to ``$GANLAB_BENCH_RESULTS`` when it is set (else
``benchmarks/results/``), and this table reads the same folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import results_folder


def describe(row: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """``(benchmark, case, figures, target)`` of one result line (None: not summarised)."""
    kind = row.get("benchmark")
    if kind == "step_overhead":
        return (
            kind,
            f"{row['mode']}, {row['precision']}",
            f"ganlab {row['ganlab_median_s']:.3f} s/step, bare {row['bare_median_s']:.3f}, "
            f"ratio {row['ratio']:.3f}",
            "met (<= 1.05)" if row["ratio"] <= 1.05 else "MISSED (<= 1.05)",
        )
    if kind == "precision":
        return (
            kind,
            f"{row['precision']}, channels_last {str(row['channels_last']).lower()}",
            f"{row['median_s']:.3f} s/step, {row['speed_vs_fp32']:.2f}x float32",
            "",
        )
    if kind == "precision_summary":
        fastest = row["fastest"]
        flags = ", ".join(row.get("bf16_flags") or []) or "no native bf16"
        return (
            "precision",
            "fastest",
            f"{fastest['precision']}, channels_last {str(fastest['channels_last']).lower()} "
            f"({row.get('cpu')}; {flags})",
            "",
        )
    if kind == "quality" and row.get("beats_bicubic") is None:
        return (
            kind,
            f"{Path(row['config']).stem}, {row['mode']}, {row['steps']} steps",
            f"PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.4f} (no bicubic baseline)",
            "",
        )
    if kind == "quality":
        return (
            kind,
            f"{Path(row['config']).stem}, {row['mode']}, {row['steps']} steps",
            f"PSNR {row['psnr']:.2f} dB ({row['psnr_gain']:+.2f} over bicubic), SSIM "
            f"{row['ssim']:.4f} ({row['ssim_gain']:+.4f}), {row['train_s']:.0f} s",
            "met (beats bicubic)" if row["beats_bicubic"] else "MISSED (beats bicubic)",
        )
    if kind == "throughput_training":
        return (
            "throughput",
            f"{row['family']} (LR {row['lr_size']}, {row['bands']} bands, batch {row['batch']})",
            f"{row['samples_per_s']:.2f} samples/s, peak RSS {row['peak_rss_mib']:.0f} MiB",
            "",
        )
    if kind == "throughput_data":
        return (
            "throughput",
            f"data: {row['dataset']}",
            f"{row['samples_per_s']:.1f} samples/s, {row['ratio']:.1f}x the recipe's training",
            "met (>= 5x)" if row["ratio"] >= 5 else "MISSED (>= 5x)",
        )
    if kind == "inference_scaling":
        return (
            "inference",
            f"{row.get('size', row.get('lr_size', '?'))} px scene",
            f"{row.get('seconds', 0):.1f} s, peak RSS {row.get('peak_rss_mib', 0):.0f} MiB",
            "",
        )
    return None


def summarise(folder: Path) -> list[tuple[str, str, str, str]]:
    """The newest line of each measurement in the result files under ``folder``."""
    latest: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            described = describe(row) if isinstance(row, dict) else None
            if described is not None:
                latest[described[:2]] = described
    return list(latest.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help="(results_folder())")
    args = parser.parse_args(argv)
    folder = args.results or results_folder()
    rows = summarise(folder)
    if not rows:
        print(f"no benchmark results under {folder}; run `make bench` first")
        return 1
    print("| benchmark | case | figures | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
