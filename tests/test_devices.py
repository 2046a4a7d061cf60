"""``Training.precision: auto`` follows the device: bf16-mixed with native bf16 (CPU flags or a
CUDA GPU with bf16), float32 elsewhere; ``Training.channels_last: auto`` is true on CPUs and on
GPUs at 16 bits; both are the defaults, explicit values always win (probes faked)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganlab import devices
from ganlab.config import load_config
from ganlab.errors import ConfigError


@pytest.fixture
def cpu_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Fake ``/proc/cpuinfo`` with the given flags (and no CUDA GPU)."""

    def fake(*flags: str) -> None:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"model name\t: Test CPU\nflags\t\t: fpu sse2 avx2 {' '.join(flags)}\n")
        monkeypatch.setattr(devices, "CPUINFO", cpuinfo)
        devices.cpu_flags.cache_clear()
        monkeypatch.setattr(devices, "cuda_bf16", lambda: None)

    yield fake
    devices.cpu_flags.cache_clear()


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_picks_bf16_mixed_on_a_cpu_with_native_bf16(cpu_with, flag: str) -> None:  # type: ignore[no-untyped-def]
    cpu_with("avx512f", flag)
    config = load_config(None, ["Training.precision=auto", "Training.accelerator=cpu"])
    assert config.Training.lightning_precision == "bf16-mixed"
    assert "native bfloat16" in devices.auto_precision("cpu")[1]


def test_auto_picks_float32_on_an_avx2_only_cpu(cpu_with) -> None:  # type: ignore[no-untyped-def]
    cpu_with()
    for accelerator in ("cpu", "auto"):
        config = load_config(
            None, ["Training.precision=auto", f"Training.accelerator={accelerator}"]
        )
        assert config.Training.lightning_precision == "32-true"
    assert "slow path" in devices.auto_precision("cpu")[1]


def test_auto_follows_a_cuda_gpus_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cuda_bf16", lambda: True)
    assert devices.auto_precision("gpu")[0] == "bf16-mixed"
    monkeypatch.setattr(devices, "cuda_bf16", lambda: False)
    assert devices.auto_precision("auto") == ("32-true", "the CUDA GPU does not support bfloat16")


def test_explicit_precisions_win_over_the_probe(cpu_with) -> None:  # type: ignore[no-untyped-def]
    cpu_with("amx_bf16")
    assert load_config(None, ["Training.precision=32"]).Training.lightning_precision == "32-true"


def test_the_trainer_logs_what_auto_chose_and_why(
    cpu_with,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    from ganlab.trainer import build_trainer
    from tests.helpers import tiny_config

    cpu_with()
    config = tiny_config("Training.precision=auto", "Training.accelerator=cpu")
    with caplog.at_level("INFO"):
        trainer = build_trainer(config, tmp_path)
    assert "Training.precision auto: 32-true, because the CPU has no native bfloat16" in caplog.text
    assert "Training.channels_last auto: true, because CPU convolutions" in caplog.text
    assert "32" in str(trainer.precision)


def test_precision_and_channels_last_default_to_auto() -> None:
    training = load_config(None, []).Training
    assert (training.precision, training.channels_last) == ("auto", "auto")


@pytest.mark.parametrize("flags", [(), ("amx_bf16",)])
def test_auto_channels_last_is_true_on_a_cpu_at_any_precision(cpu_with, flags) -> None:  # type: ignore[no-untyped-def]
    cpu_with(*flags)
    for accelerator in ("cpu", "auto"):
        training = load_config(None, [f"Training.accelerator={accelerator}"]).Training
        assert training.use_channels_last is True
    assert devices.auto_channels_last("cpu", "bf16-mixed")[0] is True


def test_auto_channels_last_on_a_gpu_follows_the_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cuda_bf16", lambda: True)
    training = load_config(None, ["Training.accelerator=gpu"]).Training
    assert training.lightning_precision == "bf16-mixed" and training.use_channels_last is True
    training = load_config(None, ["Training.accelerator=gpu", "Training.precision=32"]).Training
    assert training.use_channels_last is False
    assert devices.auto_channels_last("cuda", "16-mixed")[0] is True
    assert devices.auto_channels_last("mps", "32-true")[0] is False


def test_explicit_channels_last_wins_over_the_rule(cpu_with) -> None:  # type: ignore[no-untyped-def]
    cpu_with()
    assert load_config(None, ["Training.channels_last=false"]).Training.use_channels_last is False
    assert load_config(None, ["Training.channels_last=true"]).Training.use_channels_last is True


def test_the_default_module_trains_in_channels_last_on_a_cpu(cpu_with) -> None:  # type: ignore[no-untyped-def]
    from ganlab.engine import SRGANModule
    from tests.helpers import tiny_config

    cpu_with()
    module = SRGANModule(tiny_config())
    weights = [p for p in module.generator.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


def test_resuming_with_other_device_choices_says_what_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.helpers import fit, tiny_config

    limits = {"limit_train_batches": 2, "limit_val_batches": 0}
    fit(tiny_config("Training.channels_last=false"), tmp_path, max_epochs=1, **limits)
    last = tmp_path / "checkpoints" / "last.ckpt"
    stored = torch.load(last, weights_only=False)["ganlab"]["device_choices"]
    assert stored == {"precision": "32-true", "channels_last": False}
    with caplog.at_level("WARNING"):
        fit(tiny_config("Training.channels_last=false"), tmp_path, ckpt_path=last, max_epochs=2,
            **limits)  # fmt: skip
    assert "other device choices" not in caplog.text
    with caplog.at_level("WARNING"):
        fit(tiny_config("Training.channels_last=true"), tmp_path, ckpt_path=last, max_epochs=3,
            **limits)  # fmt: skip
    assert "other device choices than the run started with (channels_last False -> True)" in (
        caplog.text
    )


def test_auto_channels_last_is_off_under_sharding_strategies_and_true_is_refused(cpu_with) -> None:  # type: ignore[no-untyped-def]
    cpu_with()
    for strategy in ("fsdp", "deepspeed"):
        chosen, reason = devices.auto_channels_last("cpu", "32-true", strategy)
        assert chosen is False and strategy in reason
    training = load_config(None, ["Training.strategy=fsdp", "Training.accelerator=cpu"]).Training
    assert training.use_channels_last is False
    with pytest.raises(ConfigError, match="channels_last: true does not work with strategy fsdp"):
        load_config(None, ["Training.strategy=fsdp", "Training.channels_last=true"])


def test_auto_channels_last_with_accelerator_auto_stays_off_on_mps(
    cpu_with, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    cpu_with()
    monkeypatch.setattr(devices, "other_accelerator", lambda: "mps")
    assert devices.auto_channels_last("auto", "32-true")[0] is False
    assert devices.auto_channels_last("cpu", "32-true")[0] is True


def test_auto_does_not_probe_cuda_before_a_forking_strategy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def probe() -> bool:
        raise AssertionError("CUDA probed")

    monkeypatch.setattr(devices, "cuda_bf16", probe)
    precision, reason = devices.auto_precision("gpu", "ddp_fork")
    assert precision == "32-true" and "set Training.precision explicitly" in reason
    assert devices.auto_channels_last("gpu", "32-true", "ddp_notebook")[0] is False


def test_emulated_bf16_on_an_older_gpu_does_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def supported(including_emulation: bool = True) -> bool:
        calls.append(including_emulation)
        return including_emulation  # an older GPU: bf16 only by emulation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    assert devices.cuda_bf16() is False and calls == [False]
    assert devices.auto_precision("gpu")[0] == "32-true"
