"""The `Data.normalization` section: how physical values map to network values, per branch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ganlab.config.base import Section

DTYPE_MAXIMA = {"uint8": 255.0, "uint10": 1023.0, "uint12": 4095.0, "uint14": 16383.0,
                "uint16": 65535.0, "int16": 32767.0}  # fmt: skip
"""``zero_one`` with ``max_value: <dtype name>``: the value mapped to 1."""


class BranchNormalizationConfig(Section):
    """One normaliser: how physical values map to network values, per band.

    Every type is an exact affine inverse (``custom`` is as exact as its pair of functions);
    with `clip` the values outside the range are clipped and so do not come back exactly.
    """

    type: Literal["identity", "zero_one", "reflectance", "percentile", "mean_std", "custom"] = (
        Field(
            "identity",
            description="identity: values used as they are; zero_one: divide by `max_value`; "
            "reflectance: (x + `reflectance_offset`) / `reflectance_scale` (Sentinel-2/Landsat "
            "surface reflectance); percentile: map per-band `low`..`high` to 0..1; mean_std: "
            "per-band (x - `mean`) / `std`; custom: the functions `function` and `inverse`.",
        )
    )
    signed: bool = Field(
        False,
        description="zero_one, reflectance, percentile: map to -1..1 instead of 0..1 "
        "(for generators ending in tanh).",
    )
    clip: bool = Field(
        False,
        description="zero_one, reflectance, percentile: clip normalised values to the target "
        "range (0..1 or -1..1); values outside then do not invert exactly.",
    )
    max_value: float | Literal["uint8", "uint10", "uint12", "uint14", "uint16", "int16"] | None = (
        Field(
            None,
            description="zero_one: the value mapped to 1 (e.g. 255, 10000), or a dtype name "
            "whose maximum is used (uint8, uint10, uint12, uint14, uint16, int16).",
        )
    )
    reflectance_scale: float = Field(
        10000.0, gt=0, description="reflectance: quantification value (10000 for Sentinel-2 L2A)."
    )
    reflectance_offset: float = Field(
        0.0,
        description="reflectance: added before scaling (Sentinel-2 processing baseline >= 04.00: "
        "BOA_ADD_OFFSET = -1000).",
    )
    low: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 0 (e.g. the 1st percentile)."
    )
    high: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 1 (e.g. the 99th percentile)."
    )
    mean: list[float] | None = Field(None, description="mean_std: per-band mean.")
    std: list[float] | None = Field(None, description="mean_std: per-band standard deviation.")
    function: str | None = Field(
        None,
        description="custom: `package.module:function` mapping a physical `[B, C, H, W]` tensor "
        "to network values.",
    )
    inverse: str | None = Field(
        None, description="custom: `package.module:function`, the exact inverse of `function`."
    )

    @property
    def max_value_number(self) -> float | None:
        """``max_value`` as a number (dtype names resolved)."""
        if isinstance(self.max_value, str):
            return DTYPE_MAXIMA[self.max_value]
        return self.max_value

    @property
    def per_band_lists(self) -> dict[str, list[float]]:
        """The per-band lists this type uses (name -> values), for band-count checks."""
        names = {"percentile": ("low", "high"), "mean_std": ("mean", "std")}.get(self.type, ())
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _check_parameters(self) -> BranchNormalizationConfig:
        kind = self.type
        if kind == "zero_one" and self.max_value is None:
            raise ValueError("type zero_one needs `max_value` (e.g. 255 for 8-bit images)")
        if isinstance(self.max_value, float | int) and self.max_value <= 0:
            raise ValueError(f"`max_value` must be > 0, found {self.max_value}")
        if kind == "percentile":
            _check_pair_lists(self.low, self.high, "low", "high", "percentile")
            assert self.low is not None and self.high is not None
            bad = [
                i for i, (lo, hi) in enumerate(zip(self.low, self.high, strict=True)) if hi <= lo
            ]
            if bad:
                raise ValueError(
                    f"`high` must be greater than `low` for every band; not for bands {bad}"
                )
        if kind == "mean_std":
            _check_pair_lists(self.mean, self.std, "mean", "std", "mean_std")
            assert self.std is not None
            bad = [i for i, value in enumerate(self.std) if value <= 0]
            if bad:
                raise ValueError(f"`std` must be > 0 for every band; not for bands {bad}")
        if kind == "custom":
            for name in ("function", "inverse"):
                value = getattr(self, name)
                if value is None or ":" not in value:
                    raise ValueError(
                        f"type custom needs `{name}` as 'package.module:function' (found {value!r})"
                    )
        if (self.signed or self.clip) and kind not in ("zero_one", "reflectance", "percentile"):
            raise ValueError(
                f"`signed` and `clip` apply to zero_one, reflectance and percentile, not to "
                f"type {kind}"
            )
        return self


def _check_pair_lists(
    first: list[float] | None, second: list[float] | None, a: str, b: str, kind: str
) -> None:
    if first is None or second is None:
        raise ValueError(f"type {kind} needs per-band `{a}` and `{b}` lists")
    if len(first) != len(second):
        raise ValueError(
            f"`{a}` has {len(first)} values but `{b}` has {len(second)}; "
            "give one value per band in both"
        )


class NormalizationConfig(BranchNormalizationConfig):
    """How raw (physical) values are mapped to network values, per band and per branch.

    The keys at this level describe one normaliser for both branches; `lr` and `hr` override it
    for one branch (different sensors or statistics). The module applies them on device and
    inverts them exactly for outputs, panels and metrics. `ganlab data stats` computes the
    statistics.
    """

    lr: BranchNormalizationConfig | None = Field(
        None, description="Normaliser of the low-resolution input; null uses the keys above."
    )
    hr: BranchNormalizationConfig | None = Field(
        None,
        description="Normaliser of the high-resolution target (and of the output); null uses "
        "the keys above.",
    )

    def branch(self, name: Literal["lr", "hr"]) -> BranchNormalizationConfig:
        """The normaliser spec of one branch (``lr`` or ``hr``)."""
        override = self.lr if name == "lr" else self.hr
        if override is not None:
            return override
        fields = set(BranchNormalizationConfig.model_fields)
        return BranchNormalizationConfig(**{key: getattr(self, key) for key in fields})

    @property
    def per_branch(self) -> bool:
        """Whether `lr` or `hr` overrides the shared spec."""
        return self.lr is not None or self.hr is not None
