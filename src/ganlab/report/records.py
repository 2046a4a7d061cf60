"""What the report returns and raises: the report, its figure records, and the user error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import UserInputError
from ganlab.report.metrics_log import Series


class ReportError(UserInputError):
    """The run folder cannot be reported on (missing folder or metrics, no matplotlib)."""


@dataclass(frozen=True)
class FigureRecord:
    """One plot of the report: its PNG file and the series drawn, by column name."""

    title: str
    path: Path
    series: dict[str, Series]


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes:
        html_path: The ``index.html`` file.
        figures: Figure stem (file name without ``.png``) -> the figure's record.
        panel: The embedded validation panel (in the run folder), or None.
        notes: Sections skipped for lack of data, one line each.
    """

    html_path: Path
    figures: dict[str, FigureRecord] = field(default_factory=dict)
    panel: Path | None = None
    notes: list[str] = field(default_factory=list)
