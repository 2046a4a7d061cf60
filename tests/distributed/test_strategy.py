"""Strategy building (``ganlab.distributed.strategy``): DDP and FSDP2 trained end to end with two
CPU processes (gloo), the strategies' settings, DeepSpeed's, and the errors for strategies this
machine cannot run.

The multi-process runs start ``tests/distributed_run.py`` in a subprocess: Lightning launches
the other ranks by running the same script again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import ganlab.distributed.strategy as strategies
from ganlab._lightning import DDPStrategy, DeepSpeedStrategy, ModelParallelStrategy
from ganlab.distributed.strategy import build_strategy, check_strategy_environment
from ganlab.errors import ConfigError
from ganlab.export import load_generator
from ganlab.trainer import build_trainer
from tests.helpers import MODES, tiny_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "distributed_run.py"
RUN_TIMEOUT_S = 150
FSDP_FLOAT16 = "Training.fsdp.mixed_precision='16'"
"""Float16 FSDP compute (quoted: an unquoted 16 reads as a number, which the schema refuses)."""

# Environment of a cluster job or a torchrun launch would make Lightning join that job
# instead of starting its own two processes.
FOREIGN_ENVIRONMENT = ("SLURM_", "TORCHELASTIC_", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")
FOREIGN_VARIABLES = {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE"}


def run_distributed(
    out: Path,
    strategy: str,
    *overrides: str,
    ckpt_path: Path | None = None,
    nan_on_rank1_step: int | None = None,
) -> None:
    """Train with two CPU processes; fails the test with the script's output on an error."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(FOREIGN_ENVIRONMENT) and key not in FOREIGN_VARIABLES
    }
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, str(SCRIPT), "--out", str(out), "--strategy", strategy]
    if ckpt_path is not None:
        command += ["--ckpt-path", str(ckpt_path)]
    if nan_on_rank1_step is not None:
        command += ["--nan-on-rank1-step", str(nan_on_rank1_step)]
    for item in overrides:
        command += ["--set", item]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"


def load_ranks(out: Path) -> list[dict[str, Any]]:
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in (0, 1)]


def max_difference(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names: list[str]
) -> float:
    return max(float((a[name].float() - b[name].float()).abs().max()) for name in names)


def assert_ranks_identical_and_trained(out: Path) -> list[dict[str, Any]]:
    """Both ranks hold the same parameters, and they moved away from the initial ones.

    Only parameters are compared: batch-norm running statistics are per-rank buffers (DDP
    copies rank 0's at the start of every forward; FSDP does not synchronise buffers).
    """
    ranks = load_ranks(out)
    initial = torch.load(out / "init.pt", weights_only=True)
    for record in ranks:
        assert record["world_size"] == 2
        assert record["backend"] == "gloo"
    for network in ("generator", "discriminator"):
        names = ranks[0]["parameter_names"][network]
        assert names
        assert max_difference(ranks[0][network], ranks[1][network], names) == 0.0, network
        assert max_difference(ranks[0][network], initial[network], names) > 0.0, network
    return ranks


# ------------------------------------------------------------------------------------- DDP

TWO_STEPS = ("Trainer.max_epochs=1", "Trainer.limit_train_batches=2", "Trainer.limit_val_batches=0")
"""Overrides for a run of two training steps on each rank and no validation."""


@pytest.mark.parametrize("mode", sorted(MODES))
def test_ddp_two_processes_keep_ranks_identical(tmp_path: Path, mode: str) -> None:
    run_distributed(tmp_path, "ddp", MODES[mode], *TWO_STEPS)
    ranks = assert_ranks_identical_and_trained(tmp_path)
    assert ranks[0]["strategy"] == "DDPStrategy"
    assert ranks[0]["step_count"] == ranks[1]["step_count"] == 2


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_nan_on_one_rank_is_skipped_on_every_rank(tmp_path: Path, mode: str) -> None:
    # a rank that skipped a backward the other one ran would hang DDP's all-reduce
    run_distributed(tmp_path, "ddp", MODES[mode], *TWO_STEPS, nan_on_rank1_step=1)
    ranks = assert_ranks_identical_and_trained(tmp_path)
    assert [r["nonfinite_total"] for r in ranks] == [1, 1]
    assert [r["step_count"] for r in ranks] == [2, 2]


def test_ddp_options_reach_the_strategy() -> None:
    config = tiny_config(
        "Training.devices=2",
        "Training.ddp.find_unused_parameters=false",
        "Training.ddp.static_graph=true",
        "Training.ddp.process_group_backend=gloo",
    )
    strategy = build_strategy(config)
    assert isinstance(strategy, DDPStrategy)
    assert strategy._ddp_kwargs == {"find_unused_parameters": False, "static_graph": True}
    assert strategy.process_group_backend == "gloo"


def test_auto_becomes_ddp_with_unused_parameter_detection() -> None:
    strategy = build_strategy(tiny_config("Training.devices=2"))
    assert isinstance(strategy, DDPStrategy)
    assert strategy._ddp_kwargs["find_unused_parameters"] is True
    assert strategy.process_group_backend is None  # Lightning picks gloo on CPU
    assert build_strategy(tiny_config("Training.devices=1")) == "auto"
    assert build_strategy(tiny_config("Training.strategy=ddp_spawn")) == "ddp_spawn"


# ------------------------------------------------------------------------------------ FSDP


def test_fsdp_trains_checkpoints_and_resumes(tmp_path: Path) -> None:
    common = (
        "Training.EMA.enabled=true",
        "Trainer.limit_train_batches=2",
        "Trainer.limit_val_batches=1",
    )
    first, second = tmp_path / "first", tmp_path / "second"
    run_distributed(first, "fsdp", *common, "Trainer.max_epochs=1")
    ranks = assert_ranks_identical_and_trained(first)
    assert ranks[0]["strategy"] == "DataParallelFSDP"
    assert ranks[0]["step_count"] == 2
    # validation ran with the EMA weights swapped into the sharded generator ...
    assert ranks[0]["validation_ema_difference"] == 0.0
    ema = ranks[0]["ema"]
    assert ema["num_updates"] == 2
    names = ranks[0]["parameter_names"]["generator"]
    # ... and the raw weights came back afterwards (they differ from the EMA ones)
    assert max_difference(ranks[0]["generator"], ema["module"], names) > 0.0
    assert max_difference(ranks[0]["ema_generator"], ema["module"], names) == 0.0

    checkpoint_path = first / "run" / "checkpoints" / "last.ckpt"
    assert checkpoint_path.is_file()  # one full file, not a folder of shards
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    for name in names:
        assert type(state[f"generator.{name}"]) is torch.Tensor
        assert torch.equal(state[f"generator.{name}"], ranks[0]["generator"][name])
    assert checkpoint["ganlab"]["step_count"] == 2
    assert len(checkpoint["ganlab"]["rng"]) == 2  # each rank's random states, by rank
    assert all(type(v) is torch.Tensor for v in checkpoint["ganlab"]["ema"]["module"].values())
    # the generator exports name the real class (not FSDP's generated wrapper) and load
    exported = load_generator(checkpoint_path.with_name("last.generator-ema.safetensors"))
    assert type(exported.generator).__name__ == "SRResNet"
    for name in names:
        assert torch.equal(exported.generator.state_dict()[name], ema["module"][name])

    run_distributed(second, "fsdp", *common, "Trainer.max_epochs=2", ckpt_path=checkpoint_path)
    resumed = assert_ranks_identical_and_trained(second)
    for record in resumed:
        assert record["start_step_count"] == 2
        assert record["step_count"] == 4
        assert record["ema"]["num_updates"] == 4
        assert max_difference(record["start_generator"], ranks[0]["generator"], names) == 0.0
    final = torch.load(second / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["ganlab"]["step_count"] == 4


def test_fsdp_strategy_settings() -> None:
    config = tiny_config(
        "Training.strategy=fsdp",
        "Training.devices=2",
        "Training.num_nodes=3",
        "Training.fsdp.save_distributed_checkpoint=true",
    )
    strategy = build_strategy(config)
    assert isinstance(strategy, ModelParallelStrategy)
    assert strategy._data_parallel_size == 6
    assert strategy._tensor_parallel_size == 1
    assert strategy._save_distributed_checkpoint is True
    auto = build_strategy(tiny_config("Training.strategy=fsdp", "Training.devices=auto"))
    assert isinstance(auto, ModelParallelStrategy)
    assert auto._data_parallel_size == "auto"  # the world size, once Lightning knows it
    assert auto._save_distributed_checkpoint is False


def test_fsdp_refuses_float16_mixed_precision() -> None:
    with pytest.raises(ConfigError, match=r"Training.precision: 16 .*mixed_precision: 16"):
        build_strategy(tiny_config("Training.strategy=fsdp", "Training.precision=16"))
    conflict = tiny_config("Training.strategy=fsdp", "Training.precision=bf16-true", FSDP_FLOAT16)
    with pytest.raises(ConfigError, match=r"conflicts with Training\.precision bf16-true"):
        build_strategy(conflict)


# ------------------------------------------------------------------------------- DeepSpeed


def test_deepspeed_strategy_carries_stage_offload_and_micro_batch() -> None:
    config = tiny_config(
        "Training.strategy=deepspeed",
        "Training.deepspeed.stage=3",
        "Training.deepspeed.offload_optimizer=true",
        "Training.deepspeed.offload_parameters=true",
        "Training.deepspeed.micro_batch_size=3",
        "Optimizers.gradient_clip_val=0.5",
    )
    strategy = build_strategy(config, check_environment=False)
    assert isinstance(strategy, DeepSpeedStrategy)
    settings = strategy.config
    assert settings is not None
    assert settings["zero_optimization"]["stage"] == 3
    assert settings["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert settings["zero_optimization"]["offload_param"]["device"] == "cpu"
    assert settings["train_micro_batch_size_per_gpu"] == 3
    assert settings["gradient_clipping"] == 0.5

    default = build_strategy(
        tiny_config("Training.strategy=deepspeed", "Data.batch_size=5"), check_environment=False
    )
    assert isinstance(default, DeepSpeedStrategy)
    assert default.config is not None
    assert default.config["zero_optimization"]["stage"] == 2
    assert "offload_optimizer" not in default.config["zero_optimization"]
    assert "offload_param" not in default.config["zero_optimization"]
    assert default.config["train_micro_batch_size_per_gpu"] == 5


def test_deepspeed_without_cuda_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = tiny_config("Training.strategy=deepspeed", "Training.accelerator=auto")
    with pytest.raises(ConfigError, match="deepspeed needs NVIDIA GPUs") as caught:
        check_strategy_environment(config)
    assert "use Training.strategy: ddp, or fsdp" in str(caught.value)
    with pytest.raises(ConfigError, match="NVIDIA GPUs"):
        build_trainer(config, tmp_path)
    with pytest.raises(ConfigError, match=r"Training\.accelerator is cpu"):
        check_strategy_environment(tiny_config("Training.strategy=deepspeed"))


def test_deepspeed_package_missing_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    find_spec = strategies.importlib.util.find_spec
    monkeypatch.setattr(
        strategies.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "deepspeed" else find_spec(name, *args),
    )
    config = tiny_config("Training.strategy=deepspeed", "Training.accelerator=gpu")
    with pytest.raises(ConfigError, match="pip install deepspeed"):
        check_strategy_environment(config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["Optimizers.gradient_clip_val=1", "Optimizers.gradient_clip_algorithm=value"], "norm"),
        (["Training.deepspeed.stage=3", "Training.EMA.enabled=true"], "stage 3"),
    ],
)
def test_deepspeed_refuses_what_it_cannot_do(overrides: list[str], message: str) -> None:
    config = tiny_config("Training.strategy=deepspeed", *overrides)
    with pytest.raises(ConfigError, match=message):
        build_strategy(config, check_environment=False)
