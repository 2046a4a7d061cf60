import csv
import json
from pathlib import Path

import pytest

from ganlab.cli import main
from tests.conftest import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def _tiny_args() -> list[str]:
    args: list[str] = []
    for override in TINY_OVERRIDES:
        args += ["--set", override]
    return args


def test_typo_exits_2_with_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--config", QUICKSTART, "--set", "Training.precison=bf16"])
    assert code == 2
    assert "did you mean Training.precision?" in capsys.readouterr().err


def test_wrong_type_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--config", QUICKSTART, "--set", "Data.batch_size=many"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Data.batch_size" in err and "'many'" in err and "expected int" in err


def test_missing_config_and_data_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml does not exist" in capsys.readouterr().err
    missing = tmp_path / "no_data"
    assert main(["train", "--config", QUICKSTART, "--set", f"Data.train_dir={missing}"]) == 2
    assert f"{missing} does not exist" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2


def test_config_show_and_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--config", QUICKSTART, "--set", "Training.seed=7"]) == 0
    shown = capsys.readouterr().out
    assert "seed: 7" in shown and "train_dir: sample://landsat8/train" in shown
    assert main(["config", "validate", QUICKSTART]) == 0
    assert "valid" in capsys.readouterr().out


def test_train_then_validate_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    args = [
        "train",
        "--config",
        QUICKSTART,
        *_tiny_args(),
        "--run-dir",
        str(run_dir),
        "--set",
        "Trainer.max_epochs=1",
        "--set",
        "Trainer.limit_train_batches=3",
        "--set",
        "Training.g_pretrain_steps=2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"Run folder: {run_dir}" in out
    assert "Validation on 3 images: PSNR SR" in out and "vs bicubic" in out
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "checkpoints").glob("best-epoch000.ckpt"))
    rows = list(csv.DictReader((run_dir / "logs" / "csv" / "metrics.csv").open()))
    assert any(row.get("val/psnr") for row in rows)
    assert any(row.get("train/l1") for row in rows)
    assert any(row.get("train/d_loss") for row in rows)
    panels = list((run_dir / "panels").glob("step_*.png"))
    assert panels and panels[0].stat().st_size > 1000

    code = main(
        [
            "validate",
            "--config",
            QUICKSTART,
            *_tiny_args(),
            "--checkpoint",
            str(run_dir / "checkpoints" / "last.ckpt"),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"):
        assert isinstance(result[key], float)
    assert result["num_images"] == 3
    assert 10 < result["psnr_bicubic"] < 60 and 0 < result["ssim"] <= 1


def test_validate_bad_checkpoint_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_text("nope")
    code = main(["validate", "--config", QUICKSTART, *_tiny_args(), "--checkpoint", str(bad)])
    assert code == 2
    assert "bad.ckpt cannot be read" in capsys.readouterr().err
