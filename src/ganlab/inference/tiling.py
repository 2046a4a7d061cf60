"""Tiled super-resolution of images of any size with bounded memory and no seams.

The image is reflection-padded by ``margin`` LR pixels on every side and cut into tiles of
``tile`` x ``tile`` LR pixels that share ``overlap`` pixels with their neighbours. Along each
axis a tile's output weight is 0 in the ``margin`` pixels next to an edge it shares with a
neighbour, rises smoothly (raised cosine) over the next ``overlap - 2 * margin`` pixels (the
blend band) and is 1 inside; weights are normalised so that they sum to 1 at every output
pixel. Padding and the crop back happen in the same way when the whole image is processed at
once, so:

* when ``margin`` covers the generator's receptive radius, a tile's output is used only where
  the tile saw all the context the generator reads, and tiled inference equals whole-image
  inference up to floating-point rounding;
* for generators with global context (channel attention, self-attention) tiles differ a little
  from the whole image, and the blend band hides the seams.

Work proceeds strip by strip (a row of tiles): a strip is read, its tiles run in batches, the
output rows that no later strip touches are written and the rest is carried over, so memory
grows with the image width, never with its height.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ganlab.errors import ArgumentError

BLEND = 8
"""LR pixels of the blend band the default overlap adds to twice the receptive radius."""
UNBOUNDED_OVERLAP = 32
"""Default overlap (LR pixels) for generators with global context (no finite radius)."""
MIN_TILE = 128
"""Smallest default tile side (LR pixels)."""

RunTiles = Callable[[torch.Tensor], torch.Tensor]
"""``[B, C, th, tw]`` LR in physical units -> ``[B, C_out, th*s, tw*s]`` SR, float32."""


@dataclass(frozen=True)
class Tiling:
    """How an image is cut into tiles (all sizes in LR pixels).

    Attributes:
        tile: Side of a tile (smaller images use one tile of their own size).
        overlap: Pixels shared by neighbouring tiles.
        margin: Pixels next to a shared edge whose output is not used; also the reflection
            padding at the image border.
        batch_size: Tiles per generator call.
    """

    tile: int
    overlap: int
    margin: int
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.tile < 1 or self.batch_size < 1 or self.overlap < 0:
            raise ArgumentError(
                f"tile ({self.tile}) and batch size ({self.batch_size}) must be >= 1 and "
                f"overlap ({self.overlap}) >= 0"
            )
        if self.tile < 2 * self.overlap:
            raise ArgumentError(
                f"a tile of {self.tile} px cannot hold an overlap of {self.overlap} px on both "
                f"sides; use a tile of at least {2 * self.overlap} px or a smaller overlap"
            )
        if not 0 <= 2 * self.margin < max(self.overlap, 1):
            raise ArgumentError(
                f"margin {self.margin} must leave a blend band inside the overlap {self.overlap}"
            )

    @property
    def blend(self) -> int:
        """Width of the blend band (``overlap - 2 * margin``)."""
        return self.overlap - 2 * self.margin

    @classmethod
    def for_generator(
        cls,
        radius: int | None,
        tile: int | None = None,
        overlap: int | None = None,
        batch_size: int = 1,
    ) -> Tiling:
        """The tiling for a generator of receptive ``radius`` (LR pixels; None: unbounded).

        Defaults: ``overlap = 2 * radius + 8`` (exact tiles with an 8 px blend band; 32 px for
        unbounded generators) and ``tile = max(128, 4 * overlap)`` rounded up to a multiple of 8
        (the overlap then costs at most ~1.8x the work of the bare image). The margin is the
        radius when the overlap holds it on both sides with a blend band to spare, otherwise
        as much of the overlap as leaves a blend band of up to 8 px.
        """
        if overlap is None:
            overlap = UNBOUNDED_OVERLAP if radius is None else 2 * radius + BLEND
        if tile is None:
            tile = 8 * math.ceil(max(MIN_TILE, 4 * overlap) / 8)
        if radius is not None and overlap >= 2 * radius + 1:
            margin = radius
        else:
            margin = (overlap - min(overlap, BLEND)) // 2
        return cls(tile=tile, overlap=overlap, margin=margin, batch_size=batch_size)

    def exact_for(self, radius: int | None) -> bool:
        """Whether tiles reproduce whole-image inference for a generator of ``radius``."""
        return radius is not None and self.margin >= radius


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start of each tile along an axis of ``length`` pixels; the last tile ends at the end.

    Example:
        >>> axis_starts(100, 40, 10)
        [0, 30, 60]
        >>> axis_starts(20, 40, 10)
        [0]
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return [*starts, length - tile]


def _read_strip(source: TileSource, top: int, height: int, columns: np.ndarray) -> np.ndarray:
    """Padded rows ``top .. top+height-1`` (image coordinates, reflected at the borders) over
    the padded width (``columns``: reflected column indices)."""
    rows = reflect_indices(np.arange(top, top + height), source.height)
    first, last = int(rows.min()), int(rows.max())
    block = source.read_rows(first, last - first + 1)
    return block[:, (rows - first)[:, None], columns[None, :]]  # one gather, one copy


def _ramp(margin: int, blend: int) -> np.ndarray:
    """Weights from a shared edge inwards: ``margin`` zeros, then a raised cosine to 1."""
    k = np.arange(blend, dtype=np.float64)
    rising = 0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / blend)
    return np.concatenate([np.zeros(margin), rising])


def axis_weights(
    length: int, starts: Sequence[int], tile: int, tiling: Tiling, scale: int
) -> list[np.ndarray]:
    """Normalised output weights (``tile * scale`` values) of each tile along one axis.

    At every output pixel the weights of the tiles covering it sum to 1.
    """
    ramp = _ramp(tiling.margin * scale, tiling.blend * scale)
    side = tile * scale
    weights = []
    for start in starts:
        weight = np.ones(side)
        if start > 0:
            weight[: ramp.size] *= ramp
        if start + tile < length:
            weight[side - ramp.size :] *= ramp[::-1]
        weights.append(weight)
    total = np.zeros(length * scale)
    for start, weight in zip(starts, weights, strict=True):
        total[start * scale : start * scale + side] += weight
    if np.any(total <= 0):  # guarded by Tiling's checks; a bug if reached
        raise AssertionError(f"tile weights leave gaps: tiling {tiling}, length {length}")
    return [
        (weight / total[start * scale : start * scale + side]).astype(np.float32)
        for start, weight in zip(starts, weights, strict=True)
    ]


def reflect_indices(indices: np.ndarray, length: int) -> np.ndarray:
    """Map indices outside ``0..length-1`` into it by reflection (repeated for long reaches).

    Example:
        >>> reflect_indices(np.arange(-3, 7), 4).tolist()
        [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    """
    if length == 1:
        return np.zeros_like(indices)
    period = 2 * (length - 1)
    folded = np.abs(indices) % period
    return np.where(folded < length, folded, period - folded)


class TileSource(Protocol):
    """An image read strip by strip (physical values, float32)."""

    bands: int
    height: int
    width: int

    def read_rows(self, top: int, height: int) -> np.ndarray:
        """Rows ``top .. top+height-1`` (inside the image) as ``[C, height, width]`` float32."""
        ...


class RowSink(Protocol):
    """Where finished output rows go (in order, each row once)."""

    def write_rows(self, top: int, rows: np.ndarray) -> None:
        """Output rows ``top .. top+n-1`` as ``[C_out, n, width * scale]`` float32 (final: the
        sink may change them in place)."""
        ...


class ArraySource:
    """A ``[C, H, W]`` array as a :class:`TileSource`."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.bands, self.height, self.width = array.shape

    def read_rows(self, top: int, height: int) -> np.ndarray:
        return np.asarray(self.array[:, top : top + height], dtype=np.float32)


class ArraySink:
    """Collects the output into one float32 array ``[C_out, H*s, W*s]``."""

    def __init__(self, bands: int, height: int, width: int) -> None:
        self.array = np.zeros((bands, height, width), dtype=np.float32)

    def write_rows(self, top: int, rows: np.ndarray) -> None:
        self.array[:, top : top + rows.shape[1]] = rows


@dataclass(frozen=True)
class TilePlan:
    """Tile positions of one image in padded LR coordinates.

    Attributes:
        tiling: The tiling.
        height, width: Image size (LR pixels).
        rows, cols: Tile starts along each axis (padded coordinates).
        tile_height, tile_width: Tile size (the tile side, or the padded image if smaller).
    """

    tiling: Tiling
    height: int
    width: int
    rows: list[int]
    cols: list[int]
    tile_height: int
    tile_width: int

    @classmethod
    def of(cls, tiling: Tiling, height: int, width: int) -> TilePlan:
        """The plan for an image of ``height`` x ``width`` LR pixels."""
        pad = 2 * tiling.margin
        tile_height = min(tiling.tile, height + pad)
        tile_width = min(tiling.tile, width + pad)
        return cls(
            tiling,
            height,
            width,
            axis_starts(height + pad, tile_height, tiling.overlap),
            axis_starts(width + pad, tile_width, tiling.overlap),
            tile_height,
            tile_width,
        )

    @property
    def count(self) -> int:
        """Number of tiles."""
        return len(self.rows) * len(self.cols)


def run_tiled(
    source: TileSource,
    sink: RowSink,
    run: RunTiles,
    tiling: Tiling,
    scale: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Super-resolve ``source`` tile by tile into ``sink`` (see the module docstring).

    Args:
        source: The LR image.
        sink: Receives every output row once, top to bottom.
        run: The generator on a batch of tiles in physical units.
        tiling: Tile size, overlap, margin and batch size.
        scale: Upscaling factor of ``run``.
        progress: Called with the number of tiles after each batch.
    """
    plan = TilePlan.of(tiling, source.height, source.width)
    margin, s = tiling.margin, scale
    th, tw = plan.tile_height, plan.tile_width
    padded_width = source.width + 2 * margin
    row_weights = axis_weights(source.height + 2 * margin, plan.rows, th, tiling, s)
    col_weights = [
        torch.from_numpy(w) for w in axis_weights(padded_width, plan.cols, tw, tiling, s)
    ]
    columns = reflect_indices(np.arange(padded_width) - margin, source.width)
    out_left, out_width = margin * s, source.width * s
    # one accumulation buffer for all strips (allocated at the first batch, when the output
    # band count is known): no large allocation per strip
    buffer: torch.Tensor | None = None
    carried = 0  # rows at the buffer's top carried over from the previous strip
    written = 0  # output rows (image coordinates) already handed to the sink
    for index, top in enumerate(plan.rows):
        strip = _read_strip(source, top - margin, th, columns)
        if buffer is not None:
            buffer[:, carried:] = 0
        for first in range(0, len(plan.cols), tiling.batch_size):
            lefts = plan.cols[first : first + tiling.batch_size]
            batch = torch.from_numpy(np.stack([strip[:, :, x : x + tw] for x in lefts]))
            sr = run(batch).float()
            if buffer is None:
                buffer = torch.zeros(sr.shape[1], th * s, padded_width * s)
            row_weight = torch.from_numpy(row_weights[index])[:, None]
            for number, (tile_sr, left) in enumerate(zip(sr, lefts, strict=True), start=first):
                weight = row_weight * col_weights[number][None, :]
                buffer[:, :, left * s : (left + tw) * s] += tile_sr * weight
            if progress is not None:
                progress(len(lefts))
        assert buffer is not None
        last = index == len(plan.rows) - 1
        next_top = source.height + margin if last else plan.rows[index + 1]
        final_end = (next_top + margin) * s
        # output rows final after this strip, in image coordinates
        end = min(final_end - margin * s, source.height * s)
        if end > written:
            start_in_buffer = written + margin * s - top * s
            rows = buffer[:, start_in_buffer : end + margin * s - top * s]
            sink.write_rows(written, rows[:, :, out_left : out_left + out_width].numpy())
            written = end
        if not last:
            # from the next strip's top (its first margin rows are final and get no weight);
            # numpy copies overlapping ranges correctly
            shift = (next_top - top) * s
            carried = th * s - shift
            array = buffer.numpy()
            array[:, :carried] = array[:, shift:]
