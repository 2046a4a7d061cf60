"""``ganlab report``: one self-contained HTML page on a run folder (curves, metrics, panels).

Reads ``logs/csv/metrics.csv`` (Lightning's ``CSVLogger``) with the ``csv`` module, draws PNG
plots with matplotlib (Agg canvas, no pyplot state) and writes ``index.html`` with the plots
embedded as base64 data URIs, so the page can be mailed or archived on its own.

Columns are grouped by prefix, not by a fixed list, so new loss terms and metrics show up:
``train/d_*`` discriminator terms, ``train/d_*prob`` D(real)/D(fake), ``train/g_*`` and
``train/feature_matching`` generator adversarial terms, other ``train/*`` content terms,
``lr/*`` or ``train/lr_*`` learning rates, ``val/<m>`` against ``val/<m>_bicubic``,
``grad_norm/<network>``, and any other prefix under "Other logged scalars".

The x axis is the module's own generator step counter (``train/step``). Rows without it (e.g.
validation) are placed by Lightning's ``step`` column, mapped through the training rows; a
validation row gets that step plus one, because it runs after the step was taken (the panel of
that validation is named with the same number).
"""

from __future__ import annotations

import base64
import bisect
import csv
import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from ganlab import __version__
from ganlab.errors import UserInputError

METRICS_FILE = Path("logs") / "csv" / "metrics.csv"
"""Where ``Logging.logger: csv`` writes the metrics, relative to the run folder."""

Series = tuple[list[float], list[float]]
"""Plotted points: (x values, y values)."""

_LOWER_IS_BETTER = re.compile(r"sam|ergas|lpips|loss|mse|mae|rmse|fid|niqe")
_PER_BAND = re.compile(r"^val/(?P<metric>.+)_band(?P<band>\d+)$")
_PANEL_STEP = re.compile(r"(\d+)")
_BOOKKEEPING = {"train/step", "train/nonfinite_steps"}
_METRIC_ORDER = ("val/psnr", "val/psnr_gain", "val/ssim", "val/sam", "val/ergas")


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


# ------------------------------------------------------------------------------ reading


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


def _load_config(run_dir: Path) -> tuple[dict[str, Any], str]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}, ""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    return (data if isinstance(data, dict) else {}), text


def _dig(data: dict[str, Any], dotted: str, default: Any = "?") -> Any:
    value: Any = data
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return default if value is None else value


# ------------------------------------------------------------------------------ plots


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


@dataclass
class _Section:
    anchor: str
    title: str
    intro: str
    figures: list[_FigureSpec]
    empty: str


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
        path.write_bytes(buffer.getvalue())
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


def _slug(text: str) -> str:
    """``text`` usable as a file name and HTML id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _short(column: str) -> str:
    return column.split("/", 1)[-1]


def _single(stem: str, title: str, columns: Sequence[str], **panel: Any) -> list[_FigureSpec]:
    if not columns:
        return []
    lines = [_Line(c, _short(c)) for c in columns]
    return [_FigureSpec(stem, title, [_Panel(title, lines, **panel)])]


def _validation_columns(columns: Sequence[str]) -> list[str]:
    """``val/*`` columns, the usual metrics first (PSNR, gain, SSIM, SAM, ERGAS), then by name."""
    rank = {name: i for i, name in enumerate(_METRIC_ORDER)}
    chosen = [c for c in columns if c.startswith("val/")]
    return sorted(chosen, key=lambda c: (rank.get(c, len(rank)), c))


def _validation_figures(columns: list[str]) -> list[_FigureSpec]:
    """One figure per metric (SR and bicubic), one per per-band metric (all bands)."""
    present = set(columns)
    figures: list[_FigureSpec] = []
    per_band: dict[str, list[tuple[int, str]]] = {}
    for column in columns:
        if not column.startswith("val/") or column.endswith("_bicubic"):
            continue
        match = _PER_BAND.match(column)
        if match:
            per_band.setdefault(match["metric"], []).append((int(match["band"]), column))
            continue
        lines = [_Line(column, "SR")]
        if f"{column}_bicubic" in present:
            lines.append(_Line(f"{column}_bicubic", "bicubic", dashed=True))
        name = _short(column)
        figures.append(_FigureSpec(f"val_{name}", name, [_Panel(name, lines, ylabel=name)]))
    for metric, bands in per_band.items():
        lines = []
        for band, column in sorted(bands):
            color = f"C{band % 10}"
            lines.append(_Line(column, f"band {band} SR", color=color))
            if f"{column}_bicubic" in present:
                lines.append(_Line(f"{column}_bicubic", f"band {band} bicubic", True, color))
        title = f"{metric} per band"
        figures.append(_FigureSpec(f"val_{metric}_per_band", title, [_Panel(title, lines)]))
    return figures


def _sections(columns: list[str]) -> list[_Section]:
    """Group the logged columns into the report's plot sections."""
    train = [c for c in columns if c.startswith("train/")]
    lr = [c for c in columns if c.startswith(("lr/", "train/lr_"))]
    probabilities = [c for c in train if re.fullmatch(r"train/d_\w*prob", c)]
    discriminator = [c for c in train if c.startswith("train/d_") and c not in probabilities]
    generator_adv = [c for c in train if (c.startswith("train/g_") and c != "train/g_loss")] + [
        c for c in train if c == "train/feature_matching"
    ]
    generator = [c for c in ("train/g_loss", "train/content") if c in columns]
    schedule = [c for c in ("train/adv_weight", "train/phase") if c in columns]
    grad_norms = [c for c in columns if re.fullmatch(r"grad_norm/[^/]+", c)]
    validation = _validation_columns(columns)
    claimed = {*lr, *probabilities, *discriminator, *generator_adv, *generator, *schedule}
    claimed |= _BOOKKEEPING
    content = [c for c in train if c not in claimed]
    claimed |= {*content, *grad_norms, *validation, "epoch", "step"}
    other: dict[str, list[str]] = {}
    for column in columns:
        if column not in claimed and not column.startswith("grad_norm/"):
            other.setdefault(column.split("/", 1)[0] if "/" in column else "misc", []).append(
                column
            )

    content_panels = [_Panel(_short(c), [_Line(c, _short(c))]) for c in content]
    schedule_panels = []
    if "train/adv_weight" in columns:
        schedule_panels.append(
            _Panel("adversarial weight", [_Line("train/adv_weight", "adv_weight")], log=False)
        )
    if "train/phase" in columns:
        schedule_panels.append(
            _Panel(
                "phase (0 pretraining, 1 adversarial)",
                [_Line("train/phase", "phase")],
                log=False,
                ylim=(-0.1, 1.1),
                steps=True,
            )
        )
    return [
        _Section(
            "losses",
            "Loss curves",
            "Training losses per logged step. The dotted vertical line marks the start of the "
            "adversarial phase. Curves of more than 200 points are drawn faintly, with a running "
            "mean on top.",
            [
                *(
                    [_FigureSpec("content_terms", "Content loss terms", content_panels)]
                    if content
                    else []
                ),
                *_single("generator_loss", "Generator loss", generator, ylabel="loss"),
                *_single("discriminator_loss", "Discriminator loss", discriminator, ylabel="loss"),
                *_single(
                    "generator_adversarial",
                    "Generator adversarial terms",
                    generator_adv,
                    ylabel="loss",
                ),
            ],
            "No training losses were logged.",
        ),
        _Section(
            "probabilities",
            "Discriminator probabilities",
            "Mean sigmoid of the discriminator's logits on real (HR) and generated (SR) images.",
            _single(
                "discriminator_probabilities",
                "D(real) and D(fake)",
                probabilities,
                log=False,
                ylim=(0.0, 1.0),
            ),
            "No discriminator probabilities: the adversarial phase did not start.",
        ),
        _Section(
            "learning_rates",
            "Learning rates",
            "",
            _single("learning_rates", "Learning rates", lr),
            "No learning rates were logged (enable Callbacks.lr_monitor).",
        ),
        _Section(
            "schedule",
            "Adversarial weight and phase",
            "",
            [_FigureSpec("adversarial_schedule", "Adversarial weight and phase", schedule_panels)]
            if schedule_panels
            else [],
            "No adversarial weight or phase was logged.",
        ),
        _Section(
            "validation",
            "Validation: SR against bicubic",
            "Validation metrics of the super-resolved images (solid) and of bicubic upsampling "
            "of the same LR inputs (dashed), in physical units.",
            _validation_figures(validation),
            "No validation metrics: no validation ran before the logs were written.",
        ),
        _Section(
            "grad_norms",
            "Gradient norms",
            "",
            _single("grad_norms", "Gradient norms", grad_norms, ylabel="norm"),
            "No gradient norms (enable Callbacks.gradient_norms.enabled).",
        ),
        *[
            _Section(
                f"other_{_slug(prefix)}",
                f"Other logged scalars: {prefix}",
                f"{len(names) - 12} more columns not drawn." if len(names) > 12 else "",
                _single(f"other_{_slug(prefix)}", prefix, names[:12]),
                "",
            )
            for prefix, names in other.items()
        ],
    ]


# ------------------------------------------------------------------------------ page

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}img{max-width:100%}
.note{color:#666;font-style:italic}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
nav a{margin-right:1em}
"""


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) >= 10 else f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table; cells from column ``numeric_from`` on are right-aligned."""
    lines = [f"<tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>"] if header else []
    for row in rows:
        cells = [
            f"<td{' class=num' if i >= numeric_from else ''}>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        ]
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>{''.join(lines)}</table>"


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.0f} KiB"


def _figure_html(png: Path, alt: str, caption: str) -> str:
    """A ``<figure>`` with ``png`` embedded as a base64 data URI."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _validation_table(log: MetricsLog) -> str:
    rows = []
    for column in _validation_columns(log.columns):
        if column.endswith("_bicubic") or _PER_BAND.match(column):
            continue
        xs, ys = log.series(column)
        if not ys:
            continue
        name = _short(column)
        pick = min if _LOWER_IS_BETTER.search(name) else max
        best = pick(range(len(ys)), key=ys.__getitem__)
        final, bicubic = ys[-1], log.last(f"{column}_bicubic")
        difference = None if bicubic is None else final - bicubic
        direction = "lower is better" if pick is min else "higher is better"
        rows.append(
            [
                f"{name} ({direction})",
                _fmt(final),
                _fmt(bicubic),
                _fmt(difference),
                f"{_fmt(ys[best])} at step {xs[best]:.0f}",
            ]
        )
    if not rows:
        return "<p class=note>No validation metrics were logged.</p>"
    header = ["metric", "final SR", "final bicubic", "SR - bicubic", "best SR"]
    return _table(header, rows)


def _summary(run_dir: Path, log: MetricsLog, config: dict[str, Any], panels: list[Path]) -> str:
    generator, scale = (
        _dig(config, "Generator.model_type"),
        _dig(config, "Generator.scaling_factor"),
    )
    in_bands = _dig(config, "Model.in_bands")
    out_bands = _dig(config, "Model.out_bands", in_bands)
    # steps completed: one past the last training row's index, or where a validation sat
    completed = [
        x + (0 if is_val else 1)
        for x, is_val in zip(log.x, log.validation_rows, strict=True)
        if x is not None
    ]
    steps = max(completed) if completed else None
    epochs = log.series("epoch")[1]
    validations = sum(log.validation_rows)
    phase_xs, phases = log.series("train/phase")
    adversarial = [x for x, p in zip(phase_xs, phases, strict=True) if p >= 0.5]
    nonfinite = log.last("train/nonfinite_steps")
    config_path = run_dir / "config.yaml"
    facts = [
        ("Run", run_dir.resolve().name),
        ("Run folder", str(run_dir)),
        ("Config", str(config_path) if config_path.is_file() else "config.yaml missing"),
        ("Generator", f"{generator}, x{scale}, {in_bands} -> {out_bands} bands"),
        ("Discriminator", str(_dig(config, "Discriminator.model_type"))),
        (
            "Data",
            f"train {_dig(config, 'Data.train_dir')}; validation {_dig(config, 'Data.val_dir')}",
        ),
        ("Generator steps reached", "-" if steps is None else f"{steps:.0f}"),
        ("Epochs started", f"{max(epochs) + 1:.0f}" if epochs else "-"),
        ("Adversarial phase", f"from step {adversarial[0]:.0f}" if adversarial else "not reached"),
        ("Validation runs", str(validations)),
        ("Skipped non-finite steps", _fmt(nonfinite)),
        ("Panels", f"{len(panels)} in {run_dir / 'panels'}" if panels else "none"),
    ]
    target = {
        k: v for k, v in (config.get("Trainer") or {}).items() if k in ("max_steps", "max_epochs")
    }
    if target:
        facts.append(("Trainer limits", ", ".join(f"{k}={v}" for k, v in target.items())))
    if (run_dir / "logs" / "tensorboard").is_dir():
        facts.append(("TensorBoard logs", str(run_dir / "logs" / "tensorboard")))
    parts = [
        _table([], facts, numeric_from=2),
        "<h3>Validation metrics</h3>",
        _validation_table(log),
    ]
    folder = run_dir / "checkpoints"
    checkpoints = sorted(c for c in folder.glob("*") if c.is_file()) if folder.is_dir() else []
    parts.append("<h3>Checkpoints</h3>")
    if checkpoints:
        rows = [
            [
                c.name,
                _size(c.stat().st_size),
                datetime.fromtimestamp(c.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S"),
            ]
            for c in checkpoints
        ]
        parts.append(_table(["file", "size", "written"], rows))
    else:
        parts.append("<p class=note>No checkpoints in this run folder.</p>")
    return "\n".join(parts)


def _latest_panel(panels: list[Path]) -> Path | None:
    def key(path: Path) -> tuple[int, str]:
        numbers = _PANEL_STEP.findall(path.stem)
        return (int(numbers[-1]) if numbers else -1, path.name)

    return max(panels, key=key) if panels else None


def write_report(run_dir: Path, output_dir: Path | None = None) -> Report:
    """Write ``index.html`` and one PNG per plot about the run in ``run_dir``.

    Args:
        run_dir: A run folder written by ``ganlab train`` (needs ``logs/csv/metrics.csv``).
        output_dir: Where the page and the PNG files go; default ``<run_dir>/report``.

    Returns:
        The page's path, each figure's file and plotted series, the embedded panel, and notes
        on the sections left out for lack of data.

    Raises:
        ReportError: ``run_dir`` is missing, has no CSV metrics, or matplotlib is missing.

    Example:
        >>> report = write_report(Path("runs/srgan-20250101-120000"))  # doctest: +SKIP
        >>> report.figures["val_psnr"].series["val/psnr_bicubic"]  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such folder; give a run folder written by `ganlab train`")
    metrics_path = run_dir / METRICS_FILE
    if not metrics_path.is_file():
        what = "a run folder" if (run_dir / "config.yaml").is_file() else "not a run folder"
        raise ReportError(
            f"{run_dir}: {what} without {METRICS_FILE}; the report reads the CSV metrics, so "
            "train with the csv logger (Logging.logger: csv, or a list that includes csv)"
        )
    try:
        log = MetricsLog.read(metrics_path)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ReportError(f"{metrics_path}: cannot read the metrics ({error})") from None
    output_dir = Path(output_dir) if output_dir is not None else run_dir / "report"
    plotter = _Plotter(log, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    config, config_text = _load_config(run_dir)
    panels = sorted((run_dir / "panels").glob("*.png")) if (run_dir / "panels").is_dir() else []
    panel = _latest_panel(panels)

    figures: dict[str, FigureRecord] = {}
    notes: list[str] = []
    nav = ['<a href="#summary">Summary</a>']
    body = [f'<h2 id="summary">Run summary</h2>\n{_summary(run_dir, log, config, panels)}']
    for section in _sections(log.columns):
        records = [r for r in (plotter.draw(spec) for spec in section.figures) if r is not None]
        if not records and not section.empty:
            continue
        nav.append(f'<a href="#{section.anchor}">{html.escape(section.title)}</a>')
        body.append(f'<h2 id="{section.anchor}">{html.escape(section.title)}</h2>')
        if not records:
            notes.append(f"{section.title}: {section.empty}")
            body.append(f"<p class=note>{html.escape(section.empty)}</p>")
            continue
        if section.intro:
            body.append(f"<p>{html.escape(section.intro)}</p>")
        for record in records:
            figures[record.path.stem] = record
            skipped = [f"{c}: {log.nonfinite(c)}" for c in record.series if log.nonfinite(c)]
            note = f" (NaN/Inf values not drawn: {', '.join(skipped)})" if skipped else ""
            body.append(_figure_html(record.path, record.title, record.title + note))
    nav.append('<a href="#panels">Validation panels</a>')
    body.append('<h2 id="panels">Validation panels</h2>')
    if panel is None:
        notes.append("Validation panels: none in the run folder")
        body.append(
            "<p class=note>No panels (Logging.num_val_images is 0, or no validation ran).</p>"
        )
    else:
        caption = f"{panel.name}: LR (nearest) | bicubic | SR | HR, the latest of {len(panels)}"
        body.append(_figure_html(panel, "validation panel", caption))
    if config_text:
        body.append(
            "<h2 id=config>Effective config</h2><details><summary>config.yaml</summary>"
            f"<pre>{html.escape(config_text)}</pre></details>"
        )
    title = html.escape(f"Run report: {run_dir.resolve().name}")
    page = (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{title}</title>"
        f"<style>{_CSS}</style></head><body>\n<h1>{title}</h1>\n<nav>{''.join(nav)}</nav>\n"
        + "\n".join(body)
        + f"\n<hr><p class=note>Written by ganlab {__version__} on "
        f"{datetime.now():%Y-%m-%d %H:%M} from {html.escape(str(metrics_path))}.</p>\n"
        "</body></html>\n"
    )
    html_path = output_dir / "index.html"
    html_path.write_text(page, encoding="utf-8")
    return Report(html_path, figures, panel, notes)
