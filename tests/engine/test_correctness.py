"""Faults found in review of the step flow, each with the behaviour that must hold: EMA from the
first step, exact resume, float16 scaler order, skipped steps that change nothing, frozen
discriminator parts, DeepSpeed on a non-finite loss, float32 penalties, the discriminator's own
schedule clock, the run length in own steps and optimiser settings on resume."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab._lightning import Callback, DeepSpeedStrategy, MixedPrecision, logged_batches
from ganlab.data.datamodule import SRDataModule
from ganlab.engine import SRGANModule
from ganlab.engine.hooks import GeneratorStepCallback
from ganlab.engine.module import NonFiniteTrainingError
from ganlab.errors import ConfigError
from ganlab.losses.adversarial import discriminator_r1_penalty, gradient_penalty
from tests.helpers import MODES, fit, one_epoch


def _parameters(network: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in network.named_parameters()}


class AfterGeneratorStep(GeneratorStepCallback):
    """Records the generator's and the EMA's parameters after every generator step."""

    def __init__(self) -> None:
        self.generator: list[dict[str, torch.Tensor]] = []
        self.ema: list[dict[str, torch.Tensor]] = []

    def on_generator_step(self, trainer: Any, pl_module: Any, step: int) -> None:
        self.generator.append(_parameters(pl_module.generator))
        self.ema.append(_parameters(pl_module.ema.module))


class Batches(Callback):
    """Records the HR tensor of every training batch."""

    def __init__(self) -> None:
        self.hr: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        self.hr.append(batch["hr"].clone())


# ----------------------------------------------------------------------------------- 1. EMA


def test_ema_copies_live_weights_until_update_after_step_then_averages(
    make_config, tmp_path: Path
) -> None:
    config = make_config(
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.9",
        "Training.EMA.update_after_step=2",
        "Training.max_steps=4",
    )
    seen = AfterGeneratorStep()
    fit(config, tmp_path, callbacks=(seen,), limit_val_batches=0)
    live, ema = seen.generator, seen.ema
    assert len(live) == 4
    for step in (0, 1):  # before update_after_step: an exact copy, never the initial weights
        for name, value in live[step].items():
            assert torch.equal(ema[step][name], value), name
    for name in live[0]:
        expected = 0.9 * live[1][name] + 0.1 * live[2][name]
        torch.testing.assert_close(ema[2][name], expected)
        torch.testing.assert_close(ema[3][name], 0.9 * expected + 0.1 * live[3][name])


# ---------------------------------------------------------------------------- 3. exact resume


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("checkpoint", ["stopped-run", "periodic"])
def test_resume_reproduces_the_uninterrupted_run(
    make_config, tmp_path: Path, mode: str, checkpoint: str
) -> None:
    """N steps straight == k steps + resume to N: the same batches, and bit-identical generator,
    discriminator and EMA (the gradient penalty draws from torch's global RNG every step;
    validation runs at epoch ends, and at the stop of the first run)."""
    overrides = [
        MODES[mode],
        "Trainer.deterministic=true",
        "Training.g_pretrain_steps=2",
        "Training.Losses.adv_loss_type=wgan_gp",
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.5",
        "Callbacks.checkpoint.every_n_steps=3",
    ]
    straight_batches = Batches()
    straight, _ = fit(
        make_config(*overrides, "Training.max_steps=8"),
        tmp_path / "straight",
        callbacks=(straight_batches,),
        limit_val_batches=1,
    )
    assert straight.step_count == 8  # 5 batches per epoch: the run crosses an epoch end

    if checkpoint == "stopped-run":
        first, _ = fit(
            make_config(*overrides, "Training.max_steps=3"), tmp_path / "first", limit_val_batches=1
        )
        assert first.step_count == 3
        path = tmp_path / "first" / "checkpoints" / "last.ckpt"
    else:
        path = tmp_path / "straight" / "checkpoints" / "step-0000003.ckpt"
    resumed_batches = Batches()
    resumed, _ = fit(
        make_config(*overrides, "Training.max_steps=8"),
        tmp_path / "resumed",
        callbacks=(resumed_batches,),
        ckpt_path=path,
        limit_val_batches=1,
    )

    assert resumed.step_count == 8
    assert len(resumed_batches.hr) == 5
    for mine, theirs in zip(resumed_batches.hr, straight_batches.hr[3:], strict=True):
        assert torch.equal(mine, theirs)
    for network in ("generator", "discriminator"):
        expected = _parameters(getattr(straight, network))
        for name, value in _parameters(getattr(resumed, network)).items():
            assert torch.equal(value, expected[name]), f"{network}.{name}"
    expected_ema = straight.ema.module.state_dict()
    for name, value in resumed.ema.module.state_dict().items():
        assert torch.equal(value, expected_ema[name]), f"ema.{name}"


def test_shuffle_is_a_function_of_seed_and_data_epoch(make_config) -> None:
    config = make_config()
    datamodule = SRDataModule(config)
    first = [int(i) for i in datamodule.train_dataloader().sampler]
    again = [int(i) for i in SRDataModule(config).train_dataloader().sampler]
    assert first == again and sorted(first) == list(range(len(datamodule.train_set)))
    sampler = datamodule.train_dataloader().sampler
    sampler.position = lambda: 5  # the next data epoch (5 batches of 2 per epoch)
    second_epoch = list(sampler)
    assert [index.epoch for index in second_epoch] == [1] * len(first)
    assert [int(i) for i in second_epoch] != first
    sampler.position = lambda: 7  # mid-epoch: the rest of epoch 1, then the start of epoch 2
    resumed = list(sampler)
    assert [int(i) for i in resumed[:6]] == [int(i) for i in second_epoch[4:]]
    assert [index.epoch for index in resumed] == [1] * 6 + [2] * 4


# ------------------------------------------------------------------------ 4. float16 + scaler


def _cpu_float16(growth_interval: int = 1) -> Any:
    """Lightning's float16 mixed precision with a real gradient scaler, on the CPU; the scale
    doubles after every step, so an update between two backwards changes it."""
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=growth_interval)
    return MixedPrecision("16-mixed", "cpu", scaler=scaler)


class GradientsBeforeStep(Callback):
    """Copies the (unscaled) gradients seen before every optimiser step, by network."""

    def __init__(self) -> None:
        self.grads: list[dict[str, torch.Tensor]] = []
        self.batches: list[dict[str, torch.Tensor]] = []
        self.discriminators: list[nn.Module] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        self.batches.append({k: batch[k].clone() for k in ("lr", "hr")})

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        self.discriminators.append(copy.deepcopy(pl_module.discriminator))
        self.grads.append(
            {
                name: p.grad.detach().clone()
                for name, p in pl_module.named_parameters()
                if id(p) in owned and p.grad is not None
            }
        )


def test_float16_accumulation_unscales_each_network_with_its_own_scale(
    make_config, tmp_path: Path
) -> None:
    config = make_config(
        MODES["manual"], "Training.g_pretrain_steps=0", "Trainer.accumulate_grad_batches=2"
    )
    module = SRGANModule(config)
    generator = copy.deepcopy(module.generator)
    discriminator = copy.deepcopy(module.discriminator)
    seen = GradientsBeforeStep()
    precision = _cpu_float16()
    fit(
        config,
        tmp_path,
        module,
        callbacks=(seen,),
        plugins=[precision],
        **one_epoch(2),
    )
    assert len(seen.grads) == 2  # one window: the discriminator's step, then the generator's
    # the reference: the same two micro-batches under the same autocast, in float32 gradients
    beta = config.Training.Losses.adv_loss_beta
    generator_loss = torch.zeros(())
    # the first micro-batch meets the initial D, the second the D after its step
    for batch, critic in zip(seen.batches, (discriminator, seen.discriminators[1]), strict=True):
        lr = module.lr_normalizer.normalize(batch["lr"])
        hr = module.hr_normalizer.normalize(batch["hr"])
        with torch.autocast("cpu", dtype=torch.float16):
            sr = generator(lr)
            fake, _ = critic(sr)
            adversarial = F.binary_cross_entropy_with_logits(fake.float(), torch.ones_like(fake))
            generator_loss = generator_loss + (F.l1_loss(sr.float(), hr) + beta * adversarial) / 2
    params = dict(generator.named_parameters())
    expected = torch.autograd.grad(generator_loss, list(params.values()))
    for (name, _), grad in zip(params.items(), expected, strict=True):
        # tolerance of float16 activations; a wrong scale is off by a factor of 1.5 to 2
        torch.testing.assert_close(
            seen.grads[1][f"generator.{name}"], grad, rtol=0.05, atol=1e-4, msg=name
        )
    assert precision.scaler.get_scale() == 2.0**11  # updated once for the one step


def test_skipped_joint_step_drops_gradients_with_a_scaler(make_config) -> None:
    module = SRGANModule(make_config(MODES["joint"]))
    optimizer = module.configure_optimizers()[0]
    for param in module.parameters():
        param.grad = torch.zeros_like(param)
    scaler = torch.amp.GradScaler("cpu")
    module._trainer = SimpleNamespace(  # type: ignore[assignment]
        precision_plugin=SimpleNamespace(scaler=scaler), world_size=1
    )
    module.guard.mark()
    module.on_before_optimizer_step(optimizer)
    assert all(p.grad is None for p in module.parameters())


def test_nonfinite_joint_step_under_float16_changes_no_parameter_or_moment(
    make_config, tmp_path: Path
) -> None:
    config = make_config(MODES["joint"], "Training.g_pretrain_steps=0")
    snapshots: list[tuple[dict[str, torch.Tensor], dict[str, Any]]] = []

    class PoisonSecondStep(Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
            if idx == 1:
                batch["hr"][0, 0, 0, 0] = float("nan")

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            optimizer = trainer.optimizers[0]
            moments = {
                id(p): {k: v.clone() for k, v in optimizer.state[p].items()}
                for group in optimizer.param_groups
                for p in group["params"]
                if p in optimizer.state
            }
            snapshots.append((_parameters(pl_module), moments))

    module, _ = fit(
        config,
        tmp_path,
        callbacks=(PoisonSecondStep(),),
        plugins=[_cpu_float16(growth_interval=1000)],
        **one_epoch(2),
    )
    assert module.nonfinite_total == 1
    (params_before, moments_before), (params_after, moments_after) = snapshots
    for name, value in params_before.items():
        assert torch.equal(params_after[name], value), name
    assert moments_after.keys() == moments_before.keys()
    for key, state in moments_before.items():
        for field, value in state.items():
            assert torch.equal(moments_after[key][field], value), field


# ---------------------------------------------------------------------- 6. frozen D parameters


@pytest.mark.parametrize("mode", sorted(MODES))
def test_frozen_discriminator_parameters_stay_frozen(
    make_config, tmp_path: Path, mode: str
) -> None:
    config = make_config(MODES[mode], "Training.g_pretrain_steps=0")
    module = SRGANModule(config)
    frozen = next(iter(module.discriminator.parameters()))
    frozen.requires_grad_(False)
    before = frozen.detach().clone()
    fit(config, tmp_path, module, **one_epoch(2))
    assert frozen.requires_grad is False
    assert frozen.grad is None and torch.equal(frozen, before)
    trainable = [p for p in module.discriminator.parameters() if p is not frozen]
    assert all(p.requires_grad for p in trainable)


# ------------------------------------------------------------------------ 7. DeepSpeed + NaN


def test_deepspeed_nonfinite_loss_stops_with_a_message(make_config) -> None:
    config = make_config(MODES["joint"], "Training.strategy=deepspeed")
    module = SRGANModule(config)
    strategy = DeepSpeedStrategy.__new__(DeepSpeedStrategy)
    module._trainer = SimpleNamespace(strategy=strategy, world_size=1)  # type: ignore[assignment]
    module.log_dict = lambda *args, **kwargs: None  # type: ignore[method-assign]
    lr = torch.rand(2, 3, 8, 8)
    hr = torch.full((2, 3, 32, 32), float("nan"))
    with pytest.raises(NonFiniteTrainingError, match=r"Training\.max_nonfinite_steps"):
        module.step.run(module, lr, hr, True)


# ----------------------------------------------------------------- 8. float32 penalties


class TinyCritic(nn.Module):
    """A critic whose input gradients are ~1e-9: below float16's smallest subnormal (6e-8)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.mul_(1e-8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = self.conv(x)
        return features.mean(dim=(1, 2, 3)), [features]


def test_penalties_under_float16_autocast_equal_float32() -> None:
    torch.manual_seed(0)
    critic = TinyCritic()
    real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    r1_reference = discriminator_r1_penalty(critic, real)
    torch.manual_seed(1)
    gp_reference = gradient_penalty(critic, real, fake)
    with torch.autocast("cpu", dtype=torch.float16):
        r1 = discriminator_r1_penalty(critic, real)
        torch.manual_seed(1)
        gp = gradient_penalty(critic, real, fake)
    assert r1_reference > 0
    torch.testing.assert_close(r1, r1_reference, rtol=1e-5, atol=0)
    torch.testing.assert_close(gp, gp_reference, rtol=1e-6, atol=0)
    assert r1.dtype == gp.dtype == torch.float32


# ------------------------------------------------------------ 10. run length in own steps


@pytest.mark.parametrize("mode", sorted(MODES))
def test_max_steps_counts_generator_steps_and_ends_the_cosine(
    make_config, tmp_path: Path, mode: str
) -> None:
    config = make_config(
        MODES[mode],
        "Training.g_pretrain_steps=2",
        "Training.max_steps=7",
        "Optimizers.optim_g_lr=1e-3",
        "Schedulers.generator.type=cosine",
        "Schedulers.generator.min_lr_ratio=0.1",
        "Schedulers.discriminator.type=cosine",
    )
    module, trainer = fit(config, tmp_path, limit_val_batches=0)
    assert module.step_count == 7  # 5 batches per epoch: the run is not cut at an epoch end
    rates = {g["name"]: g["lr"] for o in trainer.optimizers for g in o.param_groups}
    # step 6 is the cosine's step 6 of 7 (generator) and the discriminator's update 4 of 5
    assert rates["generator"] == pytest.approx(
        1e-3 * (0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 6 / 7)).item()))
    )
    d_base = config.Optimizers.discriminator_lr
    assert rates["discriminator"] == pytest.approx(
        d_base * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 4 / 5)).item())
    )


# ---------------------------------------------------------------------------- 11. smaller ones


def test_consecutive_nonfinite_count_survives_a_checkpoint(make_config) -> None:
    module = SRGANModule(make_config())
    module.guard.consecutive = 4
    checkpoint: dict[str, Any] = {}
    module.on_save_checkpoint(checkpoint)
    restored = SRGANModule(make_config())
    restored.on_load_checkpoint(checkpoint)
    assert restored.guard.consecutive == 4


def test_optimizer_is_untoggled_when_a_loss_raises(make_config, tmp_path: Path) -> None:
    config = make_config(MODES["manual"], "Training.g_pretrain_steps=0")
    module = SRGANModule(config)

    def broken(*args: Any) -> Any:
        raise RuntimeError("loss failed")

    module.gan_objective.discriminator_step_loss = broken  # type: ignore[method-assign]
    flags: dict[str, bool] = {}

    class Flags(Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            flags.update({n: p.requires_grad for n, p in pl_module.named_parameters()})

    with pytest.raises(RuntimeError, match="loss failed"):
        fit(config, tmp_path, module, callbacks=(Flags(),), **one_epoch(1))
    assert flags and all(flags.values())  # the generator was not left frozen by the toggle


def test_resume_applies_changed_learning_rate_and_weight_decay(
    make_config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_config("Training.g_pretrain_steps=0", "Training.max_steps=2")
    fit(first, tmp_path / "a", limit_val_batches=0)
    changed = make_config(
        "Training.g_pretrain_steps=0",
        "Training.max_steps=3",
        "Optimizers.optim_g_lr=5e-5",
        "Optimizers.weight_decay=0.01",
    )
    with caplog.at_level("INFO"):
        _, trainer = fit(
            changed,
            tmp_path / "b",
            ckpt_path=tmp_path / "a" / "checkpoints" / "last.ckpt",
            limit_val_batches=0,
        )
    groups = [g for o in trainer.optimizers for g in o.param_groups]
    generator = [g for g in groups if g["name"] == "generator"]
    assert all(g["lr"] == pytest.approx(5e-5) for g in generator)
    assert {g["weight_decay"] for g in groups if g["decayed"]} == {0.01}
    assert {g["weight_decay"] for g in groups if not g["decayed"]} == {0.0}
    assert "Optimizers.optim_g_lr=5e-05 (the checkpoint had 0.0002)" in caplog.text


@pytest.mark.parametrize("mode", sorted(MODES))
def test_accumulation_keeps_its_window_through_a_mid_epoch_validation(
    make_config, tmp_path: Path, mode: str
) -> None:
    # alternating: the module accumulates; joint: Lightning does (pytorch-lightning 1.x zeroes
    # the gradients when validation starts, which the compatibility module routes to the module)
    config = make_config(
        MODES[mode], "Training.g_pretrain_steps=10", "Trainer.accumulate_grad_batches=2"
    )
    module = SRGANModule(config)
    generator = copy.deepcopy(module.generator)
    seen = GradientsBeforeStep()
    # validation after the first batch of the window (val_check_interval=1) must not zero it
    fit(
        config,
        tmp_path,
        module,
        callbacks=(seen,),
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        val_check_interval=1,
    )
    assert len(seen.grads) == 1 and module.step_count == 1
    lr = module.lr_normalizer.normalize(torch.cat([b["lr"] for b in seen.batches]))
    hr = module.hr_normalizer.normalize(torch.cat([b["hr"] for b in seen.batches]))
    params = dict(generator.named_parameters())
    expected = torch.autograd.grad(F.l1_loss(generator(lr), hr), list(params.values()))
    for (name, _), grad in zip(params.items(), expected, strict=True):
        torch.testing.assert_close(seen.grads[0][f"generator.{name}"], grad, rtol=1e-4, atol=1e-8)


def test_max_steps_with_a_lightning_lower_bound_is_a_config_error(make_config) -> None:
    with pytest.raises(ConfigError, match=r"Trainer\.min_epochs keeps Lightning from stopping"):
        make_config("Training.max_steps=5", "Trainer.min_epochs=3")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_an_epoch_cut_by_limit_train_batches_ends_its_accumulation_window(
    make_config, tmp_path: Path, mode: str
) -> None:
    # 3 batches, windows of 2: [0, 1] and [2], which the epoch's (limited) end closes
    config = make_config(MODES[mode], "Trainer.accumulate_grad_batches=2")
    seen = GradientsBeforeStep()
    module, trainer = fit(config, tmp_path, callbacks=(seen,), **one_epoch(3))
    assert module.step_count == 2
    generator_steps = [
        grads for grads in seen.grads if any(n.startswith("generator.") for n in grads)
    ]
    assert len(generator_steps) == 2
    first = next(iter(module.generator.parameters()))
    optimizer = trainer.optimizers[0]
    assert int(optimizer.state[first]["step"]) == 2


class BatchPositions(Callback):
    """Records (epoch, batch index, logger step) at every training batch."""

    def __init__(self) -> None:
        self.positions: list[tuple[int, int, int]] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        self.positions.append((trainer.current_epoch, idx, logged_batches(trainer)))


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("saved", ["step", "validation"])
def test_resume_continues_batch_index_and_logger_step(
    make_config, tmp_path: Path, mode: str, saved: str
) -> None:
    """A checkpoint written at a batch's end (periodic, every 2 generator steps = 4 batches) or
    by a validation inside the epoch (after batch 4) resumes at the next batch, with the next
    logger step: the accumulation windows and the logged x axis stay where they were."""
    overrides = [MODES[mode], "Trainer.accumulate_grad_batches=2", "Training.g_pretrain_steps=1"]
    if saved == "step":
        overrides.append("Callbacks.checkpoint.every_n_steps=2")
        validation: dict[str, int] = {"limit_val_batches": 0}
    else:
        validation = {"limit_val_batches": 1, "val_check_interval": 4}
    straight = BatchPositions()
    fit(make_config(*overrides), tmp_path / "a", callbacks=(straight,), max_epochs=2, **validation)
    assert len(straight.positions) == 10

    if saved == "step":
        path = tmp_path / "a" / "checkpoints" / "step-0000002.ckpt"
    else:
        path = tmp_path / "mid.ckpt"
        _stop_after_first_validation(make_config(*overrides), tmp_path / "c", path, validation)
    resumed = BatchPositions()
    fit(
        make_config(*overrides),
        tmp_path / "d",
        callbacks=(resumed,),
        ckpt_path=path,
        max_epochs=2,
        **validation,
    )
    assert resumed.positions == straight.positions[4:]


def _stop_after_first_validation(
    config: Any, run_dir: Path, path: Path, trainer_kwargs: Any
) -> None:
    """Train until the first validation inside the epoch and save a checkpoint at its end (as
    the product's ``last.ckpt`` is saved) to ``path``."""

    class SaveAndStop(Callback):
        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                trainer.save_checkpoint(path)
                raise _Stop

    with pytest.raises(_Stop):
        fit(config, run_dir, callbacks=(SaveAndStop(),), max_epochs=1, **trainer_kwargs)


class _Stop(Exception):
    pass
