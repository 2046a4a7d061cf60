"""Small makers shared by the report tests."""

from __future__ import annotations

import csv
from pathlib import Path

from ganlab.report import METRICS_FILE

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(folder: Path, header: list[str], rows: list[dict[str, object]]) -> Path:
    """A fake run folder with ``logs/csv/metrics.csv``; missing cells stay empty."""
    path = folder / METRICS_FILE
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return folder
