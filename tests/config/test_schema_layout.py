"""The schema's layout: one module per section group, all gathered by ``ganlab.config.schema``."""

import ast
import importlib
from pathlib import Path

from pydantic import BaseModel

import ganlab.config.schema as schema
from ganlab.config.load import type_name
from ganlab.config.reference import nested_section
from ganlab.config.root import Config

SECTION_MODULES = (
    "base", "normalization", "data", "models", "training", "distributed", "optimization",
    "callbacks",
)  # fmt: skip
CONFIG_DIR = Path(schema.__file__).parent


def _section_classes() -> dict[str, type[BaseModel]]:
    """Every section class reachable from :class:`Config`, by name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(model: type[BaseModel]) -> None:
        found[model.__name__] = model
        for field in model.model_fields.values():
            nested, _ = nested_section(field.annotation)
            if nested is not None:
                visit(nested)

    visit(Config)
    return found


def test_schema_re_exports_every_section_from_its_defining_module() -> None:
    sections = _section_classes()
    assert {"AlertsConfig", "ExtraValidationConfig", "BranchNormalizationConfig"} <= set(sections)
    for name, model in sections.items():
        assert getattr(schema, name) is model, name
        assert name in schema.__all__, name
    for name in schema.__all__:
        assert hasattr(schema, name), name


def test_section_modules_never_import_the_root_or_the_schema() -> None:
    upward = {"ganlab.config.root", "ganlab.config.schema", "ganlab.config.load"}
    for name in SECTION_MODULES:
        tree = ast.parse((CONFIG_DIR / f"{name}.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not imported & upward, f"ganlab.config.{name} imports {imported & upward}"
        importlib.import_module(f"ganlab.config.{name}")


def test_type_names_use_the_public_schema_path() -> None:
    field = Config.model_fields["Callbacks"].annotation.model_fields["alerts"]  # type: ignore[union-attr]
    assert type_name(field.annotation) == "ganlab.config.schema.AlertsConfig | None"
