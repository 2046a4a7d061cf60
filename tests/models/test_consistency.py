"""The LR-consistency layer: SR that the data's operator degrades back into the LR input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganlab.config import Config
from ganlab.data.degradations import gaussian_blur, mtf_to_sigma
from ganlab.data.normalizers import build_normalizers
from ganlab.data.transforms import downsample
from ganlab.errors import ConfigError
from ganlab.export import generator_description, load_generator, save_generator
from ganlab.inference.exports import PhysicalGenerator, export_onnx, export_torchscript
from ganlab.models import LRConsistentGenerator, build_generator, load_generator_weights
from ganlab.models.generators.consistency import LRProjection, SensorOperator
from tests.models.tiny import GENERATOR_NAMES, TINY_GENERATOR


def percentile(bands: int) -> dict[str, object]:
    """Percentile normalisation mapping 100..9000 of every band to 0..1."""
    return {"type": "percentile", "low": [100.0] * bands, "high": [9000.0] * bands}


def hard_config(name: str, bands: int, scale: int, **data: object) -> Config:
    """A tiny ``name`` generator with the hard layer whose untrained output is far from the
    measurement (random, non-zero last conv), on percentile-normalised data."""
    return Config.model_validate(
        {
            "Data": {"hr_patch_size": 24 * scale, "normalization": percentile(bands), **data},
            "Model": {"in_bands": bands},
            "Generator": {
                "model_type": name,
                "scaling_factor": scale,
                "n_channels": 8,
                "large_kernel_size": 3,
                "zero_init_last": False,
                "lr_consistency": "hard",
                **TINY_GENERATOR[name],
            },
        }
    )


def physical_error(config: Config, generator: torch.nn.Module, lr: torch.Tensor) -> float:
    """max |D(SR) - LR| in physical units relative to the largest physical magnitude of SR and
    the data range (float32 keeps about 7 digits of it), with ``lr`` physical."""
    lr_norm, hr_norm = build_normalizers(config)
    with torch.no_grad():
        sr = hr_norm.denormalize(generator(lr_norm.normalize(lr)))
    spec = config.Data.degradation
    sigma = 0.0 if spec.mtf_nyquist is None else mtf_to_sigma(spec.mtf_nyquist, generator.scale)
    sigma = sigma or float(spec.blur_sigma)  # type: ignore[arg-type]
    degraded = downsample(gaussian_blur(sr, sigma), generator.scale, config.Data.downsample)
    return float((degraded - lr).abs().max()) / max(8900.0, float(sr.abs().max()))


@pytest.mark.parametrize("name", GENERATOR_NAMES)
@pytest.mark.parametrize(("scale", "bands"), [(2, 1), (3, 4), (4, 6), (8, 3)])
def test_hard_area_layer_gives_back_the_lr_input_for_every_family_scale_and_band_count(
    name: str, scale: int, bands: int
) -> None:
    torch.manual_seed(scale * 10 + bands)
    config = hard_config(name, bands, scale)
    generator = build_generator(config).eval()
    assert isinstance(generator, LRConsistentGenerator)
    lr = 100.0 + 8900.0 * torch.rand(2, bands, 8, 8)
    before = generator.network
    lr_norm, hr_norm = build_normalizers(config)
    with torch.no_grad():
        raw = hr_norm.denormalize(before(lr_norm.normalize(lr)))
    raw_error = float((F.avg_pool2d(raw, scale) - lr).abs().max()) / 8900.0
    assert raw_error > 1e-2  # the network alone does not keep the measurement
    assert physical_error(config, generator, lr) < 2e-6  # float32 rounding


@pytest.mark.parametrize(
    ("downsample_method", "degradation"),
    [
        ("bicubic", {}),
        ("area", {"mtf_nyquist": 0.3}),
        ("bicubic", {"mtf_nyquist": 0.3}),
        ("area", {"blur_sigma": 0.9}),
    ],
)
@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_hard_layer_projects_bicubic_and_blurred_operators_to_the_documented_bound(
    downsample_method: str, degradation: dict[str, float], scale: int
) -> None:
    torch.manual_seed(scale)
    config = hard_config(
        "srresnet", 4, scale, downsample=downsample_method, degradation=degradation
    )
    generator = build_generator(config).eval()
    lr = 100.0 + 8900.0 * torch.rand(2, 4, 12, 12)
    assert physical_error(config, generator, lr) < 1e-5  # docs/losses.md, Faithful SR


def test_hard_layer_refuses_blur_beyond_the_documented_limit() -> None:
    with pytest.raises(ValueError, match=r"stronger than MTF 0\.3"):
        hard_config("srresnet", 3, 4, degradation={"mtf_nyquist": 0.2})


def test_hard_layer_holds_in_physical_units_with_different_lr_and_hr_normalisers() -> None:
    torch.manual_seed(8)
    normalization = {
        "lr": {"type": "reflectance", "signed": True},
        "hr": {"type": "mean_std", "mean": [900.0, 1500.0, 400.0], "std": [300.0, 250.0, 90.0]},
    }
    for downsample_method in ("area", "bicubic"):
        config = Config.model_validate(
            {
                "Data": {"normalization": normalization, "downsample": downsample_method},
                "Generator": {"lr_consistency": "hard", "global_skip": "none",
                              "n_channels": 8, "n_blocks": 1, "zero_init_last": False},
            }
        )  # fmt: skip
        generator = build_generator(config).eval()
        lr = 5000.0 * torch.rand(2, 3, 8, 8)
        lr_norm, hr_norm = build_normalizers(config)
        with torch.no_grad():
            sr = hr_norm.denormalize(generator(lr_norm.normalize(lr)))
        degraded = downsample(sr, 4, downsample_method)
        assert float((degraded - lr).abs().max()) < 1e-6 * float(sr.abs().max()) * 10


def test_projection_keeps_a_half_precision_dtype_without_autocast() -> None:
    projection = LRProjection(SensorOperator(2), 3, [0.0], [1.0], [0.0], [1.0]).bfloat16()
    sr = torch.rand(1, 3, 8, 8, dtype=torch.bfloat16)
    lr = torch.rand(1, 3, 4, 4, dtype=torch.bfloat16)
    projected = projection(sr, lr)
    assert projected.dtype == torch.bfloat16
    assert float((F.avg_pool2d(projected.float(), 2) - lr.float()).abs().max()) < 2e-2


def test_receptive_radius_of_the_area_wrapper_is_its_networks() -> None:
    from ganlab.models.describe import receptive_radius

    generator = build_generator(hard_config("srresnet", 3, 2))
    radius = receptive_radius(generator)
    assert radius is not None and radius == receptive_radius(generator.network) > 0


def test_onnx_export_of_a_bicubic_projection_fails_with_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from ganlab.errors import OutputError

    config = hard_config("srresnet", 3, 2, downsample="bicubic")
    lr_norm, hr_norm = build_normalizers(config)
    physical = PhysicalGenerator(build_generator(config).eval(), lr_norm, hr_norm)
    with pytest.raises(OutputError, match=r"upsample_bicubic2d_aa"):
        export_onnx(physical, tmp_path / "g.onnx", 100.0 + 8900.0 * torch.rand(1, 3, 12, 12))
    assert not (tmp_path / "g.onnx").exists()


def test_projection_error_falls_with_the_iterations() -> None:
    torch.manual_seed(0)
    operator = SensorOperator(4, "bicubic", mtf_to_sigma(0.3, 4))
    lr, sr = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 48, 48)
    errors = []
    for iterations in (1, 5, 30):
        projection = LRProjection(operator, 3, [0.0], [1.0], [0.0], [1.0], iterations)
        errors.append(float(projection.residual(projection(sr, lr), lr).abs().max()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-5


def test_projection_holds_in_physical_units_with_different_lr_and_hr_normalisers() -> None:
    torch.manual_seed(1)
    projection = LRProjection(SensorOperator(2), 2, [0.0, 10.0], [100.0, 50.0], [5.0], [20.0])
    lr_physical = torch.rand(1, 2, 6, 6) * 100
    lr = (lr_physical - torch.tensor([0.0, 10.0]).reshape(1, 2, 1, 1)) / torch.tensor(
        [100.0, 50.0]
    ).reshape(1, 2, 1, 1)
    sr = projection(torch.randn(1, 2, 12, 12), lr)
    sr_physical = sr * 20.0 + 5.0
    assert torch.allclose(F.avg_pool2d(sr_physical, 2), lr_physical, atol=1e-4)


def test_projection_runs_in_float32_under_bf16_autocast() -> None:
    torch.manual_seed(2)
    projection = LRProjection(SensorOperator(2, "area", 1.0), 3, [0.0], [1.0], [0.0], [1.0])
    lr, sr = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        projected = projection(sr, lr)
    assert projected.dtype == torch.float32
    assert float(projection.residual(projected, lr).abs().max()) < 1e-5


def test_gradients_flow_through_the_layer_to_every_weight() -> None:
    torch.manual_seed(3)
    generator = build_generator(hard_config("srresnet", 3, 2, downsample="bicubic"))
    loss = (generator(torch.rand(2, 3, 8, 8)) - torch.rand(2, 3, 16, 16)).abs().mean()
    loss.backward()
    missing = [n for n, p in generator.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_export_reload_reproduces_the_wrapped_generator_and_keeps_the_constraint(
    tmp_path: Path,
) -> None:
    torch.manual_seed(4)
    config = hard_config("rcan", 4, 3)
    generator = build_generator(config).eval()
    path = save_generator(
        tmp_path / "g.generator.safetensors",
        generator.state_dict(),
        generator_description(generator, config),
        "raw",
    )
    loaded = load_generator(path)
    assert isinstance(loaded.generator, LRConsistentGenerator)
    lr = 100.0 + 8900.0 * torch.rand(1, 4, 8, 8)
    lr_norm, _ = build_normalizers(config)
    with torch.no_grad():
        normalized = lr_norm.normalize(lr)
        assert torch.equal(loaded.generator(normalized), generator(normalized))
    assert physical_error(config, loaded.generator, lr) < 2e-6


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("degradation", [{}, {"mtf_nyquist": 0.4}], ids=["area", "area+psf"])
def test_traced_exports_keep_the_constraint(
    fmt: str, degradation: dict[str, float], tmp_path: Path
) -> None:
    torch.manual_seed(5)
    config = hard_config("srresnet", 3, 2, degradation=degradation)
    generator = build_generator(config).eval()
    lr_norm, hr_norm = build_normalizers(config)
    physical = PhysicalGenerator(generator, lr_norm, hr_norm)
    example = 100.0 + 8900.0 * torch.rand(1, 3, 12, 12)
    other = 100.0 + 8900.0 * torch.rand(2, 3, 10, 14)
    if fmt == "torchscript":
        path = export_torchscript(physical, tmp_path / "g.pt", example)  # checked on export
        with torch.no_grad():
            sr = torch.jit.load(str(path))(other)
    else:
        ort = pytest.importorskip("onnxruntime")
        path = export_onnx(physical, tmp_path / "g.onnx", example)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        sr = torch.from_numpy(session.run(None, {"lr": other.numpy()})[0])
    with torch.no_grad():
        degraded = generator.projection.operator(sr)
    assert float((degraded - other).abs().max()) / max(8900.0, float(sr.abs().max())) < 1e-5


def test_plain_weights_load_into_the_wrapped_generator_and_back() -> None:
    torch.manual_seed(6)
    wrapped = build_generator(hard_config("srresnet", 3, 2))
    plain = wrapped.network
    other = build_generator(hard_config("srresnet", 3, 2))
    load_generator_weights(other, plain.state_dict())
    pairs = zip(other.state_dict().values(), wrapped.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    fresh_plain = type(plain)(**plain.init_kwargs)
    load_generator_weights(fresh_plain, wrapped.state_dict())
    assert torch.equal(fresh_plain.tail.weight, plain.tail.weight)


def test_wrapped_generator_starts_from_the_same_weights_as_the_plain_one() -> None:
    config = hard_config("srresnet", 3, 2)
    torch.manual_seed(7)
    wrapped = build_generator(config)
    torch.manual_seed(7)
    plain = build_generator(config.model_copy(update={
        "Generator": config.Generator.model_copy(update={"lr_consistency": "none"})}))  # fmt: skip
    assert all(
        torch.equal(wrapped.network.state_dict()[k], v) for k, v in plain.state_dict().items()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Model": {"in_bands": 3, "out_bands": 4}, "Generator": {"global_skip": "none"}},
         "out_bands"),
        ({"Data": {"degradation": {"blur_sigma": [0.5, 1.5]}}}, "blur_sigma is the range"),
        ({"Training": {"strategy": "fsdp", "precision": "bf16-mixed"}}, "FSDP would cast"),
        ({"Data": {"normalization": {"type": "percentile", "low": [0.0] * 3,
                                     "high": [1.0] * 3, "clip": True}}}, "clips"),
    ],
)  # fmt: skip
def test_hard_layer_config_errors_name_the_key_and_the_fix(
    overrides: dict[str, dict[str, object]], message: str
) -> None:
    from ganlab.config.load import validate_config

    raw: dict[str, dict[str, object]] = {"Generator": {"lr_consistency": "hard"}}
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    with pytest.raises(ConfigError, match=message) as error:
        validate_config(raw)
    assert "Generator.lr_consistency" in str(error.value)


def test_consistency_weight_without_soft_mode_is_a_config_error() -> None:
    from ganlab.config.load import validate_config

    with pytest.raises(ConfigError, match=r"set Generator\.lr_consistency: soft"):
        validate_config({"Training": {"Losses": {"lr_consistency_weight": 0.5}}})


def test_model_load_checkpoint_puts_plain_run_weights_into_a_hard_module(tmp_path: Path) -> None:
    from ganlab.engine import SRGANModule
    from ganlab.engine.checkpoint import load_start_weights
    from tests.helpers import tiny_config

    torch.manual_seed(9)
    plain = SRGANModule(tiny_config("Generator.zero_init_last=false"))
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": plain.state_dict()}, path)
    hard = SRGANModule(tiny_config("Generator.lr_consistency=hard", "Training.EMA.enabled=true"))
    assert load_start_weights(hard, path) == ["generator", "discriminator"]
    for key, value in plain.generator.state_dict().items():
        assert torch.equal(hard.generator.network.state_dict()[key], value)
        assert torch.equal(hard.ema.module.network.state_dict()[key], value)
    for key, value in plain.discriminator.state_dict().items():
        assert torch.equal(hard.discriminator.state_dict()[key], value)


def test_tiled_prediction_with_the_area_layer_equals_the_whole_image_and_keeps_lr() -> None:
    from ganlab.inference.resolver import SuperResolver

    torch.manual_seed(10)
    config = hard_config("srresnet", 3, 2)
    generator = build_generator(config).eval()
    lr_norm, hr_norm = build_normalizers(config)
    resolver = SuperResolver(generator, lr_norm, hr_norm, scale=2, in_bands=3, out_bands=3)
    image = 100.0 + 8900.0 * torch.rand(3, 150, 140)
    tiling = resolver.tiling(None, None, None)
    assert tiling.tile < 140 and tiling.exact_for(resolver.receptive_radius)
    tiled = torch.as_tensor(resolver(image))
    whole = torch.as_tensor(resolver(image, whole_image=True))
    assert float((tiled - whole).abs().max()) < 1e-6 * float(whole.abs().max()) * 10
    assert float((F.avg_pool2d(tiled[None], 2)[0] - image).abs().max()) / 8900.0 < 2e-6
