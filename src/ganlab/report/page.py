"""The HTML page: run summary, validation table, embedded figures and :func:`write_report`."""

from __future__ import annotations

import base64
import csv
import html
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ganlab._version import __version__
from ganlab.files import atomic_write
from ganlab.report.metrics_log import METRICS_FILE, MetricsLog
from ganlab.report.plots import _Plotter
from ganlab.report.records import FigureRecord, Report, ReportError
from ganlab.report.sections import _PER_BAND, _sections, _short, _validation_columns

_LOWER_IS_BETTER = re.compile(r"sam|ergas|lpips|loss|mse|mae|rmse|fid|niqe|omission|hallucination")
_PANEL_STEP = re.compile(r"(\d+)")


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


def _config_value(data: dict[str, Any], dotted: str, default: Any = "?") -> Any:
    value: Any = data
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return default if value is None else value


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}img{max-width:100%}
.note{color:#666;font-style:italic}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
nav a{margin-right:1em}
"""


def _format_number(value: float | None) -> str:
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
                _format_number(final),
                _format_number(bicubic),
                _format_number(difference),
                f"{_format_number(ys[best])} at step {xs[best]:.0f}",
            ]
        )
    if not rows:
        return "<p class=note>No validation metrics were logged.</p>"
    header = ["metric", "final SR", "final bicubic", "SR - bicubic", "best SR"]
    return _table(header, rows)


def _summary(run_dir: Path, log: MetricsLog, config: dict[str, Any], panels: list[Path]) -> str:
    generator, scale = (
        _config_value(config, "Generator.model_type"),
        _config_value(config, "Generator.scaling_factor"),
    )
    in_bands = _config_value(config, "Model.in_bands")
    out_bands = _config_value(config, "Model.out_bands", in_bands)
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
        ("Discriminator", str(_config_value(config, "Discriminator.model_type"))),
        (
            "Data",
            f"train {_config_value(config, 'Data.train_dir')}; "
            f"validation {_config_value(config, 'Data.val_dir')}",
        ),
        ("Generator steps reached", "-" if steps is None else f"{steps:.0f}"),
        ("Epochs started", f"{max(epochs) + 1:.0f}" if epochs else "-"),
        ("Adversarial phase", f"from step {adversarial[0]:.0f}" if adversarial else "not reached"),
        ("Validation runs", str(validations)),
        ("Skipped non-finite steps", _format_number(nonfinite)),
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
        A run folder with two training steps and one validation after the second (as
        Lightning's ``CSVLogger`` writes them; usually ``runs/<name>`` from ``ganlab train``):

        >>> import tempfile
        >>> run_dir = Path(tempfile.mkdtemp()) / "srgan-20250101-120000"
        >>> (run_dir / METRICS_FILE).parent.mkdir(parents=True)
        >>> _ = (run_dir / METRICS_FILE).write_text(
        ...     "step,train/step,train/l1,val/psnr,val/psnr_bicubic\\n"
        ...     "0,0,0.2,,\\n"
        ...     "1,1,0.1,,\\n"
        ...     "1,,,30.5,29.0\\n"
        ... )
        >>> report = write_report(run_dir)
        >>> report.html_path.relative_to(run_dir).as_posix()
        'report/index.html'
        >>> report.figures["val_psnr"].series["val/psnr_bicubic"]  # (steps, values)
        ([2.0], [29.0])
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
        caption = (
            f"{panel.name}, the latest of {len(panels)}: LR (nearest) | bicubic | SR | HR | "
            "fidelity map (green: improvement, grey: omission, vermillion: hallucination, "
            "black: not classified), each row with its PSNR gain of SR over bicubic; bicubic, "
            "map and gain only where LR and SR have the same bands"
        )
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
    atomic_write(html_path, lambda path: path.write_text(page, encoding="utf-8"), "report")
    return Report(html_path, figures, panel, notes)
