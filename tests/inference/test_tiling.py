"""Tiled inference: equal to whole-image inference when the margin covers the receptive field,
no seams where it cannot, weights that sum to one, receptive radii of known networks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from ganlab.data.normalizers import AffineNormalizer
from ganlab.errors import ArgumentError
from ganlab.inference.resolver import SuperResolver
from ganlab.inference.tiling import Tiling, axis_starts, axis_weights, reflect_indices
from ganlab.models.describe import receptive_radius
from tests.inference.conftest import MakeExport

ZERO_ONE = "Data.normalization={type: zero_one, max_value: 1}"


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"),
    [
        (70, 53, 48, 24),
        (96, 96, 64, 30),
        (33, 101, 60, 22),
        (20, 17, 64, 24),
        (64, 50, 50, 25),
        (3, 50, 48, 24),
    ],  # the last thinner than the margin: reflected more than once
)
def test_tiled_inference_equals_whole_image_inference(
    export: MakeExport, height: int, width: int, tile: int, overlap: int
) -> None:
    resolver = SuperResolver.from_checkpoint(export(ZERO_ONE))
    radius = resolver.receptive_radius
    assert radius is not None and 2 * radius + 1 <= overlap
    image = np.random.default_rng(height).random((3, height, width), dtype=np.float32)
    tiled = resolver(image, tile=tile, overlap=overlap)
    whole = resolver(image, tile=tile, overlap=overlap, whole_image=True)
    assert tiled.shape == whole.shape == (3, 4 * height, 4 * width)
    assert resolver.tiling(tile, overlap).exact_for(radius)
    np.testing.assert_allclose(tiled, whole, atol=1e-5 * float(np.abs(whole).max()))


class _MeanOffset(nn.Module):
    """x2 nearest upsampling plus the input's mean: global context, so every tile gets its own
    offset and a hard cut between tiles would leave a step."""

    in_bands = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return up + x.mean(dim=(2, 3), keepdim=True)


def test_tiles_of_a_global_context_generator_blend_without_a_step() -> None:
    identity = AffineNormalizer([0.0], [1.0])
    resolver = SuperResolver(_MeanOffset(), identity, identity, scale=2, in_bands=1, out_bands=1)
    width, tile, overlap = 200, 64, 24
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)
    image = np.ascontiguousarray(np.broadcast_to(ramp, (1, 8, width)))
    sr = resolver(image, tile=tile, overlap=overlap)
    offset = (sr[0] - np.repeat(image[0], 2, axis=1).repeat(2, axis=0)).mean(axis=0)
    tiling = resolver.tiling(tile, overlap)
    starts = axis_starts(width + 2 * tiling.margin, tile, overlap)
    padded = ramp[reflect_indices(np.arange(width + 2 * tiling.margin) - tiling.margin, width)]
    means = [padded[start : start + tile].mean() for start in starts]
    smallest_step = min(abs(b - a) for a, b in itertools.pairwise(means))
    assert smallest_step > 0.1  # a hard cut would jump by at least this much
    assert np.abs(np.diff(offset)).max() < smallest_step / 5


@pytest.mark.parametrize(("length", "tile", "overlap"), [(100, 40, 10), (77, 30, 14), (9, 30, 8)])
def test_tile_weights_sum_to_one_at_every_output_pixel(
    length: int, tile: int, overlap: int
) -> None:
    tiling = Tiling.for_generator(3, tile, overlap)
    side = min(tile, length)
    starts = axis_starts(length, side, overlap)
    total = np.zeros(length * 2)
    for start, weight in zip(starts, axis_weights(length, starts, side, tiling, 2), strict=True):
        total[start * 2 : (start + side) * 2] += weight
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)


def test_a_tile_smaller_than_twice_its_overlap_is_refused_with_the_fix() -> None:
    with pytest.raises(ArgumentError, match="at least 40 px or a smaller overlap"):
        Tiling.for_generator(4, tile=30, overlap=20)


def test_default_overlap_covers_the_receptive_radius_with_a_blend_band() -> None:
    tiling = Tiling.for_generator(12)
    assert (tiling.overlap, tiling.margin, tiling.blend, tiling.tile) == (32, 12, 8, 128)
    assert tiling.exact_for(12) and not tiling.exact_for(13)
    unbounded = Tiling.for_generator(None)
    assert unbounded.overlap == 32 and unbounded.blend == 8 and not unbounded.exact_for(None)


class _Stack(nn.Module):
    """Convolutions with a known receptive radius, x2 by pixel shuffle."""

    in_bands = 2

    def __init__(self, attention: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, 4, 5, padding=2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        )
        self.attention = attention
        self.up = nn.Sequential(
            nn.Conv2d(4, 8, 1), nn.PixelShuffle(2), nn.Conv2d(2, 2, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.attention:  # global average: every output reads every input
            y = y * torch.sigmoid(y.mean(dim=(2, 3), keepdim=True))
        return self.up(y)


def test_receptive_radius_of_known_convolutions() -> None:
    # 5x5 (2) + dilated 3x3 (2) at LR, then a 3x3 at x2 (half an LR pixel, rounded up): 5
    assert receptive_radius(_Stack()) == 5


def test_receptive_radius_of_global_context_is_unbounded() -> None:
    assert receptive_radius(_Stack(attention=True)) is None


@pytest.mark.parametrize(
    ("model_type", "settings"),
    [
        ("swinir", ["Generator.n_blocks=1"]),  # windows on a fixed grid: position-dependent
        ("rcan", ["Generator.n_blocks=12"]),  # channel attention pools globally (deep: the
        # gates would saturate and hide it from a gradient probe)
        ("rrdb", ["Generator.n_blocks=4"]),  # 60+ convolutions: beyond 64 px
    ],
)
def test_generators_without_a_finite_tile_radius_are_unbounded(
    model_type: str, settings: list[str]
) -> None:
    from ganlab.config import load_config
    from ganlab.models import build_generator

    config = load_config(None, [f"Generator.model_type={model_type}", *settings])
    assert receptive_radius(build_generator(config)) is None


def test_receptive_radius_of_a_shallow_rrdb_is_finite() -> None:
    from ganlab.config import load_config
    from ganlab.models import build_generator

    config = load_config(None, ["Generator.model_type=rrdb", "Generator.n_blocks=2"])
    radius = receptive_radius(build_generator(config))
    assert radius is not None and 30 <= radius <= 45  # two blocks of 15 3x3 convs plus ends
