import pytest
import torch

from ganlab.config.schema import NormalizationConfig
from ganlab.data.normalizers import AffineNormalizer, build_normalizer


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "identity"},
        {"type": "zero_one", "max_value": 10000},
        {"type": "percentile", "low": [7460, 6720, 6033], "high": [8770, 8528, 8888]},
    ],
)
def test_round_trip(spec: dict) -> None:
    norm = build_normalizer(NormalizationConfig(**spec))
    x = torch.rand(2, 3, 8, 8) * 10000
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x, rtol=1e-6, atol=1e-3)


def test_percentile_maps_low_high_to_zero_one_per_band() -> None:
    norm = build_normalizer(NormalizationConfig(type="percentile", low=[0, 100], high=[10, 300]))
    x = torch.tensor([[0.0, 10.0], [100.0, 300.0]]).reshape(2, 1, 2)
    torch.testing.assert_close(
        norm.normalize(x), torch.tensor([[0.0, 1.0], [0.0, 1.0]]).reshape(2, 1, 2)
    )


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="scale must be > 0"):
        AffineNormalizer([0.0], [0.0])
