"""Both Lightning lines: the compatibility module's translations, the config errors for what 1.x
lacks, resume rules, and (with a second environment) exports and checkpoints carried from one
line to the other.

The cross-line tests run ``tests/lightning_line_run.py`` with the Python of the other line,
named by ``GANLAB_OTHER_LIGHTNING_PYTHON`` (``.ci/run`` sets it to ``.venv-pl19/bin/python``,
which has pytorch-lightning 1.9.5). Without it they are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from packaging.version import Version

import ganlab._lightning as compat
from ganlab._lightning import IS_LIGHTNING_2, Callback, LightningModule
from ganlab.cli import main
from ganlab.config import load_config
from ganlab.engine.checkpoint import resume_problem
from ganlab.errors import ConfigError
from ganlab.export import load_generator
from tests.lightning_line_run import COMMON, QUICKSTART, fixed_input

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "lightning_line_run.py"


@pytest.fixture
def lightning_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the compatibility module answer as on pytorch-lightning 1.9.5."""
    monkeypatch.setattr(compat, "IS_LIGHTNING_2", False)
    monkeypatch.setattr(compat, "LIGHTNING_VERSION", Version("1.9.5"))


# ------------------------------------------------------------------- the compatibility module


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.9.5", True),
        ("1.9.5.post0", True),
        ("1.9.4", False),
        ("1.8.6", False),
        ("2.5.1.post0", False),
        ("2.6.0rc1", False),
        ("2.6.0", True),
        ("2.6.6", True),
        ("3.0.0", True),
    ],
)
def test_supported_lightning_versions(version: str, supported: bool) -> None:
    if supported:
        compat._check_supported(Version(version))
    else:
        with pytest.raises(ImportError, match=r"supports pytorch-lightning 1\.9\.5 or >= 2\.6"):
            compat._check_supported(Version(version))


def test_precision_names_on_lightning_1(lightning_1: None) -> None:
    assert compat.trainer_precision("32-true") == 32
    assert compat.trainer_precision("16-mixed") == 16
    assert compat.trainer_precision("bf16-mixed") == "bf16"
    assert compat.trainer_precision("64-true") == 64
    with pytest.raises(ValueError, match=r"bf16-true needs Lightning >= 2\.6 .*1\.9\.5"):
        compat.trainer_precision("bf16-true")


def test_precision_names_pass_unchanged_on_lightning_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "IS_LIGHTNING_2", True)
    assert compat.trainer_precision("bf16-true") == "bf16-true"
    assert compat.trainer_arguments(
        {"precision": "16-mixed", "use_distributed_sampler": False}
    ) == {
        "precision": "16-mixed",
        "use_distributed_sampler": False,
    }


def test_trainer_arguments_take_their_1x_names(lightning_1: None) -> None:
    arguments = compat.trainer_arguments(
        {"precision": "16-mixed", "use_distributed_sampler": False}
    )
    assert arguments == {"precision": 16, "replace_sampler_ddp": False}


def test_hooks_get_no_optimizer_index_on_lightning_1(lightning_1: None) -> None:
    seen: list[Any] = []

    class Watch(Callback):
        def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
            seen.append(("callback", optimizer))

    class Module(LightningModule):
        def on_before_optimizer_step(self, optimizer: Any) -> None:
            seen.append(("module", optimizer))

    # as pytorch-lightning 1.x calls them: with the optimiser index last
    Watch().on_before_optimizer_step("trainer", "module", "opt", 1)
    Module().on_before_optimizer_step("opt", 1)
    assert seen == [("callback", "opt"), ("module", "opt")]


# ------------------------------------------------------------- config errors for 1.x's gaps


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "Training.strategy=fsdp",
            r"strategy fsdp .* needs Lightning >= 2\.6, but pytorch-lightning 1\.9\.5 is installed",
        ),
        ("Training.precision=bf16-true", r"precision bf16-true needs Lightning >= 2\.6"),
        ("Training.strategy=deepspeed", r"deepspeed .* needs the joint mode.*true on Lightning 1"),
    ],
)
def test_features_missing_on_lightning_1_are_config_errors(
    lightning_1: None, override: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_deepspeed_in_the_forced_joint_mode_is_accepted_on_lightning_1(lightning_1: None) -> None:
    config = load_config(
        None, ["Training.strategy=deepspeed", "Training.manual_optimization=false"]
    )
    assert config.Training.strategy == "deepspeed"


# -------------------------------------------------------------------------------- resume rules


def _cli_train(run_dir: Path, epochs: int, *extra: str) -> int:
    args = ["train", "--config", str(QUICKSTART), "--run-dir", str(run_dir)]
    for override in [*COMMON, f"Trainer.max_epochs={epochs}", *extra]:
        args += ["--set", override]
    return main(args)


def test_resume_in_the_other_mode_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert _cli_train(run_dir, 1, "Training.manual_optimization=false") == 0
    capsys.readouterr()
    code = _cli_train(
        run_dir, 2, "Model.continue_training=last", "Training.manual_optimization=true"
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "was trained in the joint (automatic, one optimiser) mode" in err
    assert "set Training.manual_optimization: false to resume it" in err


def test_checkpoint_mode_is_inferred_from_its_optimizers_when_not_recorded() -> None:
    old = {"optimizer_states": [{}, {}], "ganlab": {}}
    assert "alternating (manual, two optimisers) mode" in str(resume_problem(old, False, "x"))
    assert resume_problem(old, True, "x") is None


def test_lightning_2_checkpoint_is_refused_on_lightning_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ganlab.engine.checkpoint.IS_LIGHTNING_2", False)
    monkeypatch.setattr("ganlab.engine.checkpoint.LIGHTNING_VERSION", Version("1.9.5"))
    checkpoint = {"pytorch-lightning_version": "2.6.6", "ganlab": {"manual_optimization": True}}
    problem = resume_problem(checkpoint, True, "runs/x/last.ckpt")
    assert problem is not None
    assert "written by Lightning 2.6.6; pytorch-lightning 1.9.5 cannot resume it" in problem
    assert "Model.load_checkpoint=runs/x/last.ckpt" in problem


# ---------------------------------------------------------------- across the two Lightning lines


def _other_python() -> str:
    python = os.environ.get("GANLAB_OTHER_LIGHTNING_PYTHON")
    if not python:
        reason = (
            "GANLAB_OTHER_LIGHTNING_PYTHON is not set (the Python of the other Lightning line, "
            "e.g. .venv-pl19/bin/python from `make venv-pl19`)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return python


def _on_other_line(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [_other_python(), str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    answer: dict[str, Any] = json.loads(lines[-1])
    assert Version(answer["lightning"]).major != compat.LIGHTNING_VERSION.major
    return answer


@pytest.fixture(scope="module")
def other_line_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained for one epoch on the other Lightning line (its default mode)."""
    run_dir = tmp_path_factory.mktemp("other") / "run"
    assert _on_other_line("train", str(run_dir))["exit"] == 0
    return run_dir


def test_generator_export_from_the_other_line_gives_identical_outputs(
    other_line_run: Path, tmp_path: Path
) -> None:
    export = other_line_run / "checkpoints" / "last.generator.safetensors"
    theirs = tmp_path / "theirs.pt"
    _on_other_line("apply", str(export), str(theirs))
    with torch.no_grad():
        ours = load_generator(export).generator(fixed_input())
    assert torch.equal(ours, torch.load(theirs, weights_only=True))


def test_checkpoint_of_the_other_line_resumes_here_only_if_written_by_1x(
    other_line_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(other_line_run, run_dir)
    first = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    resume = ("Model.continue_training=last", "Training.manual_optimization=true")
    if not IS_LIGHTNING_2:  # written by 2.x: refused before any work, naming the way out
        assert first["pytorch-lightning_version"].startswith("2.")
        assert _cli_train(run_dir, 2, *resume) == 2
        assert "cannot resume it" in capsys.readouterr().err
        return
    # written by 1.x in its default mode (alternating); unset here means joint: refused
    assert first["pytorch-lightning_version"].startswith("1.")
    assert first["ganlab"]["manual_optimization"] is True
    assert _cli_train(run_dir, 2, "Model.continue_training=last") == 2
    assert "set Training.manual_optimization: true to resume it" in capsys.readouterr().err
    # Lightning 2.x upgrades the checkpoint; every counter continues
    assert _cli_train(run_dir, 2, *resume) == 0
    second = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert second["ganlab"]["step_count"] == 4 and second["global_step"] == 4
    assert second["epoch"] == 1


def test_checkpoint_of_this_line_resumes_on_the_other_only_if_written_by_1x(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    assert _cli_train(run_dir, 1, "Training.manual_optimization=true") == 0
    answer = _on_other_line("resume", str(run_dir), "--set", "Training.manual_optimization=true")
    if IS_LIGHTNING_2:  # 1.x cannot read 2.x loop state: refused, naming the way out
        assert answer["exit"] == 2
        assert "cannot resume it" in answer["stderr"]
        assert "Model.load_checkpoint=" in answer["stderr"]
        return
    assert answer["exit"] == 0
    second = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert second["ganlab"]["step_count"] == 4 and second["global_step"] == 4
