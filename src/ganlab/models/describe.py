"""Model descriptors: scale, bands, parameters, FLOPs and precision support of a built model.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as
two FLOPs; interpolations and element-wise ops are not counted). Built-in models are measured
on a twin built on the ``meta`` device from their ``init_kwargs``, so nothing is computed and
large inputs cost nothing; other models run one real forward pass without gradients.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelDescription:
    """What a built model is and costs.

    Attributes:
        model: Class name.
        kind: ``generator`` or ``discriminator``.
        in_bands: Bands it reads.
        out_bands: Bands a generator writes (None for discriminators).
        scale: Upscaling factor of a generator (None for discriminators).
        parameters: Number of parameters (weights under spectral norm counted once).
        input_shape: ``[B, C, H, W]`` the FLOPs were counted for.
        flops: Forward FLOPs for ``input_shape``.
        supports_bf16: Whether bfloat16 is sound (None when the model does not say).
        supports_fp16: Whether float16 is sound (None when the model does not say).
    """

    model: str
    kind: Literal["generator", "discriminator"]
    in_bands: int
    out_bands: int | None
    scale: int | None
    parameters: int
    input_shape: tuple[int, ...]
    flops: int
    supports_bf16: bool | None
    supports_fp16: bool | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """One line, e.g. for the log at the start of training."""
        size = "x".join(str(side) for side in self.input_shape[-2:])
        if self.kind == "generator":
            scale = "?" if self.scale is None else self.scale
            out_bands = "?" if self.out_bands is None else self.out_bands
            what = f"x{scale}, {self.in_bands} -> {out_bands} bands"
        else:
            what = f"{self.in_bands} bands"
        precision = ", ".join(
            name for name, ok in (("bf16", self.supports_bf16), ("fp16", self.supports_fp16)) if ok
        )
        return (
            f"{self.kind} {self.model}: {what}, {format_count(self.parameters)} parameters, "
            f"{self.flops / 1e9:.2f} GFLOPs per {size} input, half precision: {precision or 'no'}"
        )


def format_count(count: int) -> str:
    """``1234567 -> '1.23 M'``, ``12345 -> '12.3 k'``."""
    if count >= 1_000_000:
        return f"{count / 1e6:.2f} M"
    if count >= 1_000:
        return f"{count / 1e3:.1f} k"
    return str(count)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(parameter.numel() for parameter in model.parameters())


def _on_meta(model: nn.Module) -> bool:
    return any(parameter.is_meta for parameter in model.parameters())


def _meta_twin(model: nn.Module) -> nn.Module | None:
    """``model`` rebuilt on the meta device from its ``init_kwargs`` (None if impossible)."""
    kwargs = getattr(model, "init_kwargs", None)
    if not isinstance(kwargs, dict):
        return None
    try:
        with torch.device("meta"):
            twin = type(model)(**kwargs)
    except Exception:
        return None
    return twin.train(model.training)


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs of ``model`` for one input of ``input_shape`` (``[B, C, H, W]``).

    Built-in models are measured on a meta-device twin (no computation, the model's state is
    untouched); others run one forward pass in eval mode without gradients on a zero input.
    """
    shape = tuple(input_shape)
    twin = model if _on_meta(model) else _meta_twin(model)
    counter = FlopCounterMode(display=False)
    if twin is not None:
        with counter, torch.no_grad():
            twin(torch.zeros(shape, device="meta"))
        return int(counter.get_total_flops())
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    training = model.training
    model.eval()
    try:
        with counter, torch.no_grad():
            model(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        model.train(training)
    return int(counter.get_total_flops())


def _int_attribute(model: nn.Module, name: str) -> int | None:
    value = getattr(model, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe_model(
    model: nn.Module,
    input_size: tuple[int, int] = (64, 64),
    in_bands: int | None = None,
    kind: Literal["generator", "discriminator"] | None = None,
) -> ModelDescription:
    """Describe a built generator or discriminator.

    Args:
        model: A generator (has ``scale`` and ``out_bands``) or a discriminator.
        input_size: ``(H, W)`` of the input the FLOPs are counted for (LR for generators, the
            judged image for discriminators), batch 1.
        in_bands: Input bands, for models that do not expose ``in_bands``.
        kind: ``generator`` or ``discriminator``; by default a model exposing ``scale`` and
            ``out_bands`` is a generator.

    Returns:
        The description.

    Raises:
        ValueError: The input band count is unknown.
    """
    bands = _int_attribute(model, "in_bands") or in_bands
    if bands is None:
        raise ValueError(
            f"{type(model).__name__} does not expose `in_bands`; pass in_bands= explicitly"
        )
    out_bands = _int_attribute(model, "out_bands")
    scale = _int_attribute(model, "scale")
    is_generator = kind == "generator" or (kind is None and None not in (out_bands, scale))
    shape = (1, bands, *input_size)
    return ModelDescription(
        model=type(model).__name__,
        kind="generator" if is_generator else "discriminator",
        in_bands=bands,
        out_bands=out_bands if is_generator else None,
        scale=scale if is_generator else None,
        parameters=count_parameters(model),
        input_shape=shape,
        flops=count_flops(model, shape),
        supports_bf16=getattr(model, "supports_bf16", None),
        supports_fp16=getattr(model, "supports_fp16", None),
    )


def summarize_models(
    generator: nn.Module,
    discriminator: nn.Module,
    lr_size: tuple[int, int] = (64, 64),
    in_bands: int | None = None,
    out_bands: int | None = None,
    scale: int | None = None,
) -> str:
    """Two lines describing the generator (at ``lr_size``) and discriminator (at the HR size).

    Args:
        generator: The generator.
        discriminator: The discriminator.
        lr_size: ``(h, w)`` of the LR input, e.g. the training crop divided by the scale.
        in_bands, out_bands, scale: Fallbacks for plugin models that do not expose them
            (e.g. ``Model.in_bands``, ``Model.sr_bands``, ``Generator.scaling_factor``).
    """
    described = describe_model(generator, lr_size, in_bands, kind="generator")
    described = dataclasses.replace(
        described,
        scale=described.scale or scale,
        out_bands=described.out_bands or out_bands,
    )
    factor = described.scale or 1
    hr_size = (lr_size[0] * factor, lr_size[1] * factor)
    judged = describe_model(discriminator, hr_size, described.out_bands, kind="discriminator")
    return described.summary() + "\n" + judged.summary()


NARROW = {"n_channels": 16, "growth_channels": 8}
"""Feature widths the probe tries first: the receptive field does not depend on them."""


def _probe_twin(generator: nn.Module) -> nn.Module:
    """A float64 CPU copy of ``generator`` whose every path carries gradient: positive,
    fan-in-scaled weights, positive biases and no all-zero parameters (a zero-initialised tail,
    exact zeros in trained weights or negative pre-activations at ReLUs would hide paths),
    narrowed to small feature widths where its constructor allows (see :data:`NARROW`)."""
    kwargs = getattr(generator, "init_kwargs", None)
    twin: nn.Module | None = None
    if isinstance(kwargs, dict):
        narrow = {**kwargs, **{k: v for k, v in NARROW.items() if k in kwargs}}
        for candidate in (narrow, kwargs) if narrow != kwargs else (kwargs,):
            try:
                twin = type(generator)(**candidate)
                break
            except Exception:
                continue
    twin = (twin or copy.deepcopy(generator)).to(device="cpu", dtype=torch.float64).eval()
    seed = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in twin.named_parameters():
            if parameter.ndim > 1:
                # unit gain per layer (0.5..1.5 / fan-in) in float64: the gradient of a long path
                # scaled down by residual factors (RRDB's 0.2) stays far from underflow
                fan_in = max(1, parameter[0].numel())
                values = 0.5 + torch.rand(parameter.shape, generator=seed, dtype=torch.float64)
                parameter.copy_(values / fan_in)
            elif name.endswith("bias"):
                parameter.fill_(0.01)
            elif not parameter.any():  # e.g. a zero-initialised layer scale
                parameter.fill_(0.1)
    return twin


def _global_pooling(model: nn.Module, probe: torch.Tensor) -> bool:
    """Whether a submodule reduces feature maps to 1 x 1 (global pooling: channel attention)."""
    found = False

    def hook(_: nn.Module, __: Any, output: Any) -> None:
        nonlocal found
        if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-2:] == (1, 1):
            found = True

    handles = [module.register_forward_hook(hook) for module in model.modules()]
    try:
        with torch.no_grad():
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    return found


PROBE_WIDTH = 8
"""Width (LR pixels) of the probe input: the vertical reach of convolutions does not depend on
the width, and a thin probe costs a fraction of a square one."""


def receptive_radius(
    generator: nn.Module, in_bands: int | None = None, limit: int = 64
) -> int | None:
    """How far (in LR pixels) the generator's output at one pixel reads the input.

    Measured, so it also covers plugin architectures: the gradient of the output block of the
    centre LR pixel with respect to the input is non-zero exactly on the receptive field (on a
    probe copy with positive weights, see :func:`_probe_twin`). Inputs of 2r+1 rows with r =
    8, 16, ... ``limit`` are tried until the field ends inside the input; the radius along
    the columns is taken to be the same (square kernels, as in every built-in generator).

    A model whose output depends on the absolute position (``position_independent = False``,
    e.g. window attention on a fixed window grid) or that pools globally has no radius.

    Returns:
        The radius r (the field is (2r+1) x (2r+1) LR pixels), or None when it reaches beyond
        ``limit`` or the model has global or position-dependent context (channel attention,
        window attention), or the probe cannot run the model (a warning says why).

    Example:
        >>> from ganlab.config import load_config
        >>> from ganlab.models import build_generator
        >>> config = load_config(None, ["Generator.n_channels=4", "Generator.n_blocks=2"])
        >>> receptive_radius(build_generator(config))  # 9x9 head/tail, 5 3x3 convs, bicubic skip
        12
    """
    bands = _int_attribute(generator, "in_bands") or in_bands
    if bands is None:
        raise ValueError(
            f"{type(generator).__name__} does not expose `in_bands`; pass in_bands= explicitly"
        )
    if getattr(generator, "position_independent", True) is False:
        return None
    wrapped = getattr(generator, "wrapped_prefix", None) and getattr(generator, "network", None)
    if isinstance(wrapped, nn.Module):
        # the block-mean LR-consistency projection changes each output block by its own LR
        # pixel only, so the wrapper reads as far as its network; probing the wrapper itself
        # would miss that (the projection keeps block sums, so the probe's sums cancel)
        return receptive_radius(wrapped, bands, limit)
    try:
        return _measured_radius(_probe_twin(generator), bands, limit)
    except Exception as exc:  # a plugin the probe cannot run: treat it as unbounded
        log.warning(
            "cannot measure the receptive field of %s (%s: %s); treating it as unbounded",
            type(generator).__name__, type(exc).__name__, exc,
        )  # fmt: skip
        return None


def _measured_radius(twin: nn.Module, bands: int, limit: int) -> int | None:
    if _global_pooling(twin, torch.rand(1, bands, 17, PROBE_WIDTH, dtype=torch.float64)):
        return None
    radius = 8
    while True:
        side = 2 * radius + 1
        seed = torch.Generator().manual_seed(1)
        shape = (1, bands, side, PROBE_WIDTH)
        lr = (0.5 + torch.rand(shape, generator=seed, dtype=torch.float64)).requires_grad_(True)
        sr = twin(lr)
        scale = sr.shape[-2] // side
        sr[..., radius * scale : (radius + 1) * scale, :].sum().backward()
        assert lr.grad is not None
        reached = torch.nonzero(lr.grad.abs().sum(dim=(0, 1, 3)) > 0)
        extent = int((reached - radius).abs().max()) if reached.numel() else 0
        if extent < radius:
            return extent
        if radius >= limit:
            return None
        radius = min(2 * radius, limit)
