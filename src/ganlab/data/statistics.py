"""Per-band statistics of a dataset, streamed item by item, for the normalisers.

Two passes over the items: the first collects count, min, max, mean and standard deviation
(float64, merged per item with Chan's parallel formula), the second a histogram per band between
min and max from which percentiles are read. Integer-valued bands get one bin per integer, so
their percentiles are exact (nearest rank); other bands get 65,536 bins (error <= range/65,536).
Memory is one item plus the histograms, whatever the dataset size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml

from ganlab.config.schema import Config
from ganlab.data.datasets import SizedDataset

log = logging.getLogger(__name__)

FLOAT_BINS = 65536
MAX_INTEGER_BINS = 1 << 20


@dataclass
class BandStatistics:
    """Statistics of each band of one branch (lists have one value per band).

    Attributes:
        count: Pixels per band.
        minimum, maximum, mean, std: Per band, physical units.
        percentiles: Percentile (0..100) -> per-band value.
        band_names: Band names from the first item's meta, if any.
    """

    count: int
    minimum: list[float]
    maximum: list[float]
    mean: list[float]
    std: list[float]
    percentiles: dict[float, list[float]] = field(default_factory=dict)
    band_names: list[str] = field(default_factory=list)


class _Moments:
    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2 = torch.zeros(0, dtype=torch.float64)
        self.minimum = torch.zeros(0, dtype=torch.float64)
        self.maximum = torch.zeros(0, dtype=torch.float64)
        self.integral = True

    def update(self, image: torch.Tensor) -> None:
        values = image.reshape(image.shape[0], -1).to(torch.float64)
        n = values.shape[1]
        mean = values.mean(dim=1)
        m2 = ((values - mean[:, None]) ** 2).sum(dim=1)
        self.integral = self.integral and bool((values == values.round()).all())
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            self.minimum, self.maximum = values.min(dim=1).values, values.max(dim=1).values
            return
        if mean.shape != self.mean.shape:
            raise ValueError(
                f"items have {mean.numel()} and {self.mean.numel()} bands; statistics need one "
                "band count per branch"
            )
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total
        self.minimum = torch.minimum(self.minimum, values.min(dim=1).values)
        self.maximum = torch.maximum(self.maximum, values.max(dim=1).values)


class _Histograms:
    def __init__(self, moments: _Moments) -> None:
        self.edges: list[tuple[float, float, int]] = []
        for low, high in zip(moments.minimum.tolist(), moments.maximum.tolist(), strict=True):
            span = high - low
            if moments.integral and span + 1 <= MAX_INTEGER_BINS:
                self.edges.append((low - 0.5, high + 0.5, int(span) + 1))
            else:
                self.edges.append((low, high if high > low else low + 1.0, FLOAT_BINS))
        self.counts = [torch.zeros(bins, dtype=torch.float64) for _, _, bins in self.edges]

    def update(self, image: torch.Tensor) -> None:
        for band, (low, high, bins) in enumerate(self.edges):
            values = image[band].reshape(-1).to(torch.float64)
            self.counts[band] += torch.histc(values, bins=bins, min=low, max=high)

    def percentile(self, band: int, q: float) -> float:
        low, high, bins = self.edges[band]
        cumulative = torch.cumsum(self.counts[band], 0)
        target = q / 100.0 * float(cumulative[-1])
        index = int(torch.searchsorted(cumulative, torch.tensor([max(target, 1e-12)])))
        index = min(index, bins - 1)
        width = (high - low) / bins
        return low + (index + 0.5) * width


def _branches(item: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"lr": item["lr"], "hr": item["hr"]}


def compute_statistics(
    items: SizedDataset | Sequence[dict[str, Any]],
    percentiles: Sequence[float] = (1.0, 99.0),
) -> dict[str, BandStatistics]:
    """Per-band statistics of the ``lr`` and ``hr`` branches of a dataset.

    Args:
        items: A map-style dataset (or list) of items ``{"lr": [C, h, w], "hr": [C', H, W],
            ...}``; it is read twice.
        percentiles: Percentiles to report, 0..100.

    Returns:
        ``{"lr": BandStatistics, "hr": BandStatistics}``.

    Raises:
        ValueError: No items, or items with different band counts.
    """
    moments = {"lr": _Moments(), "hr": _Moments()}
    names: dict[str, list[str]] = {"lr": [], "hr": []}
    seen = 0
    for item in _iterate(items):
        if seen == 0:
            meta = item.get("meta", {})
            names = {"lr": list(meta.get("lr_bands") or []), "hr": list(meta.get("bands") or [])}
        for branch, image in _branches(item).items():
            moments[branch].update(image)
        seen += 1
        if seen % 100 == 0:
            log.info("statistics: %d items (pass 1 of 2)", seen)
    if seen == 0:
        raise ValueError("the dataset has no items")
    histograms = {branch: _Histograms(m) for branch, m in moments.items()}
    for item in _iterate(items):
        for branch, image in _branches(item).items():
            histograms[branch].update(image)
    result = {}
    for branch, m in moments.items():
        assert m.mean is not None
        std = torch.sqrt(m.m2 / m.count)
        bands = m.mean.numel()
        result[branch] = BandStatistics(
            count=m.count,
            minimum=m.minimum.tolist(),
            maximum=m.maximum.tolist(),
            mean=m.mean.tolist(),
            std=std.tolist(),
            percentiles={
                q: [histograms[branch].percentile(b, q) for b in range(bands)] for q in percentiles
            },
            band_names=names[branch],
        )
    return result


def _iterate(items: SizedDataset | Sequence[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    return (items[i] for i in range(len(items)))


def _round(values: Sequence[float]) -> list[float]:
    """Six significant digits: enough for a config, short to read."""
    result = []
    for value in values:
        if value == 0 or not math.isfinite(value):
            result.append(float(value))
        else:
            digits = 6 - math.floor(math.log10(abs(value))) - 1
            result.append(round(float(value), max(digits, 0)))
    return result


def normalization_spec(
    stats: BandStatistics, kind: str, signed: bool = False, clip: bool = False
) -> dict[str, Any]:
    """A normaliser spec (as in ``Data.normalization``) from statistics.

    ``mean_std`` uses mean/std; anything else becomes ``percentile`` with the lowest and
    highest computed percentiles as ``low``/``high``.
    """
    if kind == "mean_std":
        return {"type": "mean_std", "mean": _round(stats.mean), "std": _round(stats.std)}
    levels = sorted(stats.percentiles)
    spec: dict[str, Any] = {
        "type": "percentile",
        "low": _round(stats.percentiles[levels[0]]),
        "high": _round(stats.percentiles[levels[-1]]),
    }
    for index, (low, high) in enumerate(zip(spec["low"], spec["high"], strict=True)):
        if high <= low:  # a constant band: keep the spec valid
            spec["high"][index] = low + 1.0
    if signed:
        spec["signed"] = True
    if clip:
        spec["clip"] = True
    return spec


def statistics_snippet(config: Config, stats: dict[str, BandStatistics], source: str) -> str:
    """A YAML snippet with the ``Data.normalization`` block, all statistics in comments.

    One spec for both branches (from HR) unless the dataset is ``paired`` or the config
    already has per-branch specs: then separate ``lr`` and ``hr`` specs.
    """
    norm = config.Data.normalization
    per_branch = config.Data.dataset == "paired" or norm.per_branch
    lines = [
        f"# Per-band statistics of the training set of {source}, from `ganlab data stats`",
        f"# ({stats['hr'].count} HR pixels per band). Physical units.",
    ]
    for branch in ("lr", "hr"):
        s = stats[branch]
        lines.append(f"# {branch}: bands {s.band_names or 'unnamed'}")
        rows = [("min", s.minimum), ("max", s.maximum), ("mean", s.mean), ("std", s.std)]
        rows += [(f"p{q:g}", v) for q, v in sorted(s.percentiles.items())]
        lines += [f"#   {name}: {_round(values)}" for name, values in rows]
    block: dict[str, Any]
    if per_branch:
        block = {}
        for branch in ("lr", "hr"):
            spec = norm.branch(branch)  # type: ignore[arg-type]
            block[branch] = normalization_spec(stats[branch], spec.type, spec.signed, spec.clip)
    else:
        block = normalization_spec(stats["hr"], norm.type, norm.signed, norm.clip)
    text = yaml.safe_dump(
        {"Data": {"normalization": block}}, sort_keys=False, default_flow_style=None
    )
    return "\n".join(lines) + "\n" + text
