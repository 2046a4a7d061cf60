"""Extra validation hooks named in the config receive the module and every batch's outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ganlab._lightning import pl
from ganlab.callbacks.extra import BandBias, ValidationHook
from ganlab.data.datamodule import SRDataModule
from ganlab.errors import ConfigError
from ganlab.models.generators import interpolate
from ganlab.trainer import build_trainer
from tests.helpers import fit


class RecordingHook(ValidationHook):
    """Keeps every batch it sees; logs how many it saw, scaled by ``factor``."""

    instances: list[RecordingHook] = []

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor
        self.batches: list[dict[str, Any]] = []
        self.modules: list[pl.LightningModule] = []
        RecordingHook.instances.append(self)

    def reset(self, module: pl.LightningModule) -> None:
        self.batches = []

    def update(self, module: pl.LightningModule, outputs: dict[str, Any]) -> None:
        self.modules.append(module)
        self.batches.append(outputs)

    def compute(self, module: pl.LightningModule) -> dict[str, float | torch.Tensor]:
        return {"recorded_batches": self.factor * len(self.batches)}


def test_hooks_from_the_config_receive_physical_outputs_and_log(
    make_config, tmp_path: Path
) -> None:
    RecordingHook.instances.clear()
    config = make_config(
        "Training.EMA.enabled=true",
        "Training.EMA.decay=0.5",
        "Data.val_batch_size=2",
        "Callbacks.extra_validation=["
        "{target: tests.callbacks.test_extra:RecordingHook, kwargs: {factor: 10}}, "
        "{target: ganlab.callbacks.extra:BandBias, kwargs: {relative: true}}]",
    )
    module, trainer = fit(
        config, tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=2
    )

    (hook,) = RecordingHook.instances
    assert hook.modules[0] is module
    assert len(hook.batches) == 2
    assert trainer.callback_metrics["val/recorded_batches"].item() == 20.0
    datamodule = SRDataModule(config)  # the validation items do not depend on the run
    datamodule.setup("validate")
    expected = next(iter(datamodule.val_dataloader()))
    outputs = hook.batches[0]
    assert set(outputs) == {"lr", "sr", "hr", "bicubic", "correctness", "meta"}
    # physical units, as the dataset returned them
    assert torch.equal(outputs["hr"], expected["hr"]) and torch.equal(outputs["lr"], expected["lr"])
    assert outputs["sr"].shape == outputs["hr"].shape == (2, 3, 64, 64)
    assert torch.allclose(outputs["bicubic"], interpolate(expected["lr"], 4, "bicubic"))
    assert outputs["hr"].max() > 1000  # Landsat-8 digital numbers, not normalised values
    # SR comes from the EMA generator (swapped in for validation)
    with torch.no_grad():
        normalized = module.lr_normalizer.normalize(expected["lr"])
        ema_sr = module.hr_normalizer.denormalize(module.ema_generator()(normalized))
    assert torch.allclose(outputs["sr"], ema_sr, atol=1e-3)

    # the shipped per-band bias, by hand over the same outputs
    errors = torch.cat([(b["sr"] - b["hr"]).double() for b in hook.batches])
    hr = torch.cat([b["hr"].double() for b in hook.batches])
    for band in range(3):
        bias = errors[:, band].mean().item()
        logged = trainer.callback_metrics[f"val/bias_band{band}"].item()
        assert logged == pytest.approx(bias, rel=1e-5, abs=1e-3)
        relative = trainer.callback_metrics[f"val/relative_bias_band{band}"].item()
        assert relative == pytest.approx(bias / hr[:, band].mean().item(), rel=1e-5, abs=1e-7)


def test_band_bias_is_zero_for_a_perfect_output() -> None:
    hook = BandBias(relative=True)
    hr = torch.rand(2, 4, 8, 8) * 1000 + 1
    hook.reset(None)  # type: ignore[arg-type]
    hook.update(None, {"sr": hr.clone(), "hr": hr})  # type: ignore[arg-type]
    hook.update(None, {"sr": hr[:1].clone(), "hr": hr[:1]})  # type: ignore[arg-type]
    values = hook.compute(None)  # type: ignore[arg-type]
    assert values == {
        **{f"bias_band{band}": 0.0 for band in range(4)},
        **{f"relative_bias_band{band}": 0.0 for band in range(4)},
    }


def test_band_bias_is_the_mean_error_per_band_over_every_pixel() -> None:
    hook = BandBias(relative=True)
    hook.reset(None)  # type: ignore[arg-type]
    hr = torch.tensor([100.0, 200.0, 400.0, 0.0])[None, :, None, None].expand(2, 4, 8, 8)
    offset = torch.tensor([0.0, 1.0, -2.0, 0.5])[None, :, None, None]
    hook.update(None, {"sr": hr + offset, "hr": hr})  # type: ignore[arg-type]
    # a second, smaller batch with another offset: the bias weighs every pixel alike
    # (2 x 64 pixels at the first offset, 64 at the second)
    hook.update(None, {"sr": hr[:1] + 4 * offset, "hr": hr[:1]})  # type: ignore[arg-type]
    values = hook.compute(None)  # type: ignore[arg-type]
    biases = [0.0, 2.0, -4.0, 1.0]  # (2 * offset + 4 * offset) / 3
    assert values == pytest.approx(
        {
            **{f"bias_band{band}": bias for band, bias in enumerate(biases)},
            "relative_bias_band0": 0.0,
            "relative_bias_band1": 2.0 / 200,
            "relative_bias_band2": -4.0 / 400,
            "relative_bias_band3": float("nan"),  # no relative bias of a band whose mean is 0
        },
        nan_ok=True,
    )
    hook.reset(None)  # type: ignore[arg-type]
    assert hook.compute(None) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{target: nowhere.at_all:Hook}",
            r"extra_validation\[0\].target: cannot import module 'nowhere.at_all'",
        ),
        ("{target: ganlab.callbacks.extra:Missing}", r"has no attribute 'Missing'"),
        (
            "{target: ganlab.callbacks.extra:ExtraValidation}",
            r"is not a ganlab.callbacks.extra.ValidationHook",
        ),
        (
            "{target: ganlab.callbacks.extra:BandBias, kwargs: {colour: red}}",
            r"kwargs \{'colour': 'red'\} do not fit",
        ),
        ("{target: BandBias}", r"expected `package.module:Class`"),
    ],
)
def test_bad_hooks_are_config_errors(make_config, tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config = make_config(f"Callbacks.extra_validation=[{entry}]")
        build_trainer(config, tmp_path)
