from pathlib import Path

import pytest
import torch

from ganlab._lightning import Callback
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.engine.checkpoint import load_weights
from ganlab.errors import CheckpointError
from ganlab.trainer import build_trainer
from tests.helpers import MODES, fit, one_epoch


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_pretraining_changes_generator_only(make_config, tmp_path: Path) -> None:
    config = make_config("Training.g_pretrain_steps=10")
    module = SRGANModule(config)
    g_before, d_before = _snapshot(module.generator), _snapshot(module.discriminator)
    fit(config, tmp_path, module, **one_epoch(3))
    assert module.step_count == 3
    assert _changed(g_before, module.generator)
    assert not _changed(d_before, module.discriminator)
    assert not module.adversarial_active


def test_adversarial_phase_updates_discriminator(make_config, tmp_path: Path) -> None:
    config = make_config("Training.g_pretrain_steps=1")
    module = SRGANModule(config)
    d_before = _snapshot(module.discriminator)
    fit(config, tmp_path, module, **one_epoch(3))
    assert module.adversarial_active and _changed(d_before, module.discriminator)


class _DiscriminatorWatch(Callback):
    """Records the batches in which discriminator parameters (not BN buffers) changed."""

    def __init__(self) -> None:
        self.changed_at: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.before = [p.detach().clone() for p in pl_module.discriminator.parameters()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        after = list(pl_module.discriminator.parameters())
        if any(not torch.equal(a, b) for a, b in zip(self.before, after, strict=True)):
            self.changed_at.append(batch_idx)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_discriminator_updates_at_the_configured_cadence_in_both_modes(
    make_config, tmp_path: Path, mode: str
) -> None:
    # on every Lightning line, also the joint (automatic) mode forced on Lightning 1.x
    config = make_config(
        MODES[mode], "Training.g_pretrain_steps=2", "Training.d_update_interval=3", "Data.repeats=4"
    )
    module = SRGANModule(config)
    assert [module.discriminator_due(s) for s in range(9)] == [
        False,
        False,
        True,
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    watch = _DiscriminatorWatch()
    fit(config, tmp_path, module, [watch], **one_epoch(9))
    assert watch.changed_at == [2, 5, 8]


def test_adversarial_weight_ramp(make_config) -> None:
    module = SRGANModule(
        make_config(
            "Training.g_pretrain_steps=10",
            "Training.adv_loss_ramp_steps=4",
            "Training.Losses.adv_loss_beta=0.01",
        )
    )
    weights = [module.adversarial_weight(s) for s in (0, 9, 10, 11, 12, 13, 20)]
    assert weights == pytest.approx([0, 0, 0.0025, 0.005, 0.0075, 0.01, 0.01])
    module = SRGANModule(
        make_config("Training.pretrain_g_only=false", "Training.g_pretrain_steps=10")
    )
    assert module.adversarial_active and module.adversarial_weight(0) == pytest.approx(1e-3)


def test_checkpoint_round_trip_restores_counter(make_config, tmp_path: Path) -> None:
    config = make_config("Training.g_pretrain_steps=1")
    module, trainer = fit(config, tmp_path, **one_epoch(2))
    path = tmp_path / "manual.ckpt"
    trainer.save_checkpoint(path)
    fresh = SRGANModule(config)
    load_weights(fresh, path)
    assert fresh.step_count == 2
    for key, value in module.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key])


def test_checkpoint_errors(make_config, tmp_path: Path) -> None:
    module = SRGANModule(make_config())
    with pytest.raises(CheckpointError, match="does not exist"):
        load_weights(module, tmp_path / "none.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"corrupt\.ckpt cannot be read"):
        load_weights(module, corrupt)
    other = SRGANModule(make_config("Generator.large_kernel_size=5"))
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": other.state_dict()}, path)
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatch \(2\):\n    generator\.head\S*weight: "
        r"checkpoint \(8, 3, 5, 5\) vs model \(8, 3, 9, 9\)",
    ):
        load_weights(module, path)


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge", "wgan_gp", "relativistic"])
def test_every_formulation_trains(make_config, tmp_path: Path, kind: str) -> None:
    config = make_config(
        "Training.g_pretrain_steps=1",
        f"Training.Losses.adv_loss_type={kind}",
        "Training.Losses.feature_matching_weight=0.5",
        "Training.Losses.r1_weight=1.0",
        "Training.Losses.ssim_weight=0.1",
        "Training.Losses.ssim_window_size=7",
    )
    module = SRGANModule(config)
    d_before = _snapshot(module.discriminator)
    _, trainer = fit(config, tmp_path, module, **one_epoch(3))
    metrics = trainer.callback_metrics
    assert _changed(d_before, module.discriminator)
    for key in (
        "train/d_loss",
        "train/d_r1",
        "train/g_adv",
        "train/feature_matching",
        "train/ssim",
    ):
        assert torch.isfinite(metrics[key]), key
    if kind == "wgan_gp":
        assert torch.isfinite(metrics["train/d_gradient_penalty"])


def test_validation_logs_all_metrics(make_config, tmp_path: Path) -> None:
    config = make_config()
    module = SRGANModule(config)
    trainer = build_trainer(config, tmp_path, limit_val_batches=2)
    results = trainer.validate(module, datamodule=SRDataModule(config), verbose=False)[0]
    for name in ("psnr", "ssim", "sam", "ergas", "psnr_band0", "psnr_band2"):
        assert f"val/{name}" in results and f"val/{name}_bicubic" in results
    # the untrained generator starts exactly at bicubic (global skip, zero-initialised tail)
    assert results["val/psnr"] == pytest.approx(results["val/psnr_bicubic"], abs=1e-4)
    assert results["val/psnr_gain"] == pytest.approx(0.0, abs=1e-4)


def test_per_branch_normalisers(make_config, tmp_path: Path) -> None:
    config = make_config(
        "Data.normalization={lr: {type: zero_one, max_value: 10000}, "
        "hr: {type: percentile, low: [7460, 6720, 6033], high: [8770, 8528, 8888]}}",
        "Generator.global_skip=none",
    )
    module = SRGANModule(config)
    assert module.lr_normalizer.scale.tolist() == [10000.0]
    assert module.hr_normalizer.scale.tolist() == [1310.0, 1808.0, 2855.0]
    results = build_trainer(config, tmp_path, limit_val_batches=1).validate(
        module, datamodule=SRDataModule(config), verbose=False
    )[0]
    # the bicubic baseline is interpolated in physical units and compared in HR units
    assert 15 < results["val/psnr_bicubic"] < 40


def test_global_skip_needs_one_normaliser(make_config) -> None:
    from ganlab.errors import ConfigError

    with pytest.raises(ConfigError, match="global_skip adds the interpolated"):
        make_config("Data.normalization={lr: {type: zero_one, max_value: 10000}}")
