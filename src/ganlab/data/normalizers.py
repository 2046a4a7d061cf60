"""Normalisers: maps between physical values and network values, with exact inverses.

Built-ins are per-band affine maps ``normalize(x) = (x - offset) / scale`` and
``denormalize(y) = y * scale + offset`` (see :func:`affine_parameters` for each type). Custom
normalisers wrap a ``package.module:function`` pair. All are ``nn.Module`` s, so statistics live
on the device with the data; the module normalises each branch with its own normaliser
(:func:`build_normalizers`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from ganlab.config.schema import BranchNormalizationConfig, Config, NormalizationConfig
from ganlab.errors import ConfigError

TensorFunction = Callable[[torch.Tensor], torch.Tensor]


class AffineNormalizer(nn.Module):
    """Per-band ``(x - offset) / scale`` on ``[B, C, H, W]`` or ``[C, H, W]`` tensors.

    Args:
        offset: Per-band offsets (one value applies to all bands).
        scale: Per-band scales, > 0.
        clip: Optional ``(low, high)`` range the normalised values are clipped to; values
            outside it then do not come back exactly.

    Example:
        >>> norm = AffineNormalizer([7460.0, 6720.0, 6033.0, 0.0], [1310.0, 1808.0, 2855.0, 1.0])
        >>> x = torch.full((1, 4, 2, 2), 8000.0)
        >>> torch.allclose(norm.denormalize(norm.normalize(x)), x)
        True
    """

    offset: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        offset: Sequence[float],
        scale: Sequence[float],
        clip: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        if len(offset) != len(scale):
            raise ValueError(f"offset has {len(offset)} values, scale has {len(scale)}")
        if any(s <= 0 for s in scale):
            raise ValueError(f"every scale must be > 0, got {list(scale)}")
        self.clip = clip
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32), persistent=False)
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32), persistent=False)

    def _per_band(self, x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        if values.numel() not in (1, x.shape[-3]):
            raise ValueError(
                f"normaliser has {values.numel()} per-band values but the tensor of shape "
                f"{tuple(x.shape)} has {x.shape[-3]} bands"
            )
        shape = [1] * x.ndim
        shape[-3] = -1
        return values.to(x.dtype).reshape(shape)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Physical values -> network values."""
        y = (x - self._per_band(x, self.offset)) / self._per_band(x, self.scale)
        return y if self.clip is None else y.clamp(*self.clip)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Network values -> physical values (the exact inverse of :meth:`normalize`)."""
        return y * self._per_band(y, self.scale) + self._per_band(y, self.offset)

    def extra_repr(self) -> str:
        return f"bands={self.offset.numel()}, clip={self.clip}"


class FunctionNormalizer(nn.Module):
    """A normaliser from a pair of functions ``(normalize, denormalize)`` on tensors.

    Args:
        function: Physical ``[B, C, H, W]`` -> network values.
        inverse: Network values -> physical values; must invert ``function``.
        name: Shown in ``repr``.
    """

    def __init__(self, function: TensorFunction, inverse: TensorFunction, name: str = "") -> None:
        super().__init__()
        self.function = function
        self.inverse = inverse
        self.name = name

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Physical values -> network values."""
        return self.function(x)

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """Network values -> physical values."""
        return self.inverse(y)

    def extra_repr(self) -> str:
        return self.name


Normalizer = AffineNormalizer | FunctionNormalizer


def affine_parameters(
    spec: BranchNormalizationConfig,
) -> tuple[list[float], list[float], tuple[float, float] | None]:
    """``(offset, scale, clip)`` of a built-in normaliser.

    ========== ===================================== ============================
    type       offset                                scale
    ========== ===================================== ============================
    identity   0                                     1
    zero_one   0                                     max_value
    reflectance -reflectance_offset                  reflectance_scale
    percentile low                                   high - low
    mean_std   mean                                  std
    ========== ===================================== ============================

    ``signed`` maps to -1..1 instead of 0..1: offset + scale / 2 and scale / 2.
    """
    if spec.type == "identity":
        offset, scale = [0.0], [1.0]
    elif spec.type == "zero_one":
        maximum = spec.max_value_number
        assert maximum is not None  # enforced by the schema
        offset, scale = [0.0], [maximum]
    elif spec.type == "reflectance":
        offset, scale = [-spec.reflectance_offset], [spec.reflectance_scale]
    elif spec.type == "percentile":
        assert spec.low is not None and spec.high is not None  # enforced by the schema
        offset = list(spec.low)
        scale = [hi - lo for lo, hi in zip(spec.low, spec.high, strict=True)]
    elif spec.type == "mean_std":
        assert spec.mean is not None and spec.std is not None  # enforced by the schema
        offset, scale = list(spec.mean), list(spec.std)
    else:
        raise ValueError(f"type {spec.type} is not an affine normaliser")
    if spec.signed:
        offset = [o + s / 2 for o, s in zip(offset, scale, strict=True)]
        scale = [s / 2 for s in scale]
    clip = ((-1.0 if spec.signed else 0.0), 1.0) if spec.clip else None
    return offset, scale, clip


def _import_function(path: str, key: str) -> TensorFunction:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{key}: cannot import module {module_name!r} ({exc})") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"{key}: module {module_name!r} has no function {attribute!r}")
    return function


def build_branch_normalizer(
    spec: BranchNormalizationConfig, key: str = "Data.normalization"
) -> Normalizer:
    """The normaliser one spec describes (``key`` names it in errors)."""
    if spec.type == "custom":
        assert spec.function is not None and spec.inverse is not None  # enforced by the schema
        return FunctionNormalizer(
            _import_function(spec.function, f"{key}.function"),
            _import_function(spec.inverse, f"{key}.inverse"),
            name=f"{spec.function} / {spec.inverse}",
        )
    offset, scale, clip = affine_parameters(spec)
    return AffineNormalizer(offset, scale, clip)


def build_normalizer(config: BranchNormalizationConfig) -> Normalizer:
    """The one normaliser of ``Data.normalization`` (both branches).

    Raises:
        ConfigError: The config has separate ``lr`` / ``hr`` specs; use
            :func:`build_normalizers`.
    """
    if isinstance(config, NormalizationConfig) and config.per_branch:
        raise ConfigError(
            "Data.normalization has separate lr/hr specs; build them with "
            "ganlab.data.normalizers.build_normalizers(config)"
        )
    return build_branch_normalizer(config)


def build_normalizers(config: Config) -> tuple[Normalizer, Normalizer]:
    """``(lr_normalizer, hr_normalizer)`` from ``Data.normalization``.

    The LR normaliser maps the input; the HR normaliser maps the target and inverts the
    generator's output. Without ``lr:`` / ``hr:`` both are the same spec (two module
    instances, equal parameters).

    Example:
        >>> from ganlab.config import load_config
        >>> cfg = load_config(None, ["Data.normalization.lr={type: reflectance}",
        ...                          "Data.normalization.hr={type: zero_one, max_value: 255}",
        ...                          "Generator.global_skip=none"])  # two normalisers: no skip
        >>> lr_norm, hr_norm = build_normalizers(cfg)
        >>> float(lr_norm.normalize(torch.full((1, 3, 1, 1), 5000.0)).max())
        0.5
    """
    norm = config.Data.normalization
    branches: tuple[Literal["lr", "hr"], ...] = ("lr", "hr")
    lr, hr = (
        build_branch_normalizer(
            norm.branch(branch),
            f"Data.normalization.{branch}"
            if getattr(norm, branch) is not None
            else "Data.normalization",
        )
        for branch in branches
    )
    return lr, hr
