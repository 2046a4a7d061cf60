"""LR consistency: SR that, degraded with the data's own operator, gives back the LR input.

The operator ``D`` (:class:`SensorOperator`) is the deterministic part of the degradation that
makes LR inputs: Gaussian blur (``Data.degradation.blur_sigma`` or ``mtf_nyquist``), then
``Data.downsample`` (area or antialiased bicubic) by the scale. It is linear and keeps constants
(every kernel sums to 1).

:class:`LRProjection` corrects an SR image so that ``D(sr) == lr`` in physical units. The
network works on normalised values; with per-band affine normalisers the physical condition
``D(denorm_hr(sr)) == denorm_lr(lr)`` is the same as ``D(sr) == t(lr)`` with
``t = norm_hr(denorm_lr(lr))``, because ``D`` commutes with per-band affine maps. So the
projection runs on the network's values and holds in physical units.

* Area downsampling without blur: ``sr + nearest(t - D(sr))`` is exact in one step (each LR
  pixel is the mean of its own ``s x s`` block).
* Bicubic or blur: the correction is ``U x`` with ``U`` nearest upsampling and ``x`` the
  solution of ``D U x = t - D(sr)``, found by a fixed number of conjugate-gradient steps per
  image and band (``D U`` is a symmetric, positive low-pass filter on the LR grid away from the
  borders). The error left is logged as ``val/consistency_psnr``; docs/losses.md gives the bound.

:class:`LRConsistentGenerator` wraps any generator with the projection (``Generator.
lr_consistency: hard``); the weights are those of the wrapped network under ``network.``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.data.degradations import gaussian_blur
from ganlab.data.transforms import downsample
from ganlab.models.recording import RecordsInitArgs
from ganlab.registry import import_object

WRAPPED_PREFIX = "network."
"""Prefix of the wrapped network's keys in :class:`LRConsistentGenerator`'s ``state_dict``."""


class SensorOperator(nn.Module):
    """The HR -> LR operator ``D``: Gaussian blur (sigma in HR pixels), then downsampling.

    Args:
        scale: Downsampling factor.
        downsample: ``area`` (block mean) or ``bicubic`` (antialiased).
        blur_sigma: Gaussian sigma in HR pixels (0: none).

    Example:
        >>> operator = SensorOperator(4, "area")
        >>> operator(torch.ones(1, 6, 32, 32)).shape
        torch.Size([1, 6, 8, 8])
    """

    def __init__(self, scale: int, downsample: str = "area", blur_sigma: float = 0.0) -> None:
        super().__init__()
        if downsample not in ("area", "bicubic"):
            raise ValueError(f"downsample must be 'area' or 'bicubic', got {downsample!r}")
        if blur_sigma < 0:
            raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
        self.scale = scale
        self.method = downsample
        self.blur_sigma = float(blur_sigma)

    @property
    def block_mean(self) -> bool:
        """Whether ``D`` is a plain block mean (area, no blur): projected exactly in one step."""
        return self.method == "area" and self.blur_sigma == 0

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, H / scale, W / scale]`` (H, W multiples of ``scale``)."""
        return downsample(gaussian_blur(hr, self.blur_sigma), self.scale, self.method)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, downsample={self.method}, blur_sigma={self.blur_sigma:.4g}"


def _per_band(values: Sequence[float], bands: int, name: str) -> torch.Tensor:
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float32)
    if tensor.numel() == 1:
        tensor = tensor.expand(bands).clone()
    if tensor.numel() != bands:
        raise ValueError(f"the {name} normaliser has {tensor.numel()} values for {bands} bands")
    return tensor.reshape(1, bands, 1, 1)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image and band: ``sum(a * b)`` over the pixels, ``[B, C, 1, 1]``."""
    return (a * b).sum(dim=(2, 3), keepdim=True)


class LRProjection(nn.Module):
    """Corrects HR-normalised SR so that the operator gives back the LR input.

    Args:
        operator: The HR -> LR operator ``D``.
        bands: Band count of LR and SR.
        lr_offset, lr_scale: The LR normaliser's per-band affine map (``(x - offset) / scale``;
            one value applies to every band).
        hr_offset, hr_scale: The HR normaliser's.
        iterations: Conjugate-gradient steps when ``D`` is not a plain block mean.

    Example:
        >>> projection = LRProjection(SensorOperator(2), 3, [0.0], [1.0], [0.0], [1.0])
        >>> lr, sr = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 8, 8)
        >>> bool(torch.allclose(F.avg_pool2d(projection(sr, lr), 2), lr, atol=1e-6))
        True
    """

    target_scale: torch.Tensor
    target_shift: torch.Tensor

    def __init__(
        self,
        operator: SensorOperator,
        bands: int,
        lr_offset: Sequence[float],
        lr_scale: Sequence[float],
        hr_offset: Sequence[float],
        hr_scale: Sequence[float],
        iterations: int = 30,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.operator = operator
        self.iterations = iterations
        lr_o, lr_s = (_per_band(v, bands, n) for v, n in ((lr_offset, "lr"), (lr_scale, "lr")))
        hr_o, hr_s = (_per_band(v, bands, n) for v, n in ((hr_offset, "hr"), (hr_scale, "hr")))
        if bool((lr_s <= 0).any()) or bool((hr_s <= 0).any()):
            raise ValueError("normaliser scales must be > 0")
        # t = norm_hr(denorm_lr(lr)) = lr * lr_s / hr_s + (lr_o - hr_o) / hr_s
        self.register_buffer("target_scale", lr_s / hr_s, persistent=False)
        self.register_buffer("target_shift", (lr_o - hr_o) / hr_s, persistent=False)

    def target(self, lr: torch.Tensor) -> torch.Tensor:
        """The LR input in HR-normalised units (what ``D(sr)`` must equal)."""
        return lr.float() * self.target_scale.float() + self.target_shift.float()

    def residual(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """``t(lr) - D(sr)``, ``[B, C, h, w]`` in HR-normalised units (float32)."""
        with _full_precision(sr):
            return self.target(lr) - self.operator(sr.float())

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.operator.scale, mode="nearest")

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """The projected SR, same shape as ``sr``: float32 under autocast (mixed precision
        keeps the constraint to float32 precision), else ``sr``'s dtype (``bf16-true`` and
        ``16-true`` runs keep their dtype, and the constraint holds to its precision)."""
        dtype = torch.float32 if _autocast_on(sr) else sr.dtype
        with _full_precision(sr):
            projected = sr.float()
            residual = self.residual(projected, lr)
            if self.operator.block_mean:
                projected = projected + self._upsample(residual)
            else:
                projected = projected + self._upsample(self._solve(residual))
        return projected.to(dtype)

    def _solve(self, rhs: torch.Tensor) -> torch.Tensor:
        """``x`` with ``D(U(x)) ~= rhs``: conjugate gradients, a fixed number of steps (so the
        computation traces for export and its gradients flow)."""
        tiny = torch.finfo(rhs.dtype).tiny
        x = torch.zeros_like(rhs)
        residual = rhs
        direction = rhs
        norm = _dot(residual, residual)
        for _ in range(self.iterations):
            mapped = self.operator(self._upsample(direction))
            step = norm / _dot(direction, mapped).clamp_min(tiny)
            x = x + step * direction
            residual = residual - step * mapped
            new_norm = _dot(residual, residual)
            direction = residual + (new_norm / norm.clamp_min(tiny)) * direction
            norm = new_norm
        return x


def _autocast_on(like: torch.Tensor) -> bool:
    """Whether autocast is active for ``like``'s device type."""
    kind = like.device.type
    return bool(torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind))


def _full_precision(like: torch.Tensor) -> contextlib.AbstractContextManager[object]:
    """Autocast off around the projection (blur convs in bf16 would undo its precision)."""
    if _autocast_on(like):
        return torch.autocast(like.device.type, enabled=False)
    return contextlib.nullcontext()


def nested_generator_classes(init_kwargs: Mapping[str, Any]) -> list[str]:
    """Class paths of networks that ``init_kwargs`` would build (a wrapper's inner network)."""
    found: list[str] = []
    for value in init_kwargs.values():
        if isinstance(value, Mapping):
            if isinstance(value.get("generator_class"), str):
                found.append(value["generator_class"])
            found.extend(nested_generator_classes(value))
    return found


class LRConsistentGenerator(RecordsInitArgs, nn.Module):
    """A generator whose output, degraded by the data's operator, gives back its input.

    ``forward(lr) = projection(network(lr), lr)`` (see :class:`LRProjection`); everything else
    (scale, bands, band layers, precision support) is the wrapped network's.

    Args:
        network: What builds the wrapped generator: ``{"generator_class": "pkg.mod:Class",
            "init_kwargs": {...}}`` (as :func:`ganlab.export.generator_description` records it).
        downsample: ``area`` or ``bicubic`` (``Data.downsample``).
        blur_sigma: Gaussian sigma in HR pixels before downsampling (0: none).
        lr_offset, lr_scale, hr_offset, hr_scale: The per-band affine normalisers.
        iterations: Conjugate-gradient steps for bicubic or blurred operators.

    Example:
        >>> inner = {"generator_class": "ganlab.models.generators.srresnet:SRResNet",
        ...          "init_kwargs": {"in_bands": 4, "out_bands": 4, "scale": 2,
        ...                          "n_channels": 8, "n_blocks": 1}}
        >>> generator = LRConsistentGenerator(inner, lr_offset=[0.0], lr_scale=[1.0],
        ...                                   hr_offset=[0.0], hr_scale=[1.0])
        >>> lr = torch.rand(1, 4, 6, 6)
        >>> bool(torch.allclose(F.avg_pool2d(generator(lr), 2), lr, atol=1e-6))
        True
    """

    def __init__(
        self,
        network: Mapping[str, Any],
        *,
        downsample: str = "area",
        blur_sigma: float = 0.0,
        lr_offset: Sequence[float],
        lr_scale: Sequence[float],
        hr_offset: Sequence[float],
        hr_scale: Sequence[float],
        iterations: int = 30,
    ) -> None:
        super().__init__()
        cls = import_object(str(network["generator_class"]), "generator_class")
        self.network = cls(**dict(network.get("init_kwargs") or {}))
        for name in ("scale", "in_bands", "out_bands"):
            if not isinstance(getattr(self.network, name, None), int):
                raise ValueError(
                    f"{cls.__name__} does not expose `{name}`; the LR-consistency layer needs "
                    "scale, in_bands and out_bands (derive the generator from SRGenerator)"
                )
        self.scale: int = self.network.scale
        self.in_bands: int = self.network.in_bands
        self.out_bands: int = self.network.out_bands
        if self.in_bands != self.out_bands:
            raise ValueError(
                f"LR consistency needs in_bands == out_bands, got {self.in_bands}, {self.out_bands}"
            )
        operator = SensorOperator(self.scale, downsample, blur_sigma)
        self.projection = LRProjection(
            operator, self.in_bands, lr_offset, lr_scale, hr_offset, hr_scale, iterations
        )
        for flag in ("supports_fp16", "supports_bf16", "recommended_use"):
            if hasattr(self.network, flag):
                setattr(self, flag, getattr(self.network, flag))
        # the block-mean projection is local; conjugate gradients use whole-image sums
        self.position_independent = operator.block_mean and getattr(
            self.network, "position_independent", True
        )

    @property
    def wrapped_prefix(self) -> str:
        """Prefix of the wrapped network's keys in this module's ``state_dict``."""
        return WRAPPED_PREFIX

    def band_layers(self) -> tuple[str, str]:
        """The wrapped network's first and last conv, under ``network.``."""
        band_layers = getattr(self.network, "band_layers", None)
        if band_layers is None:
            raise AttributeError(f"{type(self.network).__name__} has no band_layers()")
        first, last = band_layers()
        return WRAPPED_PREFIX + first, WRAPPED_PREFIX + last

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w] -> [B, C, h*scale, w*scale]`` with ``D(out) == lr`` (normalised)."""
        return self.projection(self.network(lr), lr)


__all__ = [
    "WRAPPED_PREFIX",
    "LRConsistentGenerator",
    "LRProjection",
    "SensorOperator",
    "nested_generator_classes",
]
