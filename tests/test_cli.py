import csv
import json
from pathlib import Path

import pytest
import yaml

from ganlab.cli import main
from ganlab.engine.module import resolve_manual_optimization
from tests.helpers import TINY_OVERRIDES

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
    assert "Validation on 3 images (raw weights): PSNR SR" in out and "vs bicubic" in out
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
    fractions = [result[k] for k in ("improvement", "omission", "hallucination")]
    assert all(0 <= f <= 1 for f in fractions) and sum(fractions) == pytest.approx(1.0)
    assert result["consistency_psnr"] > 20 and 0 <= result["consistency_sam"] < 0.5
    assert result["synthesis"] > 0  # two steps moved SR off bicubic

    assert main(["report", str(run_dir)]) == 0
    assert f"Report: {run_dir / 'report' / 'index.html'}" in capsys.readouterr().out
    assert (run_dir / "report" / "index.html").stat().st_size > 10_000
    assert main(["report", str(tmp_path / "no_run")]) == 2
    assert "no_run" in capsys.readouterr().err


def test_validate_bad_checkpoint_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_text("nope")
    code = main(["validate", "--config", QUICKSTART, *_tiny_args(), "--checkpoint", str(bad)])
    assert code == 2
    assert "bad.ckpt cannot be read" in capsys.readouterr().err


def _train_args(run_dir: Path, *overrides: str) -> list[str]:
    args = ["train", "--config", QUICKSTART, *_tiny_args(), "--run-dir", str(run_dir)]
    for override in ("Trainer.limit_train_batches=2", "Trainer.limit_val_batches=1", *overrides):
        args += ["--set", override]
    return args


def test_continue_training_resumes_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    run_dir = tmp_path / "run"
    ema = ("Training.EMA.enabled=true", "Training.g_pretrain_steps=3", "Callbacks.lr_monitor=true")
    assert main(_train_args(run_dir, "Trainer.max_epochs=1", *ema)) == 0
    last = run_dir / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=True, map_location="cpu")
    assert first["ganlab"]["step_count"] == 2
    rows_before = list(csv.DictReader((run_dir / "logs" / "csv" / "metrics.csv").open()))

    # a fresh start into a folder with checkpoints is refused before any work
    capsys.readouterr()
    assert main(_train_args(run_dir, "Trainer.max_epochs=2", *ema)) == 2
    assert "already holds checkpoints; resume it with Model.continue_training: last" in (
        capsys.readouterr().err
    )

    resumed = _train_args(run_dir, "Trainer.max_epochs=2", "Model.continue_training=last", *ema)
    assert main(resumed) == 0
    out = capsys.readouterr().out
    assert f"Resuming from {last}" in out
    # the earlier config is kept, and the run says what changed
    assert "Config changed since the earlier start of this run" in out
    assert "(earlier config kept as config.1.yaml)" in out
    assert "Trainer.max_epochs: 1 -> 2" in out
    assert "Model.continue_training: false -> last" in out
    earlier = yaml.safe_load((run_dir / "config.1.yaml").read_text())
    assert earlier["Trainer"]["max_epochs"] == 1
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["Trainer"]["max_epochs"] == 2
    second = torch.load(last, weights_only=True, map_location="cpu")
    # own counter, phase (adversarial from step 3), EMA history and optimiser state carried on
    assert second["ganlab"]["step_count"] == 4 and second["epoch"] == 1
    assert second["ganlab"]["ema"]["num_updates"] == 4
    # Lightning's global_step counts every optimiser step: the discriminator's too when the
    # alternating mode (the default on Lightning 1.x) has two optimisers
    manual, _ = resolve_manual_optimization(None)
    assert second["global_step"] == (5 if manual else 4)
    rows = list(csv.DictReader((run_dir / "logs" / "csv" / "metrics.csv").open()))
    train_steps = [float(r["train/step"]) for r in rows if r.get("train/step")]
    assert train_steps == [0.0, 1.0, 2.0, 3.0]  # history kept, logger steps continue
    assert len(rows) > len(rows_before)
    phases = [float(r["train/phase"]) for r in rows if r.get("train/phase")]
    assert phases == [0.0, 0.0, 0.0, 1.0]


def test_continue_training_errors_name_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    assert main(_train_args(empty, "Model.continue_training=last")) == 2
    assert "checkpoints/last.ckpt does not exist" in capsys.readouterr().err
    missing = tmp_path / "nope.ckpt"
    assert main(_train_args(empty, f"Model.continue_training={missing}")) == 2
    assert f"checkpoint {missing} does not exist" in capsys.readouterr().err
    assert main(_train_args(empty, "Model.continue_training=true")) == 2
    assert "give a checkpoint path or `last`" in capsys.readouterr().err


def test_load_checkpoint_from_the_cli_starts_fresh_counters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    first = tmp_path / "first"
    assert main(_train_args(first, "Trainer.max_epochs=1")) == 0
    export = first / "checkpoints" / "last.generator.safetensors"
    second = tmp_path / "second"
    args = _train_args(second, "Trainer.max_epochs=1", f"Model.load_checkpoint={export}")
    assert main(args) == 0
    assert f"Loaded generator weights from {export}" in capsys.readouterr().out
    state = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert state["ganlab"]["step_count"] == 2  # counters restarted


def test_processes_started_for_other_devices_share_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lightning re-runs the command line for the other devices; they find the folder here
    shared = tmp_path / "shared-run"
    monkeypatch.setenv("GANLAB_RUN_DIR", str(shared))
    args = _train_args(tmp_path / "unused", "Trainer.max_epochs=1")
    args = args[: args.index("--run-dir")] + args[args.index("--run-dir") + 2 :]
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0
    assert f"Run folder: {shared}" in capsys.readouterr().out
    assert (shared / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "runs").exists()


def test_validate_uses_the_ema_generator_like_training_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    ema = (
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.5",
        "Training.g_pretrain_steps=10",
        "Optimizers.optim_g_lr=0.01",
        "Trainer.max_epochs=1",
    )
    assert main(_train_args(run_dir, *ema)) == 0
    out = capsys.readouterr().out
    assert "Validation on 1 image (EMA weights): PSNR SR" in out
    rows = list(csv.DictReader((run_dir / "logs" / "csv" / "metrics.csv").open()))
    end_of_training = [row for row in rows if row.get("val/psnr")][-1]

    validate = [
        "validate",
        "--config",
        QUICKSTART,
        *_tiny_args(),
        "--set",
        "Trainer.limit_val_batches=1",
        "--checkpoint",
        str(run_dir / "checkpoints" / "last.ckpt"),
    ]
    assert main([*validate, "--json"]) == 0
    with_ema = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert with_ema["weights"] == "ema"
    for key in ("psnr", "ssim"):
        assert with_ema[key] == pytest.approx(float(end_of_training[f"val/{key}"]), rel=1e-6)
    assert main([*validate, "--json", "--raw"]) == 0
    raw = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert raw["weights"] == "raw" and raw["psnr"] != pytest.approx(with_ema["psnr"], rel=1e-6)
    assert main(validate) == 0
    assert "(EMA weights)" in capsys.readouterr().out


def test_version_names_the_installed_lightning_and_torch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    from ganlab._lightning import pl

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("ganlab ")
    assert f"pytorch-lightning {pl.__version__}" in line
    assert f"torch {torch.__version__}" in line


def test_ctrl_c_during_training_exits_130_without_the_final_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lightning 1.x returns from fit as if training had finished, 2.x calls sys.exit(1)
    from ganlab import trainer as trainer_module
    from ganlab._lightning import Callback

    class CtrlC(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            raise KeyboardInterrupt

    build = trainer_module.build_callbacks
    monkeypatch.setattr(trainer_module, "build_callbacks", lambda *args: [*build(*args), CtrlC()])
    assert main(_train_args(tmp_path / "run", "Trainer.max_epochs=1")) == 130
    captured = capsys.readouterr()
    assert "ganlab: interrupted" in captured.err
    assert "Validation on" not in captured.out


def test_continue_training_auto_starts_fresh_then_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same command each time, as a requeued scheduler job runs it
    run_dir = tmp_path / "run"
    args = _train_args(run_dir, "Trainer.max_epochs=1", "Model.continue_training=auto")
    assert main(args) == 0
    assert "Resuming from" not in capsys.readouterr().out
    args = _train_args(run_dir, "Trainer.max_epochs=2", "Model.continue_training=auto")
    assert main(args) == 0
    assert "Resuming from" in capsys.readouterr().out


def test_a_discriminator_too_deep_for_the_crop_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = ["--set", "Discriminator.model_type=patchgan", "--set", "Discriminator.n_blocks=6"]
    expected = (
        "Discriminator patchgan cannot process the HR training crop of 128x128 "
        "(Data.hr_patch_size): patchgan with n_blocks=6 needs inputs of at least 192x192 pixels"
    )
    assert main(["config", "validate", QUICKSTART, *deep]) == 2
    assert expected in capsys.readouterr().err
    run_dir = tmp_path / "run"
    assert main(["train", "--config", QUICKSTART, "--run-dir", str(run_dir), *deep]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not run_dir.exists()  # no partial output
