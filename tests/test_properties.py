"""Property tests (hypothesis): ``--set`` overrides round-trip, normalisers invert for random
statistics, and random paired crops stay aligned."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ganlab.config.load import _NUMBER, apply_overrides, parse_value
from ganlab.config.normalization import BranchNormalizationConfig
from ganlab.data.normalizers import build_branch_normalizer
from ganlab.data.transforms import paired_random_crop

KEY = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True)
SCALAR = st.one_of(
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12),
    st.none(),
)
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=4))


@settings(max_examples=200, deadline=None)
@given(path=st.lists(KEY, min_size=1, max_size=3), value=VALUE)
@example(path=["Optimizers", "optim_g_lr"], value="1e5")  # text that reads as a number
@example(path=["Data", "bands"], value=["B04", 3, None, 1.5e-7])
def test_set_override_round_trips_any_yaml_value(path: list[str], value: object) -> None:
    # what a user writes after `=` is the value as YAML prints it (flow style, one line), with
    # text that looks like a number quoted (unquoted, 1e-3 is read as a number)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("\n...").strip()
    if isinstance(value, str) and _NUMBER.match(value):
        text = f"'{value}'"
    data: dict[str, object] = {}
    apply_overrides(data, [f"{'.'.join(path)}={text}"])
    node: object = data
    for part in path:
        assert isinstance(node, dict)
        node = node[part]
    assert node == value
    assert type(node) is type(value)


BANDS = st.integers(1, 5)


@st.composite
def normalization(draw: st.DrawFn) -> tuple[BranchNormalizationConfig, int]:
    bands = draw(BANDS)
    kind = draw(st.sampled_from(["percentile", "mean_std", "zero_one", "reflectance"]))
    signed = draw(st.booleans()) if kind != "mean_std" else False
    values = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
    if kind == "percentile":
        low = draw(st.lists(values, min_size=bands, max_size=bands))
        width = draw(st.lists(st.floats(1e-2, 1e4), min_size=bands, max_size=bands))
        spec = {"low": low, "high": [lo + w for lo, w in zip(low, width, strict=True)]}
    elif kind == "mean_std":
        spec = {
            "mean": draw(st.lists(values, min_size=bands, max_size=bands)),
            "std": draw(st.lists(st.floats(1e-2, 1e4), min_size=bands, max_size=bands)),
        }
    elif kind == "zero_one":
        spec = {"max_value": draw(st.floats(1e-2, 1e5))}
    else:
        spec = {
            "reflectance_scale": draw(st.floats(1.0, 1e5)),
            "reflectance_offset": draw(values),
        }
    config = BranchNormalizationConfig(type=kind, signed=signed, **spec)  # type: ignore[arg-type]
    return config, bands


@settings(max_examples=200, deadline=None)
@given(spec=normalization(), seed=st.integers(0, 2**31 - 1))
def test_normalizer_inverse_round_trips_for_random_statistics(
    spec: tuple[BranchNormalizationConfig, int], seed: int
) -> None:
    config, bands = spec
    normalizer = build_branch_normalizer(config)
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(2, bands, 4, 4, generator=generator, dtype=torch.float64) - 0.5) * 2e4
    x = x.float()
    back = normalizer.denormalize(normalizer.normalize(x))
    # float32 arithmetic: relative to the larger of the value and the normaliser's scale
    tolerance = 1e-5 * (x.abs().max().item() + float(normalizer.scale.abs().max()) + 1.0)
    assert torch.allclose(back, x, rtol=1e-5, atol=tolerance)


@settings(max_examples=200, deadline=None)
@given(
    scale=st.sampled_from([2, 3, 4, 8]),
    lr_side=st.tuples(st.integers(2, 24), st.integers(2, 24)),
    crop=st.integers(1, 24),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_paired_crops_stay_aligned(
    scale: int, lr_side: tuple[int, int], crop: int, seed: int
) -> None:
    height, width = lr_side
    crop = min(crop, height, width)
    # each LR pixel holds its own index; HR is that index repeated over its scale x scale block,
    # so an aligned HR crop downsampled by the block mean equals the LR crop exactly
    lr = torch.arange(height * width, dtype=torch.float32).reshape(1, height, width)
    hr = lr.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    generator = torch.Generator().manual_seed(seed)
    lr_crop, hr_crop, window = paired_random_crop(lr, hr, scale, crop * scale, generator)
    assert lr_crop.shape[-2:] == (crop, crop)
    assert hr_crop.shape[-2:] == (crop * scale, crop * scale)
    assert torch.equal(F.avg_pool2d(hr_crop[None], scale)[0], lr_crop)
    assert window is not None


def test_unquoted_exponent_numbers_are_numbers_and_quoted_ones_text() -> None:
    assert parse_value("1e-3") == 0.001
    assert parse_value("'1e-3'") == "1e-3"
