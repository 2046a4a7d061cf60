"""What the benchmark scripts share: where their JSON lines go, and the CPU they ran on."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def results_folder() -> Path:
    """Where the scripts append their lines: ``$GANLAB_BENCH_RESULTS`` if set (the smoke tests
    use a temporary folder), else ``benchmarks/results/``."""
    folder = os.environ.get("GANLAB_BENCH_RESULTS")
    return Path(folder) if folder else Path(__file__).resolve().parent / "results"


def append_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to the JSON-lines file ``path`` (its folder is made when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
