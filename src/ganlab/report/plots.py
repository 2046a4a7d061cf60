"""Figure specs (panels of lines, by column) and the matplotlib drawing of them into PNG files."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.files import atomic_write
from ganlab.report.metrics_log import MetricsLog, Series
from ganlab.report.records import FigureRecord, ReportError


@dataclass(frozen=True)
class _Line:
    column: str
    label: str
    dashed: bool = False
    color: str | None = None


@dataclass(frozen=True)
class _Panel:
    title: str
    lines: list[_Line]
    ylabel: str = ""
    log: bool | None = None  # None: log scale when positive and spanning >= 20x
    ylim: tuple[float, float] | None = None
    steps: bool = False


@dataclass(frozen=True)
class _FigureSpec:
    stem: str
    title: str
    panels: list[_Panel]


def _running_mean(values: list[float], window: int) -> list[float]:
    sums = [0.0]
    for value in values:
        sums.append(sums[-1] + value)
    return [
        (sums[i + 1] - sums[max(0, i + 1 - window)]) / min(window, i + 1)
        for i in range(len(values))
    ]


class _Plotter:
    """Draws figure specs from a metrics log into PNG files (Agg canvas, no pyplot)."""

    def __init__(self, log: MetricsLog, folder: Path) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ReportError(
                "ganlab report needs matplotlib; pip install 'opensr-gan-lab[report]'"
            ) from None
        from matplotlib.ticker import MaxNLocator

        self._figure_type = Figure
        self._integer_locator = MaxNLocator
        self._canvas_type = FigureCanvasAgg
        self.log = log
        self.folder = folder
        xs, phases = log.series("train/phase")
        starts = [x for x, p in zip(xs, phases, strict=True) if p >= 0.5]
        self.phase_start = starts[0] if starts and min(phases) < 0.5 else None
        # one x range for every plot, so that curves line up when read one under the other
        steps = [x for x in log.x if x is not None and math.isfinite(x)]
        self.x_range = (min(steps), max(steps)) if steps else None

    def draw(self, spec: _FigureSpec) -> FigureRecord | None:
        """Write ``<stem>.png``; None when none of its series has a finite value."""
        data = {ln.column: self.log.series(ln.column) for p in spec.panels for ln in p.lines}
        panels = [p for p in spec.panels if any(data[ln.column][0] for ln in p.lines)]
        if not panels:
            return None
        ncols = 1 if len(panels) == 1 else 2 if len(panels) <= 4 else 3
        nrows = math.ceil(len(panels) / ncols)
        figure = self._figure_type(
            figsize=(8.0 if ncols == 1 else 4.2 * ncols, 3.2 * nrows), layout="constrained"
        )
        self._canvas_type(figure)
        axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
        for axis, panel in zip(axes, panels, strict=False):
            self._draw_panel(axis, panel, data)
        for axis in axes[len(panels) :]:
            axis.set_visible(False)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        path = self.folder / f"{spec.stem}.png"
        atomic_write(path, lambda partial: partial.write_bytes(buffer.getvalue()), "plot")
        series = {
            ln.column: data[ln.column] for p in panels for ln in p.lines if data[ln.column][0]
        }
        return FigureRecord(spec.title, path, series)

    def _draw_panel(self, axis: Any, panel: _Panel, data: dict[str, Series]) -> None:
        drawn: list[float] = []
        for line in panel.lines:
            xs, ys = data[line.column]
            if not xs:
                continue
            drawn.extend(ys)
            style: dict[str, Any] = {"linestyle": "--" if line.dashed else "-"}
            if line.color:
                style["color"] = line.color
            if panel.steps:
                axis.step(xs, ys, where="post", label=line.label, **style)
            elif len(xs) > 200:  # noisy GAN curves: faint raw values under a running mean
                (raw,) = axis.plot(xs, ys, alpha=0.25, linewidth=0.7, **style)
                smooth = _running_mean(ys, max(5, len(ys) // 50))
                axis.plot(xs, smooth, color=raw.get_color(), label=line.label, **style)
            else:
                marker = ("x" if line.dashed else "o") if len(xs) <= 30 else None
                axis.plot(xs, ys, marker=marker, markersize=3, label=line.label, **style)
        positive = all(y > 0 for y in drawn)
        if panel.log or (panel.log is None and positive and max(drawn) >= 20 * min(drawn)):
            axis.set_yscale("log")
        else:
            axis.ticklabel_format(axis="y", useOffset=False)
        if panel.ylim:
            axis.set_ylim(*panel.ylim)
        if self.phase_start is not None:
            axis.axvline(self.phase_start, color="0.5", linestyle=":", linewidth=1)
        if self.x_range is not None:
            low, high = self.x_range
            margin = max(0.5, 0.02 * (high - low))
            axis.set_xlim(low - margin, high + margin)
        axis.xaxis.set_major_locator(self._integer_locator(integer=True))
        axis.set_title(panel.title, fontsize=10)
        axis.set_xlabel("generator step", fontsize=9)
        axis.set_ylabel(panel.ylabel, fontsize=9)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, ncols=2 if len(panel.lines) > 6 else 1)
