"""The two optimisation modes: equivalence with plain PyTorch, isolation, clipping,
accumulation, non-finite steps, EMA and resume."""

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganlab._lightning import IS_LIGHTNING_2, LIGHTNING_VERSION, Callback
from ganlab.engine import SRGANModule
from ganlab.engine.module import NonFiniteTrainingError, resolve_manual_optimization
from tests.helpers import MODES, NaNContentLoss, fit, one_epoch


class Recorder(Callback):
    """Keeps copies of the batches and of the gradients seen before each optimiser step."""

    def __init__(self) -> None:
        self.batches: list[dict] = []
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append({k: batch[k].clone() for k in ("lr", "hr")})

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = {}
        for name, param in pl_module.named_parameters():
            if param.grad is not None and any(
                param is p for g in optimizer.param_groups for p in g["params"]
            ):
                grads[name] = param.grad.detach().clone()
        self.grads.append(grads)


def test_mode_resolution() -> None:
    assert resolve_manual_optimization(True)[0] is True
    assert resolve_manual_optimization(False)[0] is False
    manual, reason = resolve_manual_optimization(None)
    # unset: joint (automatic) on Lightning >= 2, alternating (manual) on 1.x
    assert manual is (not IS_LIGHTNING_2)
    assert f"unset and Lightning {LIGHTNING_VERSION} {'<' if manual else '>='} 2" in reason


@pytest.mark.parametrize("lightning_2", [True, False])
def test_unset_mode_follows_the_lightning_major_version(monkeypatch, lightning_2: bool) -> None:
    monkeypatch.setattr("ganlab.engine.module.IS_LIGHTNING_2", lightning_2)
    assert resolve_manual_optimization(None)[0] is (not lightning_2)
    assert resolve_manual_optimization(lightning_2)[0] is lightning_2  # a set value wins


def test_manual_mode_equals_plain_pytorch_loop(make_config, tmp_path: Path) -> None:
    config = make_config(
        MODES["manual"], "Training.g_pretrain_steps=1", "Optimizers.optim_d_lr=3e-4"
    )
    module = SRGANModule(config)
    generator, discriminator = copy.deepcopy(module.generator), copy.deepcopy(module.discriminator)
    recorder = Recorder()
    fit(config, tmp_path, module, [recorder], **one_epoch(3))

    opt = config.Optimizers
    opt_g = torch.optim.Adam(
        generator.parameters(), lr=opt.optim_g_lr, betas=opt.betas, eps=opt.eps
    )
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=3e-4, betas=opt.betas, eps=opt.eps)
    beta = config.Training.Losses.adv_loss_beta
    for step, batch in enumerate(recorder.batches):
        lr = module.lr_normalizer.normalize(batch["lr"])
        hr = module.hr_normalizer.normalize(batch["hr"])
        sr = generator(lr)
        if step >= 1:
            real, _ = discriminator(hr)
            fake, _ = discriminator(sr.detach())
            d_loss = F.binary_cross_entropy_with_logits(
                real, torch.ones_like(real)
            ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = F.l1_loss(sr, hr)
        if step >= 1:
            discriminator.requires_grad_(False)
            fake, _ = discriminator(sr)
            g_loss = g_loss + beta * F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
            discriminator.requires_grad_(True)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    for mine, reference in ((module.generator, generator), (module.discriminator, discriminator)):
        for (name, value), expected in zip(
            mine.state_dict().items(), reference.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=name)


def test_joint_mode_isolates_the_two_losses(make_config, tmp_path: Path) -> None:
    config = make_config(
        MODES["joint"],
        "Training.g_pretrain_steps=0",
        "Training.Losses.adv_loss_beta=0.5",
        "Training.Losses.feature_matching_weight=0.3",
    )
    module = SRGANModule(config)
    generator, discriminator = copy.deepcopy(module.generator), copy.deepcopy(module.discriminator)
    recorder = Recorder()
    fit(config, tmp_path, module, [recorder], **one_epoch(1))

    batch = recorder.batches[0]
    lr = module.lr_normalizer.normalize(batch["lr"])
    hr = module.hr_normalizer.normalize(batch["hr"])
    sr = generator(lr)
    # the discriminator loss alone, w.r.t. the discriminator
    real, _ = discriminator(hr)
    fake, _ = discriminator(sr.detach())
    d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
    d_loss = d_loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    d_params = dict(discriminator.named_parameters())
    d_grads = torch.autograd.grad(d_loss, list(d_params.values()))
    # the generator loss alone, w.r.t. the generator
    fake, fake_features = discriminator(sr)
    with torch.no_grad():
        _, real_features = discriminator(hr)
    matching = torch.stack(
        [F.l1_loss(f, r) for f, r in zip(fake_features, real_features, strict=True)]
    ).mean()
    g_loss = (
        F.l1_loss(sr, hr)
        + 0.5 * F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        + 0.3 * matching
    )
    g_params = dict(generator.named_parameters())
    g_grads = torch.autograd.grad(g_loss, list(g_params.values()))

    seen = recorder.grads[0]
    for name, grad in zip(d_params, d_grads, strict=True):
        torch.testing.assert_close(seen[f"discriminator.{name}"], grad, rtol=1e-4, atol=1e-7)
    for name, grad in zip(g_params, g_grads, strict=True):
        torch.testing.assert_close(seen[f"generator.{name}"], grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_discriminator_untouched_in_pretraining(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(MODES[mode], "Training.g_pretrain_steps=10")
    module = SRGANModule(config)
    before = copy.deepcopy(module.discriminator.state_dict())
    g_before = copy.deepcopy(module.generator.state_dict())
    fit(config, tmp_path, module, **one_epoch(3))
    assert all(torch.equal(v, module.discriminator.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(v, module.generator.state_dict()[k]) for k, v in g_before.items())
    assert module.step_count == 3


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_clipping_per_network(make_config, tmp_path: Path, mode: str, precision: str) -> None:
    norms: list[dict[str, float]] = []

    class Recording(SRGANModule):
        def on_before_optimizer_step(self, optimizer) -> None:
            super().on_before_optimizer_step(optimizer)
            per_network: dict[str, list[torch.Tensor]] = {}
            for group in optimizer.param_groups:
                grads = [p.grad for p in group["params"] if p.grad is not None]
                per_network.setdefault(group["name"], []).extend(grads)
            norms.append(
                {
                    name: float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
                    for name, grads in per_network.items()
                    if grads
                }
            )

    config = make_config(
        MODES[mode],
        "Training.g_pretrain_steps=1",
        "Optimizers.gradient_clip_val=0.01",
        f"Training.precision={precision}",
    )
    fit(config, tmp_path, Recording(config), **one_epoch(3))
    seen = [value for step in norms for value in step.values()]
    assert len(seen) == 5  # 3 generator and 2 discriminator updates
    assert max(seen) <= 0.01 * 1.001
    assert min(seen) > 0.005  # they were clipped, not zero


@pytest.mark.parametrize("mode", sorted(MODES))
def test_accumulation_equals_concatenated_batch(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(
        MODES[mode], "Training.g_pretrain_steps=10", "Trainer.accumulate_grad_batches=2"
    )
    module = SRGANModule(config)
    generator = copy.deepcopy(module.generator)
    recorder = Recorder()
    fit(config, tmp_path, module, [recorder], **one_epoch(2))
    assert len(recorder.grads) == 1 and module.step_count == 1
    lr = module.lr_normalizer.normalize(torch.cat([b["lr"] for b in recorder.batches]))
    hr = module.hr_normalizer.normalize(torch.cat([b["hr"] for b in recorder.batches]))
    loss = F.l1_loss(generator(lr), hr)
    params = dict(generator.named_parameters())
    for name, grad in zip(params, torch.autograd.grad(loss, list(params.values())), strict=True):
        torch.testing.assert_close(
            recorder.grads[0][f"generator.{name}"], grad, rtol=1e-4, atol=1e-8
        )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_nonfinite_step_is_skipped_and_counted(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(MODES[mode], "Training.g_pretrain_steps=10")
    watch = NaNContentLoss({1})
    module, trainer = fit(config, tmp_path, callbacks=[watch], **one_epoch(3))
    assert watch.changed == [True, False, True]
    assert module.nonfinite_total == 1 and module.step_count == 3
    assert trainer.callback_metrics["train/nonfinite_steps"] == 1


@pytest.mark.parametrize("mode", sorted(MODES))
def test_too_many_nonfinite_steps_stop_the_run(make_config, tmp_path: Path, mode: str) -> None:
    config = make_config(MODES[mode], "Training.max_nonfinite_steps=2")
    with pytest.raises(NonFiniteTrainingError, match="2 consecutive steps"):
        fit(config, tmp_path, callbacks=[NaNContentLoss(None)], **one_epoch(5))


def test_nonfinite_gradients_are_dropped(make_config, tmp_path: Path) -> None:
    config = make_config(MODES["manual"], "Training.g_pretrain_steps=10")
    module = SRGANModule(config)
    handle = next(iter(module.generator.parameters())).register_hook(lambda g: g * float("inf"))
    watch = NaNContentLoss(set())
    fit(config, tmp_path, module, [watch], **one_epoch(2))
    handle.remove()
    assert watch.changed == [False, False] and module.nonfinite_total == 2


@pytest.mark.parametrize("mode", sorted(MODES))
def test_resume_continues_counter_phase_and_ema(make_config, tmp_path: Path, mode: str) -> None:
    overrides = [
        MODES[mode],
        "Training.g_pretrain_steps=3",
        "Training.adv_loss_ramp_steps=4",
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.9",
    ]
    config = make_config(*overrides)
    module, trainer = fit(config, tmp_path / "a", **one_epoch(4))
    path = tmp_path / "four.ckpt"
    trainer.save_checkpoint(path)
    assert module.step_count == 4 and module.ema.num_updates == 4
    saved_ema = copy.deepcopy(module.ema.module.state_dict())

    resumed = SRGANModule(make_config(*overrides))
    seen: dict[str, object] = {}

    class AtStart(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            seen["step"] = pl_module.step_count
            seen["active"] = pl_module.adversarial_active
            seen["weight"] = pl_module.adversarial_weight()
            seen["ema"] = {k: v.clone() for k, v in pl_module.ema.module.state_dict().items()}

    fit(
        config,
        tmp_path / "b",
        resumed,
        [AtStart()],
        ckpt_path=path,
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=0,
    )
    assert seen["step"] == 4 and seen["active"] is True
    assert seen["weight"] == pytest.approx(config.Training.Losses.adv_loss_beta * 2 / 4)
    for key, value in saved_ema.items():
        assert torch.equal(seen["ema"][key], value)
    assert resumed.step_count == 8 and resumed.ema.num_updates == 8
