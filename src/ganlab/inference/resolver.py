"""The Python API of inference: :class:`SuperResolver` applies a trained generator to images in
physical units (normalise -> generator -> denormalise), whole or tile by tile."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import nn

from ganlab.config.load import validate_config
from ganlab.config.normalization import NormalizationConfig
from ganlab.data.normalizers import Normalizer, build_branch_normalizer
from ganlab.engine.checkpoint import read_checkpoint
from ganlab.errors import ArgumentError, CheckpointError, DataError
from ganlab.export import checkpoint_generator_weights, load_generator
from ganlab.inference.tiling import ArraySink, ArraySource, Tiling, reflect_indices, run_tiled
from ganlab.inference.values import cast_to_dtype
from ganlab.models import build_generator
from ganlab.models.describe import receptive_radius
from ganlab.models.weights import load_generator_weights

log = logging.getLogger(__name__)

Precision = Literal["32", "bf16-mixed", "16-mixed"]
PRECISIONS: dict[str, Precision] = {
    "32": "32",
    "32-true": "32",
    "fp32": "32",
    "bf16": "bf16-mixed",
    "bf16-mixed": "bf16-mixed",
    "16": "16-mixed",
    "16-mixed": "16-mixed",
}
"""Accepted ``precision`` values and what they mean (autocast for the mixed ones)."""

Image = TypeVar("Image", np.ndarray, torch.Tensor)


def _resolve_device(device: str | torch.device) -> torch.device:
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ArgumentError(
            f"device {device!r} is not a device name; use cpu, cuda, cuda:<index> or mps"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ArgumentError(f"device {device!r}: this torch build sees no CUDA GPU; use cpu")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ArgumentError(
            f"device {device!r}: there are {torch.cuda.device_count()} CUDA devices"
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ArgumentError(f"device {device!r}: MPS is not available here; use cpu")
    return resolved


def _resolve_precision(precision: str, device: torch.device, generator: nn.Module) -> Precision:
    if precision not in PRECISIONS:
        raise ArgumentError(
            f"precision {precision!r} is not supported for inference; use one of "
            f"{', '.join(sorted(set(PRECISIONS.values())))}"
        )
    chosen = PRECISIONS[precision]
    if chosen == "16-mixed" and device.type != "cuda":
        raise ArgumentError(
            f"precision 16-mixed needs a CUDA device (got {device}); use bf16-mixed or 32"
        )
    flag = {"16-mixed": "supports_fp16", "bf16-mixed": "supports_bf16"}.get(chosen)
    if flag is not None and getattr(generator, flag, True) is False:
        raise ArgumentError(
            f"{type(generator).__name__} does not support precision {chosen} ({flag} is "
            "false); use 32" + (" or bf16-mixed" if chosen == "16-mixed" else "")
        )
    return chosen


@lru_cache(maxsize=16)
def _cached_radius(generator_class: type, init_kwargs: str, in_bands: int) -> int | None:
    return receptive_radius(generator_class(**json.loads(init_kwargs)), in_bands)


def generator_radius(generator: nn.Module, in_bands: int) -> int | None:
    """:func:`~ganlab.models.describe.receptive_radius` of ``generator`` (cached per
    architecture: it does not depend on the weights)."""
    kwargs = getattr(generator, "init_kwargs", None)
    try:
        key = json.dumps(kwargs, sort_keys=True) if isinstance(kwargs, dict) else None
    except TypeError:
        key = None
    if key is None:
        return receptive_radius(generator, in_bands)
    return _cached_radius(type(generator), key, in_bands)  # type: ignore[arg-type]


class SuperResolver:
    """A trained generator ready to super-resolve images in physical units.

    Build it with :meth:`from_checkpoint`. Calling it on an image ``[C, H, W]`` (or a batch
    ``[B, C, H, W]``), a NumPy array or a tensor in the units the model was trained on
    (reflectance, Hounsfield units, 0..255 ...), returns SR ``[C_out, H*s, W*s]`` in the same
    units: float inputs give float32, integer inputs come back in their own dtype, rounded and
    clipped to its range.

    Large images are processed tile by tile (see :mod:`ganlab.inference.tiling`): the default
    tile and overlap follow the generator's receptive field, so tiles reproduce whole-image
    inference; memory then depends on the tile, not on the image.

    Args:
        generator: The generator (normalised LR -> normalised SR).
        lr_normalizer: Maps the input to network values.
        hr_normalizer: Maps network output back to physical values.
        scale: Upscaling factor.
        in_bands: Bands the generator reads.
        out_bands: Bands it writes.
        device: Where it runs.
        precision: ``32``, ``bf16-mixed`` or ``16-mixed`` (CUDA only).
        weights: ``raw`` or ``ema`` (for messages and file tags).
        source: The file it was loaded from.
        bands: Band selection of the training data (``Data.bands``), applied to files with
            more bands than the model reads.
        slice_axis: The NIfTI slice axis of the training data.

    Example:
        >>> import tempfile
        >>> from ganlab.config import load_config
        >>> from ganlab.export import generator_description, save_generator
        >>> config = load_config(None, ["Generator.n_channels=8", "Generator.n_blocks=1",
        ...                             "Data.normalization={type: zero_one, max_value: 255}"])
        >>> generator = build_generator(config)
        >>> path = save_generator(Path(tempfile.mkdtemp()) / "last.generator-ema.safetensors",
        ...                       generator.state_dict(), generator_description(generator, config),
        ...                       "ema")
        >>> resolver = SuperResolver.from_checkpoint(path)
        >>> photo = np.random.default_rng(0).integers(0, 256, (3, 40, 30), dtype=np.uint8)
        >>> sr = resolver(photo)
        >>> sr.shape, sr.dtype
        ((3, 160, 120), dtype('uint8'))
    """

    def __init__(
        self,
        generator: nn.Module,
        lr_normalizer: Normalizer,
        hr_normalizer: Normalizer,
        *,
        scale: int,
        in_bands: int,
        out_bands: int,
        device: str | torch.device = "cpu",
        precision: str = "32",
        weights: str = "raw",
        source: Path | None = None,
        bands: Sequence[int | str] | None = None,
        slice_axis: int = 2,
    ) -> None:
        self.device = _resolve_device(device)
        self.precision = _resolve_precision(precision, self.device, generator)
        self.generator = generator.to(self.device).eval()
        self.lr_normalizer = lr_normalizer.to(self.device)
        self.hr_normalizer = hr_normalizer.to(self.device)
        self.scale = scale
        self.in_bands = in_bands
        self.out_bands = out_bands
        self.weights = weights
        self.source = source
        self.bands = list(bands) if bands is not None else None
        self.slice_axis = slice_axis

    # ---------------------------------------------------------------------------- loading

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device = "cpu",
        use_ema: bool = True,
        precision: str = "32",
        allow_plugins: bool = False,
    ) -> SuperResolver:
        """Load a Lightning checkpoint (``.ckpt``) of ``ganlab train`` or a generator export
        (``*.generator[-ema].safetensors``).

        Args:
            path: The file.
            device: ``cpu``, ``cuda``, ``cuda:1``, ``mps`` ...
            use_ema: Use the EMA weights where the file has them (a checkpoint of a run with
                EMA); False takes the raw generator. An export holds one kind.
            precision: ``32``, ``bf16-mixed`` or ``16-mixed``.
            allow_plugins: Let an export name a generator class outside the package (its
                package's code runs on import); checkpoints rebuild the generator from their
                config, which names plugins explicitly.

        Raises:
            CheckpointError: Missing or unreadable file, or not a GAN Lab checkpoint/export.
        """
        path = Path(path)
        if path.suffix == ".safetensors":
            return cls._from_export(path, device, precision, use_ema, allow_plugins)
        checkpoint = read_checkpoint(path)
        hyper = checkpoint.get("hyper_parameters") or {}
        if "config" not in hyper or "ganlab" not in checkpoint:
            raise CheckpointError(
                f"{path} is a Lightning checkpoint but not one of OpenSR GAN Lab (no ganlab "
                "state or config in it); use a .ckpt written by `ganlab train` or a "
                "*.generator-ema.safetensors export"
            )
        config = validate_config(hyper["config"], source=f"{path} (its config)")
        generator = build_generator(config)
        state, weights = checkpoint_generator_weights(checkpoint, use_ema)
        if use_ema and weights == "raw" and config.Training.EMA.enabled:
            log.warning("%s holds no EMA weights; using the raw generator", path)
        try:
            load_generator_weights(generator, state)
        except CheckpointError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
        norm = config.Data.normalization
        return cls(
            generator,
            build_branch_normalizer(norm.branch("lr")),
            build_branch_normalizer(norm.branch("hr")),
            scale=config.Generator.scaling_factor,
            in_bands=config.Model.in_bands,
            out_bands=config.Model.sr_bands,
            device=device,
            precision=precision,
            weights=weights,
            source=path,
            bands=config.Data.bands,
            slice_axis=config.Data.slice_axis,
        )

    @classmethod
    def _from_export(
        cls, path: Path, device: str | torch.device, precision: str, use_ema: bool, plugins: bool
    ) -> SuperResolver:
        loaded = load_generator(path, "cpu", allow_plugins=plugins)
        if use_ema and loaded.weights != "ema":
            log.info("%s holds the raw generator weights (exports hold one kind)", path)
        stored = loaded.config
        try:
            norm = NormalizationConfig.model_validate(stored["Data"]["normalization"])
            model = stored["Model"]
            scale = int(stored["Generator"]["scaling_factor"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: its stored config is incomplete ({exc})") from None
        in_bands = int(model["in_bands"])
        out_bands = int(model.get("out_bands") or in_bands)
        data = stored["Data"]  # exports before Data.bands/slice_axis were stored: defaults
        return cls(
            loaded.generator,
            build_branch_normalizer(norm.branch("lr")),
            build_branch_normalizer(norm.branch("hr")),
            scale=scale,
            in_bands=in_bands,
            out_bands=out_bands,
            device=device,
            precision=precision,
            weights=loaded.weights,
            source=path,
            bands=data.get("bands"),
            slice_axis=int(data.get("slice_axis", 2)),
        )

    # ---------------------------------------------------------------------------- running

    @cached_property
    def receptive_radius(self) -> int | None:
        """The generator's receptive radius in LR pixels (None: global context)."""
        return generator_radius(self.generator, self.in_bands)

    def tiling(
        self, tile: int | None = None, overlap: int | None = None, batch_size: int | None = None
    ) -> Tiling:
        """The tiling for this generator: see :meth:`Tiling.for_generator`. The default batch
        is 4 tiles on a GPU, 1 on the CPU (no gain there, only memory)."""
        batch = batch_size or (4 if self.device.type == "cuda" else 1)
        return Tiling.for_generator(self.receptive_radius, tile, overlap, batch)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.precision == "32":
            yield
            return
        dtype = torch.bfloat16 if self.precision == "bf16-mixed" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            yield

    @torch.no_grad()
    def run(self, lr: torch.Tensor) -> torch.Tensor:
        """Generator on physical ``[B, C, h, w]`` (any device) -> physical float32 SR on CPU."""
        lr = lr.to(self.device, torch.float32)
        with self._autocast():
            sr = self.generator(self.lr_normalizer.normalize(lr))
        return self.hr_normalizer.denormalize(sr.float()).cpu()

    def check_bands(self, bands: int, what: str) -> None:
        """Raise :class:`DataError` naming ``what`` unless it has the model's input bands."""
        if bands != self.in_bands:
            raise DataError(
                f"{what} has {bands} band{'s' if bands != 1 else ''} but the model "
                f"({self.source or 'generator'}) reads {self.in_bands}"
                + (f" (trained on Data.bands={self.bands})" if self.bands else "")
            )

    def super_resolve_array(
        self, lr: np.ndarray, tiling: Tiling, progress: Any = None, whole_image: bool = False
    ) -> np.ndarray:
        """One image ``[C, H, W]`` (physical, any numeric dtype) -> float32 SR ``[C_out, H*s,
        W*s]``; ``whole_image`` runs the generator once on the reflection-padded image."""
        height, width = lr.shape[-2:]
        if whole_image:
            margin = tiling.margin  # reflected as the tiles reflect it (also beyond one image)
            rows = reflect_indices(np.arange(-margin, height + margin), height)
            columns = reflect_indices(np.arange(-margin, width + margin), width)
            padded = np.asarray(lr, dtype=np.float32)[:, rows][:, :, columns]
            sr = self.run(torch.from_numpy(np.ascontiguousarray(padded))[None])[0]
            edge, s = margin * self.scale, self.scale
            return sr[:, edge : edge + height * s, edge : edge + width * s].numpy()
        sink = ArraySink(self.out_bands, height * self.scale, width * self.scale)
        run_tiled(ArraySource(lr), sink, self.run, tiling, self.scale, progress)
        return sink.array

    def __call__(
        self,
        image: Image,
        *,
        tile: int | None = None,
        overlap: int | None = None,
        batch_size: int | None = None,
        whole_image: bool = False,
    ) -> Image:
        """Super-resolve ``image`` ``[C, H, W]`` or ``[B, C, H, W]`` (physical units).

        Args:
            image: NumPy array or tensor; integer dtypes come back in the same dtype (rounded,
                clipped), floats as float32.
            tile: Tile side in LR pixels (default: from the receptive field).
            overlap: Overlap of neighbouring tiles in LR pixels (default: from the receptive
                field).
            batch_size: Tiles per generator call.
            whole_image: Run the generator on the whole image at once (memory grows with the
                image; for small images and for checking tiles).
        """
        is_tensor = isinstance(image, torch.Tensor)
        if isinstance(image, torch.Tensor):
            array = image.detach().cpu().numpy()
        else:
            array = np.asarray(image)
        if array.ndim not in (3, 4):
            raise DataError(f"expected an image [C, H, W] or a batch [B, C, H, W], got shape "
                            f"{tuple(array.shape)}")  # fmt: skip
        batch = array if array.ndim == 4 else array[None]
        self.check_bands(batch.shape[1], f"the input of shape {tuple(array.shape)}")
        tiling = self.tiling(tile, overlap, batch_size)
        out = np.stack([self.super_resolve_array(x, tiling, None, whole_image) for x in batch])
        out = out if array.ndim == 4 else out[0]
        if np.issubdtype(array.dtype, np.floating):
            result = out.astype(np.float32, copy=False)
        else:
            result = cast_to_dtype(out, array.dtype)
        if is_tensor:
            return torch.from_numpy(result)  # type: ignore[return-value]
        return result  # type: ignore[return-value]
