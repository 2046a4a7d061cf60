"""Standalone generator files (TorchScript, ONNX) that map physical LR to physical SR.

:class:`PhysicalGenerator` joins the LR normaliser, the generator and the HR denormaliser, so an
exported file needs neither ganlab nor the training config: it takes float32 ``[B, C_in, h, w]``
in the data's physical units and returns ``[B, C_out, h*s, w*s]`` in them.

Both exporters trace one run of the Python code, so every export is checked before it is
written: the serialised file is loaded back (``torch.jit.load``; onnxruntime on the CPU) and run
on the example and on :func:`second_input` (another batch and spatial size). A file that does not
reproduce the module is not written (:class:`~ganlab.errors.OutputError`); this catches
generators whose control flow depends on the input size. SwinIR, which pads to a multiple of its
window, passes when the example's sides are not multiples of the window: the padding is then
traced as a function of the size.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import io
import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.data.normalizers import Normalizer
from ganlab.errors import OutputError
from ganlab.files import atomic_write

RTOL = 1e-4
"""Allowed difference relative to each expected value."""
ATOL = 1e-4
"""Allowed difference relative to the largest expected magnitude (outputs are in physical units,
so no one absolute tolerance fits all data)."""
TORCHSCRIPT_METADATA = "ganlab_metadata.json"
"""Extra file of a TorchScript export with the metadata as JSON (read it with
``torch.jit.load(path, _extra_files={TORCHSCRIPT_METADATA: ""})``)."""
ONNX_INSTALL = "pip install 'opensr-gan-lab[onnx]'"
ONNX_AXES = {
    "lr": {0: "batch", 2: "height", 3: "width"},
    "sr": {0: "batch", 2: "sr_height", 3: "sr_width"},
}


class PhysicalGenerator(nn.Module):
    """A generator with its normalisers: physical LR in, physical SR out.

    ``forward(lr) = hr_normalizer.denormalize(generator(lr_normalizer.normalize(lr)))``, shapes
    ``[B, C_in, h, w] -> [B, C_out, h*s, w*s]``, float32.

    Args:
        generator: The network (in eval mode for inference), on normalised values.
        lr_normalizer: Maps the physical input to network values.
        hr_normalizer: Maps the network output back to physical values.

    Example:
        >>> from ganlab.config import load_config
        >>> from ganlab.data.normalizers import AffineNormalizer
        >>> from ganlab.models import build_generator
        >>> config = load_config(None, ["Generator.n_channels=8", "Generator.n_blocks=1"])
        >>> reflectance = AffineNormalizer([0.0], [10000.0])
        >>> model = PhysicalGenerator(build_generator(config).eval(), reflectance, reflectance)
        >>> model(torch.full((1, 3, 8, 8), 2500.0)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(
        self, generator: nn.Module, lr_normalizer: Normalizer, hr_normalizer: Normalizer
    ) -> None:
        super().__init__()
        self.generator = generator
        self.lr_normalizer = lr_normalizer
        self.hr_normalizer = hr_normalizer

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """Physical ``[B, C_in, h, w]`` -> physical ``[B, C_out, h*s, w*s]``."""
        return self.hr_normalizer.denormalize(self.generator(self.lr_normalizer.normalize(lr)))


def verify_outputs(
    expected: torch.Tensor,
    actual: np.ndarray | torch.Tensor,
    what: str,
    path: str | Path,
    *,
    advice: str = "",
) -> None:
    """Check that an exported file's output reproduces the module's.

    Every value must satisfy ``|actual - expected| <= ATOL * max|expected| + RTOL * |expected|``
    (NaN never does).

    Args:
        expected: The module's output.
        actual: The file's output for the same input.
        what: The artefact and input, for the message (``ONNX export at input [2, 3, 24, 20]``).
        path: The file, for the message.
        advice: Appended to the message (what to do instead).

    Raises:
        OutputError: The shapes differ or a value is outside the tolerance.
    """
    reference = expected.detach().cpu().double()
    result = torch.as_tensor(actual).detach().cpu().double()
    suffix = f"; {advice}" if advice else ""
    if result.shape != reference.shape:
        raise OutputError(
            f"{path} ({what}): output shape {list(result.shape)} differs from the module's "
            f"{list(reference.shape)}{suffix}"
        )
    # an all-zero output still gets a non-zero tolerance
    magnitude = (float(reference.abs().max()) if reference.numel() else 0.0) or 1.0
    difference = (result - reference).abs()
    if not bool((difference <= ATOL * magnitude + RTOL * reference.abs()).all()):
        worst = float(difference.nan_to_num(nan=float("inf")).max())
        raise OutputError(
            f"{path} ({what}) does not reproduce the module: outputs differ by up to {worst:.3g} "
            f"(allowed: {ATOL:g} x the largest output {magnitude:.3g} + {RTOL:g} relative)"
            f"{suffix}"
        )


def second_input(example: torch.Tensor) -> torch.Tensor:
    """The example grown by 8 rows and 4 columns (edge values repeated) and stacked with its
    mirror image: another batch and spatial size, with values like the example's.

    Shapes: ``[B, C, h, w] -> [2B, C, h + 8, w + 4]``.
    """
    if example.ndim != 4 or not example.is_floating_point():
        raise ValueError(
            f"need a float [B, C, h, w] example, got {example.dtype} {list(example.shape)}"
        )
    grown = F.pad(example, (0, 4, 0, 8), mode="replicate")
    return torch.cat([grown, grown.flip(-1)])


@contextlib.contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd while exporting; each submodule's mode is restored after."""
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for sub, training in modes.items():
            sub.training = training


@contextlib.contextmanager
def _tracer_notes() -> Iterator[list[str]]:
    """Collect the tracer's warnings (filled in on exit) for the error message: the check on a
    second input is what decides. Deprecation notices of torch.jit, the TorchScript-based ONNX
    exporter and torch internals are dropped, since the user asked for these formats; other
    warnings are shown as usual."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    for warning in caught:
        if issubclass(warning.category, torch.jit.TracerWarning):
            notes.append(str(warning.message).split(". ")[0])
        elif not issubclass(warning.category, (DeprecationWarning, FutureWarning)):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _reason(exc: Exception) -> str:
    """The last line of an error (TorchScript puts a traceback before it), at most 300 chars."""
    reason = str(exc).strip().split("\n")[-1]
    return reason if len(reason) <= 300 else "..." + reason[-300:]


def _check_artefact(
    module: nn.Module,
    run: Callable[[torch.Tensor], np.ndarray | torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    what: str,
    path: Path,
    notes: list[str],
    alternative: str,
) -> None:
    """Compare ``run`` (the loaded file) with ``module`` on each input; a run that fails counts
    as a mismatch. ``notes`` (the tracer's warnings) and ``alternative`` (the other format) go
    into the message."""
    warned = f" (the tracer warned: {notes[0]})" if notes else ""
    advice = (
        "the file was not written; the model's Python code probably depends on the input size"
        f"{warned}. Use {alternative} or the safetensors export, or (SwinIR) an example whose "
        "sides are not multiples of the window"
    )
    for lr in inputs:
        shape = f"at input {list(lr.shape)}"
        try:
            expected = module(lr)
        except Exception as exc:  # the model's own failure, whatever its type
            raise OutputError(
                f"{type(module).__name__} itself fails {shape} ({_reason(exc)}); exports are "
                "checked at the example's size and at 8 rows and 4 columns more: give an "
                "example for which both work"
            ) from None
        try:
            actual = run(lr)
        except Exception as exc:  # onnxruntime and TorchScript raise their own error types
            raise OutputError(f"{path} ({what} {shape}) fails: {_reason(exc)}; {advice}") from None
        verify_outputs(expected, actual, f"{what} {shape}", path, advice=advice)


def export_torchscript(
    module: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Trace ``module`` to a TorchScript file, checked before it is written (atomically).

    Args:
        module: Maps ``[B, C, h, w]`` to one tensor (e.g. a :class:`PhysicalGenerator`).
        path: The ``.pt`` file.
        example: An input, e.g. ``[1, C_in, 64, 64]`` in physical units.
        metadata: Stored as the JSON extra file :data:`TORCHSCRIPT_METADATA`.

    Returns:
        ``path``.

    Raises:
        OutputError: Tracing fails, the traced file does not reproduce ``module`` (then nothing
            is written; the message says what else to try), or the file cannot be written.
    """
    path, inputs = Path(path), (example, second_input(example))
    with _evaluating(module):
        with _tracer_notes() as notes:
            try:
                traced = torch.jit.trace(module, example, check_trace=False)
                buffer = io.BytesIO()
                extra = {TORCHSCRIPT_METADATA: json.dumps(dict(metadata or {}))}
                torch.jit.save(traced, buffer, _extra_files=extra)
                buffer.seek(0)
                loaded = torch.jit.load(buffer, map_location=example.device)
            except Exception as exc:  # the tracer and the model raise many types
                raise OutputError(
                    f"cannot trace {type(module).__name__} to TorchScript for {path} "
                    f"({_reason(exc)}); use --format onnx or the safetensors export"
                ) from None
        what = "TorchScript export"
        _check_artefact(module, loaded, inputs, what, path, notes, "--format onnx")
    artefact = buffer.getvalue()
    return atomic_write(path, lambda partial: partial.write_bytes(artefact), "TorchScript export")


def _onnx_bytes(module: nn.Module, example: torch.Tensor, opset: int | None) -> bytes:
    """The serialised ONNX model of ``module`` with dynamic batch, height and width."""
    export: Callable[..., object] = torch.onnx.export
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # torch >= 2.9 defaults to the torch.export-based exporter (see export_onnx for why
        # not that one); torch < 2.5 has only this one and no choice to make
        export = functools.partial(torch.onnx.export, dynamo=False)
    buffer = io.BytesIO()
    names = {"input_names": ["lr"], "output_names": ["sr"]}
    export(module, (example,), buffer, opset_version=opset, dynamic_axes=ONNX_AXES, **names)
    return buffer.getvalue()


def export_onnx(
    module: nn.Module,
    path: str | Path,
    example: torch.Tensor,
    opset: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export ``module`` to ONNX (input ``lr``, output ``sr``, dynamic batch, height and width),
    checked in onnxruntime before it is written (atomically).

    It uses torch's TorchScript-based exporter: in torch 2.13 the ``torch.export``-based one
    (the default since 2.9) gives the same graphs for the built-in generators but takes about
    ten times longer (seconds per generator), needs onnxscript and is absent before torch 2.5.
    Export a module on the CPU (as :func:`ganlab.export.load_generator` loads it by default):
    on a GPU, TF32 convolutions can differ from onnxruntime's float32 by more than the check
    allows.

    Args:
        module: Maps ``[B, C, h, w]`` to one tensor (e.g. a :class:`PhysicalGenerator`).
        path: The ``.onnx`` file.
        example: An input, e.g. ``[1, C_in, 64, 64]`` in physical units.
        opset: ONNX opset; None uses the exporter's default.
        metadata: Stored as the model's ``metadata_props``.

    Returns:
        ``path``.

    Raises:
        OutputError: onnx or onnxruntime is missing, export fails, the file does not reproduce
            ``module`` (then nothing is written), or the file cannot be written.
    """
    path, inputs = Path(path), (example, second_input(example))
    try:
        onnx, onnxruntime = (importlib.import_module(name) for name in ("onnx", "onnxruntime"))
    except ImportError as exc:
        raise OutputError(
            f"ONNX export needs onnx and onnxruntime ({exc}): {ONNX_INSTALL}"
        ) from None
    with _evaluating(module):
        try:
            with _tracer_notes() as notes:
                model = onnx.load_from_string(_onnx_bytes(module, example, opset))
            onnx.helper.set_model_props(model, dict(metadata or {}))
            artefact = bytes(model.SerializeToString())
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 4  # our error reports failures; ORT's log would repeat
            session = onnxruntime.InferenceSession(
                artefact, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # torch.onnx, onnx and onnxruntime raise many error types
            raise OutputError(
                f"cannot export {type(module).__name__} to ONNX for {path} "
                f"({_reason(exc)}); use --format torchscript or the safetensors export"
            ) from None

        def run(lr: torch.Tensor) -> np.ndarray:
            return session.run(["sr"], {"lr": lr.detach().cpu().float().numpy()})[0]

        alternative = "--format torchscript"
        _check_artefact(module, run, inputs, "ONNX export", path, notes, alternative)
    return atomic_write(path, lambda partial: partial.write_bytes(artefact), "ONNX export")
