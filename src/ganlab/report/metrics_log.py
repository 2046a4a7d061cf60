"""Reading ``metrics.csv``: the logged columns, with every row placed on the generator step axis.

The x axis is the module's own generator step counter (``train/step``). Rows without it (e.g.
validation) are placed by Lightning's ``step`` column, mapped through the training rows; a
validation row gets that step plus one, because it runs after the step was taken.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TypeGuard

METRICS_FILE = Path("logs") / "csv" / "metrics.csv"
"""Where ``Logging.logger: csv`` writes the metrics, relative to the run folder."""

Series = tuple[list[float], list[float]]
"""Plotted points: (x values, y values)."""


def _number(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


class MetricsLog:
    """The rows of a Lightning ``metrics.csv``, with every row placed on the step axis.

    Args:
        columns: Header names.
        rows: One mapping per row, column -> cell text (empty when not logged in that row).
    """

    def __init__(self, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
        self.columns = [c for c in columns if c]
        self.values = {c: [_number(row.get(c)) for row in rows] for c in self.columns}
        validation = [c for c in self.columns if c.startswith("val/")]
        self.validation_rows = [
            any(self.values[c][i] is not None for c in validation) for i in range(len(rows))
        ]
        self.x = self._aligned_steps(len(rows))

    @classmethod
    def read(cls, path: Path) -> MetricsLog:
        """Read ``path`` (a CSV file with a header row; an empty file gives no rows)."""
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return cls(list(reader.fieldnames or []), rows)

    def _aligned_steps(self, count: int) -> list[float | None]:
        lightning = self.values.get("step", [float(i) for i in range(count)])
        own = self.values.get("train/step", [None] * count)
        known = {s: o for s, o in zip(lightning, own, strict=True) if _finite(s) and _finite(o)}
        pairs = sorted(known.items())
        aligned: list[float | None] = []
        for step, counter, is_val in zip(lightning, own, self.validation_rows, strict=True):
            if counter is not None and _finite(counter):
                aligned.append(counter)
            elif step is None or not _finite(step):
                aligned.append(None)
            else:
                aligned.append(_interpolate(pairs, step) + (1.0 if is_val else 0.0))
        return aligned

    def series(self, column: str) -> Series:
        """Finite values of ``column`` with their steps, in file order."""
        xs, ys = [], []
        for x, y in zip(self.x, self.values.get(column, []), strict=False):
            if x is not None and y is not None and _finite(x) and _finite(y):
                xs.append(x)
                ys.append(y)
        return xs, ys

    def nonfinite(self, column: str) -> int:
        """How many cells of ``column`` hold NaN or Inf."""
        return sum(1 for y in self.values.get(column, []) if y is not None and not math.isfinite(y))

    def last(self, column: str) -> float | None:
        """The last finite value of ``column``."""
        ys = self.series(column)[1]
        return ys[-1] if ys else None


def _interpolate(pairs: list[tuple[float, float]], step: float) -> float:
    """Own step counter at Lightning ``step``, linear between logged pairs, slope kept beyond."""
    if not pairs:
        return step
    keys = [p[0] for p in pairs]
    index = bisect.bisect_left(keys, step)
    if index < len(pairs) and keys[index] == step:
        return pairs[index][1]
    if len(pairs) == 1:
        return pairs[0][1] + step - pairs[0][0]
    index = min(max(index, 1), len(pairs) - 1)
    (step0, own0), (step1, own1) = pairs[index - 1], pairs[index]
    return own0 + (step - step0) * (own1 - own0) / (step1 - step0)
