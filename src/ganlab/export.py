"""Generator-only weight files (safetensors) that carry what rebuilds the generator.

Every training checkpoint ``X.ckpt`` gets two exports beside it (``Callbacks.checkpoint.
export_generator``): ``X.generator.safetensors`` with the raw generator weights and, when the
run keeps an EMA, ``X.generator-ema.safetensors`` with the averaged ones. They hold no pickle:
tensors plus string metadata, namely

* ``format`` (``ganlab-generator``) and ``format_version``;
* ``weights``: ``raw`` or ``ema``;
* ``generator_class``: ``package.module:Class`` and ``init_kwargs`` (JSON), which rebuild the
  network (``Class(**init_kwargs)``);
* ``config``: JSON of the ``Model`` and ``Generator`` sections and ``Data.normalization``,
  ``Data.bands`` and ``Data.slice_axis``, so inference reads the same bands and slices and
  normalises inputs and denormalises outputs as in training;
* ``step`` and ``epoch`` of the checkpoint.

:func:`load_generator` reads such a file back into a ready network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ganlab.config.schema import Config
from ganlab.errors import CheckpointError, ConfigError
from ganlab.files import atomic_write
from ganlab.models.generators.consistency import nested_generator_classes
from ganlab.models.prepare import network_class, unwrapped
from ganlab.models.weights import load_generator_weights
from ganlab.registry import import_object

EXPORT_FORMAT = "ganlab-generator"
FORMAT_VERSION = "1"
RAW_SUFFIX = ".generator.safetensors"
EMA_SUFFIX = ".generator-ema.safetensors"

WeightsKind = Literal["raw", "ema"]


def export_paths(checkpoint_path: str | Path) -> dict[WeightsKind, Path]:
    """The export files that belong to ``checkpoint_path`` (``X.ckpt``)."""
    path = Path(checkpoint_path)
    stem = path.name[: -len(".ckpt")] if path.name.endswith(".ckpt") else path.name
    return {"raw": path.with_name(stem + RAW_SUFFIX), "ema": path.with_name(stem + EMA_SUFFIX)}


def generator_description(generator: nn.Module, config: Config) -> dict[str, Any]:
    """What rebuilds ``generator``: its class path, constructor arguments and the config
    sections inference needs (stored in checkpoints under ``ganlab.generator``)."""
    network = unwrapped(generator)
    cls = network_class(network)  # the real class also under FSDP's generated wrapper class
    init_kwargs = getattr(network, "init_kwargs", None)
    if init_kwargs is None:
        raise CheckpointError(
            f"{cls.__name__} does not record its constructor arguments; derive it from "
            "ganlab.models.SRGenerator (or RecordsInitArgs) so it can be exported"
        )
    return {
        "generator_class": f"{cls.__module__}:{cls.__qualname__}",
        "init_kwargs": init_kwargs,
        "config": {
            "Model": config.Model.model_dump(mode="json", include={"in_bands", "out_bands"}),
            "Generator": config.Generator.model_dump(mode="json"),
            "Data": {
                "normalization": config.Data.normalization.model_dump(mode="json"),
                "bands": config.Data.bands,
                "slice_axis": config.Data.slice_axis,
            },
        },
    }


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    atomic_write(
        path,
        lambda partial: save_file(tensors, str(partial), metadata=metadata),
        "generator export",
    )


def save_generator(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    description: Mapping[str, Any],
    weights: WeightsKind,
    *,
    step: int | None = None,
    epoch: int | None = None,
) -> Path:
    """Write one generator export (to a temporary name, then renamed).

    Args:
        path: Target ``.safetensors`` file.
        state_dict: Generator weights and buffers (keys as in the generator itself).
        description: :func:`generator_description` of the generator.
        weights: ``raw`` or ``ema``.
        step: Generator steps of the training state, if known.
        epoch: Epoch of the training state, if known.
    """
    path = Path(path)
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in state_dict.items()}
    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": FORMAT_VERSION,
        "weights": weights,
        "generator_class": str(description["generator_class"]),
        "init_kwargs": json.dumps(description["init_kwargs"]),
        "config": json.dumps(description["config"]),
        "step": "" if step is None else str(step),
        "epoch": "" if epoch is None else str(epoch),
    }
    _atomic_save(tensors, path, metadata)
    return path


def checkpoint_generator_weights(
    checkpoint: Mapping[str, Any], use_ema: bool = True
) -> tuple[dict[str, torch.Tensor], WeightsKind]:
    """The generator weights of a Lightning checkpoint mapping of ``ganlab train`` and their
    kind: the EMA ones when ``use_ema`` and the checkpoint has them, else the raw ones
    (``state_dict`` keys ``generator.*``, the prefix removed)."""
    ema = (checkpoint.get("ganlab") or {}).get("ema")
    if use_ema and ema is not None:
        return dict(ema["module"]), "ema"
    prefix = "generator."
    raw = {
        key[len(prefix) :]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(prefix)
    }
    return raw, "raw"


def write_checkpoint_exports(
    checkpoint: Mapping[str, Any], checkpoint_path: str | Path
) -> list[Path]:
    """Write the raw (and EMA) generator exports of a Lightning checkpoint mapping.

    Uses ``checkpoint["state_dict"]`` (keys ``generator.*``) and the ``ganlab`` state stored
    by :class:`ganlab.engine.SRGANModule` (generator description, EMA). Returns the files
    written (none for a checkpoint without that state).
    """
    state = checkpoint.get("ganlab") or {}
    description = state.get("generator")
    if description is None:
        return []
    step, epoch = state.get("step_count"), checkpoint.get("epoch")
    paths = export_paths(checkpoint_path)
    raw, _ = checkpoint_generator_weights(checkpoint, use_ema=False)
    written = [save_generator(paths["raw"], raw, description, "raw", step=step, epoch=epoch)]
    ema, kind = checkpoint_generator_weights(checkpoint)
    if kind == "ema":
        written.append(
            save_generator(paths["ema"], ema, description, "ema", step=step, epoch=epoch)
        )
    return written


def remove_checkpoint_exports(checkpoint_path: str | Path) -> None:
    """Delete the exports of ``checkpoint_path`` (those that exist)."""
    for path in export_paths(checkpoint_path).values():
        path.unlink(missing_ok=True)


@dataclass
class LoadedGenerator:
    """A generator rebuilt from an export file.

    Attributes:
        generator: The network in eval mode with the exported weights.
        weights: ``raw`` or ``ema``.
        config: The stored ``Model``, ``Generator`` and ``Data.normalization`` sections.
        step: Generator steps of the training state (None if unknown).
        epoch: Epoch of the training state (None if unknown).
    """

    generator: nn.Module
    weights: WeightsKind
    config: dict[str, Any]
    step: int | None
    epoch: int | None


def read_export_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of an export file, checked to be one.

    Raises:
        CheckpointError: Missing file, not a safetensors file, or not a generator export.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"generator file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not an OpenSR GAN Lab generator export (no "
            f"format={EXPORT_FORMAT} in its metadata); use a `*.generator.safetensors` or "
            "`*.generator-ema.safetensors` file written beside a training checkpoint"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has export format version {metadata.get('format_version')!r}; this "
            f"version of ganlab reads version {FORMAT_VERSION}"
        )
    return metadata


def read_export(path: str | Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata (checked, see :func:`read_export_metadata`) and the weights of an export
    file, on the CPU."""
    metadata = read_export_metadata(path)
    return metadata, load_file(str(path), device="cpu")


OWN_GENERATORS = "ganlab.models.generators."
"""Module prefix of the generators this package ships (imported from exports without asking)."""


def _import_class(path: str, source: Path, allow_plugins: bool = False) -> type[nn.Module]:
    if not path.startswith(OWN_GENERATORS) and not allow_plugins:
        raise CheckpointError(
            f"{source} names the generator class {path}, which is not one of OpenSR GAN Lab's; "
            "importing it would run that package's code. If you trust the file and the "
            "package, load it with load_generator(path, allow_plugins=True)"
        )
    try:
        return import_object(path, "generator_class")
    except ConfigError as exc:
        raise CheckpointError(
            f"{source}: {exc}; install the package that defines the generator"
        ) from None


def load_generator(
    path: str | Path, device: str | torch.device = "cpu", allow_plugins: bool = False
) -> LoadedGenerator:
    """Rebuild the generator stored in an export file, in eval mode on ``device``.

    The file names the generator's class; only OpenSR GAN Lab's own generators are imported
    unless ``allow_plugins`` is true (a plugin class's package runs code when imported, so an
    export file from elsewhere must not choose it silently).

    The file is typically one written beside a checkpoint, e.g.
    ``runs/quickstart/checkpoints/last.generator-ema.safetensors``.

    Example:
        >>> import tempfile
        >>> from ganlab.config import load_config
        >>> from ganlab.models import build_generator
        >>> config = load_config(None, ["Generator.n_channels=8", "Generator.n_blocks=1"])
        >>> generator = build_generator(config)
        >>> path = save_generator(
        ...     Path(tempfile.mkdtemp()) / "last.generator-ema.safetensors",
        ...     generator.state_dict(),
        ...     generator_description(generator, config),
        ...     "ema",
        ...     step=800,
        ... )
        >>> loaded = load_generator(path)
        >>> loaded.weights, loaded.step, type(loaded.generator).__name__
        ('ema', 800, 'SRResNet')
        >>> lr_normalized = torch.rand(1, 3, 16, 16)  # normalised as in training
        >>> loaded.generator(lr_normalized).shape
        torch.Size([1, 3, 64, 64])
    """
    path = Path(path)
    metadata, state = read_export(path)
    generator_class = _import_class(metadata["generator_class"], path, allow_plugins)
    init_kwargs = json.loads(metadata["init_kwargs"])
    for nested in nested_generator_classes(init_kwargs):  # e.g. inside the LR-consistency layer
        _import_class(nested, path, allow_plugins)
    generator = generator_class(**init_kwargs)
    try:
        load_generator_weights(generator, state)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return LoadedGenerator(
        generator=generator.to(device).eval(),
        weights=metadata["weights"],  # type: ignore[arg-type]
        config=json.loads(metadata["config"]),
        step=int(metadata["step"]) if metadata.get("step") else None,
        epoch=int(metadata["epoch"]) if metadata.get("epoch") else None,
    )
