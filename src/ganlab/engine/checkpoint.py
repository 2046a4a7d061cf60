"""Writing checkpoints (atomically, with generator exports) and reading weights from them
with precise errors."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from packaging.version import Version

from ganlab._lightning import IS_LIGHTNING_2, LIGHTNING_VERSION, TorchCheckpointIO, pl
from ganlab.errors import CheckpointError
from ganlab.export import read_export, remove_checkpoint_exports, write_checkpoint_exports
from ganlab.files import atomic_write
from ganlab.models.prepare import unwrapped
from ganlab.models.weights import load_generator_weights, state_dict_problems


class ExportingCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O plus the generator-only exports beside every checkpoint.

    A checkpoint is written to ``<name>.partial`` and renamed, so an interrupted save never
    leaves a truncated ``.ckpt`` (the previous file stays intact). Removing a checkpoint (top-k
    rotation) removes its exports too.

    Args:
        export_generator: Write ``X.generator.safetensors`` (and ``X.generator-ema...``) beside
            each ``X.ckpt`` (see :mod:`ganlab.export`).
    """

    def __init__(self, export_generator: bool = True) -> None:
        super().__init__()
        self.export_generator = export_generator

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("ExportingCheckpointIO takes no storage_options")
        path = Path(path)
        atomic_write(path, lambda partial: torch.save(checkpoint, partial), "checkpoint")
        if self.export_generator:
            write_checkpoint_exports(checkpoint, path)

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        remove_checkpoint_exports(path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file safely (``weights_only=True``) onto the CPU.

    Raises:
        CheckpointError: Missing file, unreadable/corrupt file, or no ``state_dict`` in it.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = next(
            (line for line in lines if "Unsupported global" in line), lines[0] if lines else ""
        )
        first = first.split(" was not an allowed global")[0]
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it holds objects other than tensors and plain "
            "values, which are not loaded (weights_only=True: nothing in a checkpoint runs "
            f"code). It was not written by OpenSR GAN Lab, or was changed since ({first})"
        ) from None
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
            "is it a complete Lightning .ckpt file?"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"checkpoint {path} holds no 'state_dict'; expected a Lightning .ckpt"
        )
    return checkpoint


def load_weights(module: pl.LightningModule, path: str | Path) -> dict[str, Any]:
    """Load the ``state_dict`` of the checkpoint at ``path`` into ``module`` (strictly).

    Returns:
        The whole checkpoint mapping (for callers that need more than the weights).

    Raises:
        CheckpointError: Keys or shapes do not match; the message names the layers.
    """
    checkpoint = read_checkpoint(path)
    state = checkpoint["state_dict"]
    _check_fits(module.state_dict(), state, path)
    module.load_state_dict(state)
    module.on_load_checkpoint(checkpoint)
    return checkpoint


def check_resumable(module: pl.LightningModule, path: str | Path) -> None:
    """Fail before training when the checkpoint to resume does not fit the configured model,
    the optimisation mode or the installed Lightning (Lightning would only notice after setting
    everything up, or not at all).

    Raises:
        CheckpointError: Weights that do not fit, another optimisation mode, or a checkpoint of
            Lightning 2.x resumed under 1.x.
    """
    checkpoint = read_checkpoint(path)
    _check_fits(module.state_dict(), checkpoint["state_dict"], path)
    problem = resume_problem(checkpoint, not module.automatic_optimization, path)
    if problem is not None:
        raise CheckpointError(problem)


def _mode_name(manual: bool) -> str:
    return "alternating (manual, two optimisers)" if manual else "joint (automatic, one optimiser)"


def checkpoint_mode(checkpoint: dict[str, Any]) -> bool | None:
    """Whether the checkpoint was trained in the alternating (manual) mode: as recorded, else
    from its number of optimiser states (None when it holds none)."""
    recorded = (checkpoint.get("ganlab") or {}).get("manual_optimization")
    if recorded is not None:
        return bool(recorded)
    states = checkpoint.get("optimizer_states") or []
    return None if not states else len(states) == 2


def resume_problem(checkpoint: dict[str, Any], manual: bool, path: str | Path) -> str | None:
    """Why this run cannot resume ``checkpoint`` (None: it can).

    A checkpoint resumes only in the optimisation mode it was trained in (the optimiser states
    differ), and a checkpoint of Lightning 2.x does not resume under 1.x: its loop state has
    another layout, which 1.x would read as a fresh start of its step counters. Lightning 2.x
    upgrades 1.x checkpoints itself.
    """
    written = checkpoint.get("pytorch-lightning_version")
    if written is not None and Version(str(written)).major >= 2 and not IS_LIGHTNING_2:
        return (
            f"checkpoint {path} was written by Lightning {written}; pytorch-lightning "
            f"{LIGHTNING_VERSION} cannot resume it (the loop state of 2.x has another layout, "
            "and the step counters would restart). Resume it with pytorch-lightning >= 2.6, "
            "or start a new run from its weights: --set Model.load_checkpoint=" + str(path)
        )
    trained = checkpoint_mode(checkpoint)
    if trained is not None and trained != manual:
        return (
            f"checkpoint {path} was trained in the {_mode_name(trained)} mode, but this run "
            f"uses the {_mode_name(manual)} mode; set Training.manual_optimization: "
            f"{str(trained).lower()} to resume it (unset, the mode follows the installed "
            "Lightning: joint on >= 2, alternating on 1.x), or start a new run from its "
            "weights with Model.load_checkpoint"
        )
    return None


def _check_fits(own: dict[str, Any], state: dict[str, Any], path: str | Path) -> None:
    problems = state_dict_problems(own, state, "checkpoint")
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not fit the configured model:\n"
            + "\n".join(problems)
            + "\nuse the config the checkpoint was trained with"
        )


def load_start_weights(module: Any, path: str | Path) -> list[str]:
    """``Model.load_checkpoint``: load weights only (no optimiser state, counters or EMA
    history) into a fresh module.

    A Lightning ``.ckpt`` gives the generator and, when present, the discriminator; a generator
    export (``.safetensors``) gives the generator. The EMA, if enabled, restarts from the loaded
    generator weights.

    Returns:
        The networks loaded (``generator``, ``discriminator``).

    Raises:
        CheckpointError: Unreadable file, or weights that do not fit the configured networks
            (named by layer).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        states = {"generator": read_export(path)[1]}
    else:
        state = read_checkpoint(path)["state_dict"]
        states = {
            name: {k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(f"{name}.")}
            for name in ("generator", "discriminator")
        }
        if not states["generator"]:
            raise CheckpointError(f"checkpoint {path} holds no generator weights")
        if not states["discriminator"]:
            del states["discriminator"]
    for name, weights in states.items():
        try:
            load_generator_weights(unwrapped(getattr(module, name)), weights)
        except CheckpointError as exc:
            raise CheckpointError(f"Model.load_checkpoint {path} ({name}): {exc}") from None
    if getattr(module, "ema", None) is not None:
        module.ema.module.load_state_dict(unwrapped(module.generator).state_dict())
    return list(states)
