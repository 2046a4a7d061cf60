import pytest
import torch

from ganlab.config import load_config
from ganlab.config.schema import BranchNormalizationConfig, NormalizationConfig
from ganlab.data.normalizers import (
    AffineNormalizer,
    FunctionNormalizer,
    build_normalizer,
    build_normalizers,
)
from ganlab.errors import ConfigError

SPECS = [
    {"type": "identity"},
    {"type": "zero_one", "max_value": 10000},
    {"type": "zero_one", "max_value": "uint16"},
    {"type": "zero_one", "max_value": 255, "signed": True},
    {"type": "reflectance"},
    {"type": "reflectance", "reflectance_offset": -1000, "signed": True},
    {"type": "percentile", "low": [7460, 6720, 6033], "high": [8770, 8528, 8888]},
    {"type": "percentile", "low": [100], "high": [9000], "signed": True},
    {"type": "mean_std", "mean": [7855.3, 7381.4, 6949.4], "std": [306.1, 411.6, 779.8]},
    {"type": "custom", "function": "tests.data.custom_parts:log_forward",
     "inverse": "tests.data.custom_parts:log_inverse"},
]  # fmt: skip


@pytest.mark.parametrize("spec", SPECS, ids=[str(i) for i in range(len(SPECS))])
def test_round_trip_within_1e6_relative(spec: dict) -> None:
    norm = build_normalizer(NormalizationConfig(**spec))
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 9000 + 1000
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x, rtol=1e-6, atol=0)


def test_ranges_of_built_ins() -> None:
    x = torch.tensor([0.0, 5000.0, 10000.0]).reshape(1, 1, 3)
    zero_one = build_normalizer(BranchNormalizationConfig(type="zero_one", max_value=10000))
    assert zero_one.normalize(x).flatten().tolist() == [0.0, 0.5, 1.0]
    signed = build_normalizer(
        BranchNormalizationConfig(type="zero_one", max_value=10000, signed=True)
    )
    assert signed.normalize(x).flatten().tolist() == [-1.0, 0.0, 1.0]
    s2 = build_normalizer(BranchNormalizationConfig(type="reflectance", reflectance_offset=-1000))
    reflectance = s2.normalize(torch.tensor([1000.0, 3000.0]).reshape(1, 1, 2)).flatten()
    assert reflectance.tolist() == pytest.approx([0.0, 0.2])
    uint8 = build_normalizer(BranchNormalizationConfig(type="zero_one", max_value="uint8"))
    assert float(uint8.normalize(torch.full((1, 1, 1), 255.0))) == 1.0
    mean_std = build_normalizer(BranchNormalizationConfig(type="mean_std", mean=[10], std=[2]))
    assert float(mean_std.normalize(torch.full((1, 1, 1), 14.0))) == 2.0


def test_percentile_maps_low_high_per_band_and_clips() -> None:
    spec = dict(type="percentile", low=[0, 100], high=[10, 300])
    norm = build_normalizer(BranchNormalizationConfig(**spec))
    x = torch.tensor([[0.0, 10.0], [100.0, 300.0]]).reshape(2, 1, 2)
    torch.testing.assert_close(
        norm.normalize(x), torch.tensor([[0.0, 1.0], [0.0, 1.0]]).reshape(2, 1, 2)
    )
    clipped = build_normalizer(BranchNormalizationConfig(**spec, clip=True, signed=True))
    y = clipped.normalize(torch.tensor([[-50.0, 20.0], [0.0, 1000.0]]).reshape(2, 1, 2))
    assert y.flatten().tolist() == [-1.0, 1.0, -1.0, 1.0]


def test_per_branch_normalisers_use_their_own_statistics() -> None:
    config = load_config(
        None,
        [
            "Model.in_bands=4",
            "Model.out_bands=3",
            "Generator.global_skip=none",
            "Data.normalization.lr={type: mean_std, mean: [1, 2, 3, 4], std: [1, 1, 1, 2]}",
            "Data.normalization.hr={type: percentile, low: [0, 0, 0], high: [10, 20, 40]}",
        ],
    )
    lr_norm, hr_norm = build_normalizers(config)
    lr = torch.tensor([1.0, 2.0, 3.0, 8.0]).reshape(1, 4, 1, 1)
    hr = torch.tensor([5.0, 5.0, 5.0]).reshape(1, 3, 1, 1)
    assert lr_norm.normalize(lr).flatten().tolist() == [0.0, 0.0, 0.0, 2.0]
    assert hr_norm.normalize(hr).flatten().tolist() == [0.5, 0.25, 0.125]
    torch.testing.assert_close(hr_norm.denormalize(hr_norm.normalize(hr)), hr)
    with pytest.raises(ConfigError, match="separate lr/hr specs"):
        build_normalizer(config.Data.normalization)
    shared_lr, shared_hr = build_normalizers(
        load_config(None, ["Data.normalization.type=zero_one", "Data.normalization.max_value=7"])
    )
    assert shared_lr is not shared_hr and float(shared_hr.scale) == 7.0  # type: ignore[union-attr]


def test_normalisers_are_modules_on_device_without_state() -> None:
    norm = build_normalizer(BranchNormalizationConfig(type="mean_std", mean=[1, 2], std=[3, 4]))
    assert isinstance(norm, torch.nn.Module) and norm.state_dict() == {}
    assert norm.to(torch.float64).offset.dtype == torch.float64  # type: ignore[union-attr]
    custom = build_normalizer(
        BranchNormalizationConfig(
            type="custom",
            function="tests.data.custom_parts:log_forward",
            inverse="tests.data.custom_parts:log_inverse",
        )
    )
    assert isinstance(custom, FunctionNormalizer) and isinstance(custom, torch.nn.Module)


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="scale must be > 0"):
        AffineNormalizer([0.0], [0.0])
    norm = AffineNormalizer([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(
        ValueError, match=r"2 per-band values but the tensor of shape \(1, 3, 2, 2\)"
    ):
        norm.normalize(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ConfigError, match=r"Data\.normalization\.function: module 'math' has no"):
        build_normalizer(
            BranchNormalizationConfig(type="custom", function="math:nope", inverse="math:exp")
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["Data.normalization.type=mean_std"], "type mean_std needs per-band `mean` and `std`"),
        (["Data.normalization={type: mean_std, mean: [1], std: [0]}"], "`std` must be > 0"),
        (["Data.normalization={type: identity, signed: true}"], "`signed` and `clip` apply to"),
        (["Data.normalization={type: custom, function: nope}"], "needs `function` as"),
        (["Data.normalization.max_value=uint7"], r"normalization\.max_value"),
        (
            ["Data.normalization={type: percentile, low: [0, 0], high: [1, 1]}"],
            r"Data\.normalization\.low has 2 values but Model\.in_bands is 3",
        ),
        (
            ["Data.normalization.hr={type: mean_std, mean: [0, 0], std: [1, 1]}"],
            r"Data\.normalization\.hr\.mean has 2 values but Model\.out_bands is 3",
        ),
        (["Data.bands=[B02, B03]"], r"Data\.bands selects 2 bands but Model\.in_bands is 3"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
