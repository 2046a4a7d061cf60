"""Atomic files: the final name never holds a truncated file, permissions follow the umask, and
a failed write names the file and keeps the previous one."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ganlab.cli import main
from ganlab.engine.checkpoint import ExportingCheckpointIO, read_checkpoint
from ganlab.errors import OutputError
from ganlab.export import save_generator
from ganlab.files import atomic_write, current_umask
from tests.helpers import TINY_OVERRIDES, wait_for_file

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def test_current_umask_reads_the_process_mask(umask_027: None) -> None:
    assert current_umask() == 0o027


def test_exports_and_checkpoints_get_the_permissions_of_a_plain_write(
    tmp_path: Path, umask_027: None
) -> None:
    # safetensors itself creates 0o600 files; a plain write under umask 027 gives 0o640
    export = save_generator(
        tmp_path / "g.safetensors",
        {"w": torch.zeros(2)},
        {"generator_class": "x:Y", "init_kwargs": {}, "config": {}},
        "raw",
    )
    ExportingCheckpointIO(export_generator=False).save_checkpoint(
        {"state_dict": {}}, tmp_path / "c.ckpt"
    )
    for path in (export, tmp_path / "c.ckpt"):
        assert oct(path.stat().st_mode & 0o777) == oct(0o640), path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt", "g.safetensors"]


def test_a_failed_write_names_the_file_keeps_the_previous_and_leaves_no_partial(
    tmp_path: Path,
) -> None:
    target = tmp_path / "last.ckpt"
    io = ExportingCheckpointIO(export_generator=False)
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, target)

    def disk_full(path: Path) -> None:
        path.write_bytes(b"half a checkpoi")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError) as error:
        atomic_write(target, disk_full, "checkpoint")
    assert str(error.value) == (
        f"could not write checkpoint {target} (No space left on device); the previous one is "
        "intact; free disk space or make the folder writable"
    )
    assert read_checkpoint(target)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_folder_that_cannot_be_created_is_an_error_naming_the_file(tmp_path: Path) -> None:
    # (a read-only folder would do too, but the tests may run as root, which writes anyway)
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the run folder should be")
    target = blocker / "x" / "config.yaml"
    with pytest.raises(OutputError, match=r"could not write config .*runs/x/config\.yaml \(Not a"):
        atomic_write(target, lambda p: p.write_text("x"), "config")


def test_kill_9_during_a_checkpoint_write_leaves_the_previous_checkpoint_intact(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    args = ["--config", str(QUICKSTART), "--run-dir", str(run_dir)]
    for override in [
        *TINY_OVERRIDES,
        "Trainer.limit_train_batches=2",
        "Trainer.limit_val_batches=1",
    ]:
        args += ["--set", override]
    assert main(["train", *args, "--set", "Trainer.max_epochs=1"]) == 0
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    resume = [*args, "--set", "Trainer.max_epochs=2", "--set", "Model.continue_training=last"]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "slow_save_run.py"), "--", *resume],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stalled = run_dir / "stalled"
    wait_for_file(process, stalled, "the write never stalled")
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    # the half-written file is the temporary one; the final name still holds the old checkpoint
    assert re.fullmatch(r"last\.ckpt\.\d+\.partial", Path(stalled.read_text()).name)
    assert last.read_bytes() == before
    assert read_checkpoint(last)["ganlab"]["step_count"] == 2


def test_a_writer_failing_with_a_non_oserror_for_a_full_disk_is_reported_too(
    tmp_path: Path,
) -> None:
    # torch.save reports a full disk as RuntimeError, safetensors as SafetensorError
    def torch_disk_full(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    target = tmp_path / "step-1.ckpt"
    with pytest.raises(OutputError, match=r"could not write checkpoint .*unexpected pos 64"):
        atomic_write(target, torch_disk_full, "checkpoint")
    assert list(tmp_path.iterdir()) == []


def test_writers_of_one_file_in_two_processes_use_separate_temporary_files(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "x.txt", lambda p: (seen.append(p.name), p.write_text("a")))
    assert seen == [f"x.txt.{os.getpid()}.partial"]
