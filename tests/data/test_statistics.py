from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ganlab.cli import main
from ganlab.config import load_config
from ganlab.data.statistics import compute_statistics, normalization_spec, statistics_snippet
from ganlab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _items(seed: int = 0, count: int = 5, integral: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(count):
        hr = rng.integers(0, 5000, (2, 12, 10)).astype(np.float32)
        if not integral:
            hr = hr + rng.random(hr.shape).astype(np.float32)
        lr = hr[:, ::2, ::2] * 0.5
        items.append({"lr": torch.from_numpy(lr.copy()), "hr": torch.from_numpy(hr), "meta": {}})
    return items


def test_streamed_statistics_match_numpy() -> None:
    items = _items()
    stats = compute_statistics(items, percentiles=(1, 50, 99))
    hr = np.concatenate([i["hr"].numpy().reshape(2, -1) for i in items], axis=1).astype(np.float64)
    assert stats["hr"].count == hr.shape[1]
    np.testing.assert_allclose(stats["hr"].mean, hr.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(stats["hr"].std, hr.std(axis=1), rtol=1e-10)
    assert stats["hr"].minimum == hr.min(axis=1).tolist()
    for q in (1, 50, 99):  # integer data: exact nearest-rank percentiles
        expected = np.percentile(hr, q, axis=1, method="inverted_cdf")
        np.testing.assert_allclose(stats["hr"].percentiles[q], expected)
    lr = np.concatenate([i["lr"].numpy().reshape(2, -1) for i in items], axis=1)
    lr = lr.astype(np.float64)
    np.testing.assert_allclose(stats["lr"].mean, lr.mean(axis=1), rtol=1e-10)


def test_float_percentiles_are_close() -> None:
    items = _items(integral=False)
    stats = compute_statistics(items, percentiles=(2, 98))
    hr = np.concatenate([i["hr"].numpy().reshape(2, -1) for i in items], axis=1)
    for q in (2, 98):
        expected = np.percentile(hr, q, axis=1, method="inverted_cdf")  # nearest rank
        np.testing.assert_allclose(stats["hr"].percentiles[q], expected, atol=5001 / 65536)


def test_specs_from_statistics() -> None:
    stats = compute_statistics(_items())["hr"]
    spec = normalization_spec(stats, "percentile", signed=True)
    assert spec["type"] == "percentile" and spec["signed"] is True
    assert all(h > lo for lo, h in zip(spec["low"], spec["high"], strict=True))
    assert normalization_spec(stats, "mean_std")["type"] == "mean_std"


def test_cli_writes_a_pasteable_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "stats.yaml"
    config = str(REPO / "configs" / "quickstart.yaml")
    assert main(["data", "stats", "--config", config, "--output", str(output)]) == 0
    snippet = yaml.safe_load(output.read_text())
    normalization = snippet["Data"]["normalization"]
    assert normalization == {
        "type": "percentile",
        "low": [7460.0, 6720.0, 6033.0],  # the values documented for the bundled sample
        "high": [8770.0, 8528.0, 8888.0],
    }
    assert "# hr: bands" in output.read_text()
    loaded = load_config(config, [f"Data.normalization={normalization}"])
    assert loaded.Data.normalization.low == [7460.0, 6720.0, 6033.0]
    assert main(["data", "stats", "--config", config, "--set", "Data.train_dir=/nope"]) == 2
    assert "Data.train_dir: folder /nope does not exist" in capsys.readouterr().err


def test_per_branch_snippet_for_paired_configs() -> None:
    config = load_config(
        None,
        [
            "Data.dataset=paired",
            "Data.normalization.type=mean_std",
            "Data.normalization.mean=[0]",
            "Data.normalization.std=[1]",
        ],
    )
    text = statistics_snippet(config, compute_statistics(_items()), "x.yaml")
    block = yaml.safe_load(text)["Data"]["normalization"]
    assert set(block) == {"lr", "hr"} and block["lr"]["type"] == "mean_std"
    assert block["lr"]["mean"] != block["hr"]["mean"]


def test_cli_computes_the_values_an_incomplete_normalization_block_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the block names the type but not yet the low/high this command is there to compute
    config = tmp_path / "new.yaml"
    text = (REPO / "configs" / "quickstart.yaml").read_text()
    data = yaml.safe_load(text)
    data["Data"]["normalization"] = {"type": "percentile"}
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="type percentile needs per-band `low` and `high`"):
        load_config(config)  # training still refuses it
    output = tmp_path / "stats.yaml"
    assert main(["data", "stats", "--config", str(config), "--output", str(output)]) == 0
    normalization = yaml.safe_load(output.read_text())["Data"]["normalization"]
    assert normalization["type"] == "percentile"
    assert normalization["low"] == [7460.0, 6720.0, 6033.0]
    assert normalization["high"] == [8770.0, 8528.0, 8888.0]
