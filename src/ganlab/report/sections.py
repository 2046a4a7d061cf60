"""Grouping of the logged columns, by prefix, into the report's sections of figure specs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ganlab.report.plots import _FigureSpec, _Line, _Panel

_PER_BAND = re.compile(r"^val/(?P<metric>.+)_band(?P<band>\d+)$")
_BOOKKEEPING = {"train/step", "train/nonfinite_steps"}
_METRIC_ORDER = ("val/psnr", "val/psnr_gain", "val/ssim", "val/sam", "val/ergas")
_CORRECTNESS = ("val/improvement", "val/omission", "val/hallucination")
_UNITS = {
    "psnr": "PSNR (dB)",
    "psnr_gain": "PSNR gain over bicubic (dB)",
    "ssim": "SSIM (1 = identical)",
    "ms_ssim": "MS-SSIM (1 = identical)",
    "sam": "spectral angle (rad)",
    "ergas": "ERGAS (0 = identical)",
    "lpips": "LPIPS (0 = identical)",
    "consistency_psnr": "PSNR of degraded SR vs LR (dB)",
    "consistency_mae": "mean |degraded SR - LR| (band spans)",
    "consistency_sam": "spectral angle, degraded SR vs LR (rad)",
    "synthesis": "mean |SR - bicubic| (band spans)",
}
"""Axis label (quantity and unit) of each validation metric."""


@dataclass
class _Section:
    anchor: str
    title: str
    intro: str
    figures: list[_FigureSpec]
    empty: str


def _slug(text: str) -> str:
    """``text`` usable as a file name and HTML id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _short(column: str) -> str:
    return column.split("/", 1)[-1]


def _one_panel(stem: str, title: str, columns: Sequence[str], **panel: Any) -> list[_FigureSpec]:
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
    fractions = [c for c in _CORRECTNESS if c in present]
    if fractions:
        lines = [_Line(c, _short(c), color=color) for c, color in
                 zip(fractions, ("#009e73", "#969696", "#d55e00"), strict=False)]  # fmt: skip
        title = "correctness: improvement, omission, hallucination"
        panel = _Panel(title, lines, ylabel="fraction of classified pixels", log=False,
                       ylim=(0.0, 1.0))  # fmt: skip
        figures.append(_FigureSpec("val_correctness", title, [panel]))
    for column in columns:
        if not column.startswith("val/") or column.endswith("_bicubic") or column in fractions:
            continue
        match = _PER_BAND.match(column)
        if match:
            per_band.setdefault(match["metric"], []).append((int(match["band"]), column))
            continue
        lines = [_Line(column, "SR")]
        if f"{column}_bicubic" in present:
            lines.append(_Line(f"{column}_bicubic", "bicubic", dashed=True))
        name = _short(column)
        label = _UNITS.get(name, name)
        figures.append(_FigureSpec(f"val_{name}", name, [_Panel(name, lines, ylabel=label)]))
    for metric, bands in per_band.items():
        lines = []
        for band, column in sorted(bands):
            color = f"C{band % 10}"
            lines.append(_Line(column, f"band {band} SR", color=color))
            if f"{column}_bicubic" in present:
                lines.append(_Line(f"{column}_bicubic", f"band {band} bicubic", True, color))
        title = f"{metric} per band"
        label = _UNITS.get(metric, metric)
        panel = _Panel(title, lines, ylabel=label)
        figures.append(_FigureSpec(f"val_{metric}_per_band", title, [panel]))
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

    content_panels = [_Panel(_short(c), [_Line(c, _short(c))], ylabel="loss") for c in content]
    schedule_panels = []
    if "train/adv_weight" in columns:
        schedule_panels.append(
            _Panel(
                "adversarial weight",
                [_Line("train/adv_weight", "adv_weight")],
                ylabel="weight",
                log=False,
            )
        )
    if "train/phase" in columns:
        schedule_panels.append(
            _Panel(
                "phase (0 pretraining, 1 adversarial)",
                [_Line("train/phase", "phase")],
                ylabel="phase",
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
                *_one_panel("generator_loss", "Generator loss", generator, ylabel="loss"),
                *_one_panel(
                    "discriminator_loss", "Discriminator loss", discriminator, ylabel="loss"
                ),
                *_one_panel(
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
            _one_panel(
                "discriminator_probabilities",
                "D(real) and D(fake)",
                probabilities,
                ylabel="probability",
                log=False,
                ylim=(0.0, 1.0),
            ),
            "No discriminator probabilities: the adversarial phase did not start.",
        ),
        _Section(
            "learning_rates",
            "Learning rates",
            "",
            _one_panel("learning_rates", "Learning rates", lr, ylabel="learning rate"),
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
            "of the same LR inputs (dashed), in physical units. Fidelity (docs/losses.md, "
            "Faithful SR): consistency compares the SR degraded with the data's operator to "
            "the LR input; synthesis is the detail SR adds over bicubic; the correctness "
            "fractions say where SR moved towards HR (improvement), stayed at bicubic "
            "(omission) or moved away from both (hallucination).",
            _validation_figures(validation),
            "No validation metrics: no validation ran before the logs were written.",
        ),
        _Section(
            "grad_norms",
            "Gradient norms",
            "",
            _one_panel("grad_norms", "Gradient norms", grad_norms, ylabel="norm"),
            "No gradient norms (enable Callbacks.gradient_norms.enabled).",
        ),
        *[
            _Section(
                f"other_{_slug(prefix)}",
                f"Other logged scalars: {prefix}",
                f"{len(names) - 12} more columns not drawn." if len(names) > 12 else "",
                _one_panel(f"other_{_slug(prefix)}", prefix, names[:12]),
                "",
            )
            for prefix, names in other.items()
        ],
    ]
