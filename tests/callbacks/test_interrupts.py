"""Ctrl-C and SIGTERM end a real ``ganlab train`` process in a resumable checkpoint."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganlab.callbacks.interrupts import GracefulInterrupt
from ganlab.cli import main
from tests.helpers import TINY_OVERRIDES, wait_for_file

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "interrupt_run.py"
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
OVERRIDES = [
    *TINY_OVERRIDES,
    "Trainer.deterministic=true",
    "Trainer.limit_val_batches=1",
    "Training.g_pretrain_steps=2",
    "Training.EMA.enabled=true",
    "Training.max_steps=8",
]


def _train_args(run_dir: Path, *extra: str) -> list[str]:
    args = ["--config", str(QUICKSTART), "--run-dir", str(run_dir)]
    for override in [*OVERRIDES, *extra]:
        args += ["--set", override]
    return args


def _start_gated(
    run_dir: Path, gate_step: int, hold: bool = False, extra: tuple[str, ...] = ()
) -> subprocess.Popen[str]:
    """Start a training process that holds after ``gate_step`` and wait until it is there."""
    command = [sys.executable, str(SCRIPT), "--gate-step", str(gate_step)]
    if hold:
        command.append("--hold")
    process = subprocess.Popen(
        [*command, "--", *_train_args(run_dir, *extra)],
        start_new_session=True,  # its own process group, as a terminal job has
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_file(process, run_dir / "gate", "the run never reached the gate")
    return process


def _weights(path: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    ema = checkpoint["ganlab"]["ema"]["module"]
    return {**checkpoint["state_dict"], **{f"ema.{k}": v for k, v in ema.items()}}


def test_sigterm_saves_a_checkpoint_that_resumes_to_the_uninterrupted_weights(
    tmp_path: Path,
) -> None:
    # (Ctrl-C takes the same path: see the process-group test below)
    signum = signal.SIGTERM
    assert main(["train", *_train_args(tmp_path / "straight")]) == 0
    straight = _weights(tmp_path / "straight" / "checkpoints" / "last.ckpt")

    run_dir = tmp_path / "interrupted"
    process = _start_gated(run_dir, gate_step=3)
    process.send_signal(signum)
    _, err = process.communicate(timeout=300)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert process.returncode == 128 + signum, err
    assert (
        f"{signum.name} received: stopped after generator step 4 and saved {last} "
        "(with its generator exports)" in err
    )
    assert torch.load(last, weights_only=True)["ganlab"]["step_count"] == 4
    assert (run_dir / "checkpoints" / "last.generator-ema.safetensors").is_file()
    assert "Validation on" not in err  # stopped at once, no final validation

    command = err.split("Resume with:\n", 1)[1].strip().splitlines()[0]
    words = shlex.split(command)
    assert words[:2] == ["ganlab", "train"] and words[-2:] == [
        "--set",
        "Model.continue_training=last",
    ]
    assert main(words[1:]) == 0
    resumed = _weights(last)
    assert resumed.keys() == straight.keys()
    for name, value in straight.items():
        assert torch.equal(resumed[name], value), name


def test_second_ctrl_c_aborts_without_a_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = _start_gated(run_dir, gate_step=3, hold=True)
    process.send_signal(signal.SIGINT)
    # the gate holds on; read the log until the first signal was handled (two signals sent at
    # once may reach the process as one)
    seen = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        if "SIGINT received: finishing the current step" in line:
            break
    else:
        pytest.fail("".join(seen))
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=300)
    err = "".join(seen) + rest
    assert process.returncode == 130, err
    assert "SIGINT received again: aborting without a checkpoint" in err
    assert "ganlab: interrupted" in err
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()


def test_under_ddp_a_signal_to_one_process_stops_every_process_after_the_same_step(
    tmp_path: Path,
) -> None:
    # only the first process is held and signalled; the ranks agree at every generator step
    run_dir = tmp_path / "run"
    ddp = (
        "Trainer.devices=2",
        "Training.devices=2",
        "Training.strategy=ddp",
        "Training.ddp.process_group_backend=gloo",
    )
    process = _start_gated(run_dir, gate_step=3, extra=ddp)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert process.returncode == 143, err
    assert err.count(f"SIGTERM: saved {last} after generator step 4") == 2  # both ranks
    assert f"stopped after generator step 4 and saved {last}" in err
    assert torch.load(last, weights_only=True)["ganlab"]["step_count"] == 4


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_spares_the_data_workers(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # a terminal's Ctrl-C and a scheduler's SIGTERM reach every process of the job, DataLoader
    # workers included: they must leave it to the training process, which finishes the step
    # and saves (and the workers still end with it)
    run_dir = tmp_path / "run"
    process = _start_gated(run_dir, gate_step=3, extra=("Data.num_workers=2",))
    os.killpg(process.pid, signum)
    _, err = process.communicate(timeout=300)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert process.returncode == 128 + signum, err
    assert f"{signum.name} received: stopped after generator step 4 and saved {last}" in err
    with pytest.raises(ProcessLookupError):  # the workers ended with the training process
        os.killpg(process.pid, 0)
    assert torch.load(last, weights_only=True)["ganlab"]["step_count"] == 4


def test_a_signal_after_the_last_step_skips_the_final_validation(tmp_path: Path) -> None:
    # held after step 8 = Training.max_steps: no generator step follows to act on the signal
    run_dir = tmp_path / "run"
    process = _start_gated(run_dir, gate_step=8)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 143, err
    assert "SIGTERM received after the last training step; the run had finished" in out
    assert "Validation on" not in out
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["ganlab"]["step_count"]
        == 8
    )


def test_a_signal_while_saving_is_ignored(tmp_path: Path) -> None:
    interrupt = GracefulInterrupt(tmp_path / "last.ckpt")
    interrupt._saving = True
    interrupt._handle(signal.SIGTERM, None)  # no KeyboardInterrupt
    assert interrupt.signal_name is None
    interrupt._saving = False
    interrupt._handle(signal.SIGTERM, None)
    assert interrupt.signal_name == "SIGTERM"
    with pytest.raises(KeyboardInterrupt):
        interrupt._handle(signal.SIGINT, None)  # a second signal aborts
