from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganlab.config import Config, load_config
from ganlab.config.load import apply_overrides, parse_value
from ganlab.config.schema import OWNED_TRAINER_ARGUMENTS
from ganlab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_defaults_are_valid_and_typed() -> None:
    config = load_config()
    assert isinstance(config, Config)
    assert config.Generator.scaling_factor == 4
    assert config.Training.lightning_precision == "32-true"
    assert config.Model.sr_bands == config.Model.in_bands


def test_yaml_and_typed_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("Training:\n  g_pretrain_steps: 5\nTrainer:\n  max_epochs: 2\n")
    config = load_config(
        path,
        [
            "Training.g_pretrain_steps=7",
            "Optimizers.optim_g_lr=1e-3",
            "Training.precision=bf16",
            "Trainer.max_steps=11",
            "Data.normalization.type=zero_one",
            "Data.normalization.max_value=255",
            "Generator.scaling_factor=2",
        ],
    )
    assert config.Training.g_pretrain_steps == 7
    assert config.Optimizers.optim_g_lr == pytest.approx(1e-3)
    assert config.Training.lightning_precision == "bf16-mixed"
    assert config.Trainer == {"max_epochs": 2, "max_steps": 11}
    assert config.Data.normalization.max_value == 255.0
    assert config.Generator.scaling_factor == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), ("1e-3", 1e-3), ("true", True), ("null", None), ("[1, 2]", [1, 2]), ("abc", "abc")],
)
def test_parse_value(text: str, expected: object) -> None:
    assert parse_value(text) == expected


def test_unknown_key_suggests_closest() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["Training.precison=bf16"])
    assert "Training.precison: unknown key; did you mean Training.precision?" in str(info.value)


def test_unknown_section_suggests_closest() -> None:
    with pytest.raises(ConfigError, match=r"Trainnig: unknown key; did you mean Training\?"):
        load_config(None, ["Trainnig.seed=1"])


def test_unknown_nested_key_names_full_path() -> None:
    with pytest.raises(
        ConfigError,
        match=r"Training\.Losses\.l1_weigth: unknown key; did you mean "
        r"Training\.Losses\.l1_weight\?",
    ):
        load_config(None, ["Training.Losses.l1_weigth=2"])


def test_wrong_type_names_key_value_and_type() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["Training.g_pretrain_steps=abc"])
    message = str(info.value)
    assert "Training.g_pretrain_steps" in message
    assert "'abc'" in message
    assert "expected int" in message


def test_literal_choices_are_listed() -> None:
    with pytest.raises(
        ConfigError, match=r"Generator\.scaling_factor: Input should be 2, 3, 4 or 8"
    ):
        load_config(None, ["Generator.scaling_factor=5"])


def test_trainer_passthrough_unknown_argument_suggests() -> None:
    with pytest.raises(
        ConfigError,
        match=r"Trainer\.max_step: not an argument .*did you mean "
        r"Trainer\.max_steps\?",
    ):
        load_config(None, ["Trainer.max_step=3"])


def test_trainer_managed_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"Trainer\.logger .*choose loggers with `Logging"):
        load_config(None, ["Trainer.logger=false"])


def test_trainer_arguments_with_own_keys_follow_one_precedence_rule(caplog) -> None:
    # only in the Trainer block: moved to the own key
    config = load_config(None, ["Trainer.precision=bf16-mixed", "Trainer.devices=2"])
    assert config.Training.lightning_precision == "bf16-mixed"
    assert config.Training.devices == 2
    assert "precision" not in config.Trainer and "devices" not in config.Trainer
    # in both: the own key wins, and the conflict is logged
    with caplog.at_level("WARNING", logger="ganlab.config.schema"):
        config = load_config(None, ["Training.precision=32", "Trainer.precision=bf16-mixed"])
    assert config.Training.lightning_precision == "32-true"
    assert "Training.precision=32 is used; Trainer.precision=bf16-mixed is ignored" in caplog.text
    # the same value twice is no conflict
    caplog.clear()
    with caplog.at_level("WARNING", logger="ganlab.config.schema"):
        load_config(None, ["Training.accelerator=cpu", "Trainer.accelerator=cpu"])
    assert caplog.text == ""


def test_unknown_strategy_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'ddpp' is not a strategy.*did you mean ddp\?"):
        load_config(None, ["Training.strategy=ddpp"])
    assert load_config(None, ["Training.strategy=ddp_spawn"]).Training.strategy == "ddp_spawn"


def test_cross_section_checks() -> None:
    with pytest.raises(ConfigError, match=r"hr_patch_size \(30\) must be a multiple"):
        load_config(None, ["Data.hr_patch_size=30"])
    with pytest.raises(ConfigError, match="global_skip"):
        load_config(None, ["Model.out_bands=1"])
    with pytest.raises(ConfigError, match="needs `max_value`"):
        load_config(None, ["Data.normalization.type=zero_one"])
    with pytest.raises(ConfigError, match="high` must be greater"):
        load_config(
            None,
            [
                "Data.normalization.type=percentile",
                "Data.normalization.low=[5, 5, 5]",
                "Data.normalization.high=[6, 4, 6]",
            ],
        )


def test_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_non_mapping_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(path)


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match=r"expected Section\.key=value"):
        apply_overrides({}, ["Training.seed"])
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"Training": 3}, ["Training.seed=1"])


def test_the_shipped_configs_are_found() -> None:
    assert [path.name for path in SHIPPED_CONFIGS] == [
        "eo_multispectral.yaml",
        "medical_mri.yaml",
        "photo_rgb.yaml",
        "quickstart.yaml",
    ]


def _leaves(mapping: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key)


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=[p.stem for p in SHIPPED_CONFIGS])
def test_shipped_config_validates_and_keeps_every_value(path: Path) -> None:
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = load_config(path)
    assert isinstance(config, Config)
    validated = config.model_dump(mode="json")
    for key in _leaves(written):
        value = written
        for part in key:
            value = value[part]
        if key[0] == "Trainer" and key[1] in OWNED_TRAINER_ARGUMENTS:
            key = tuple(OWNED_TRAINER_ARGUMENTS[key[1]].split("."))
        kept = validated
        for part in key:
            kept = kept[part]
        if key == ("Training", "precision"):
            value = str(value)  # the schema keeps precision names as text ("32", "bf16")
        assert kept == value, f"{path.name}: {'.'.join(key)} is {kept!r}, written {value!r}"
