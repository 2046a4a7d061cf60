import inspect
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ganlab.cli import main
from ganlab.config import Config
from ganlab.config.reference import render_reference
from ganlab.config.schema import MANAGED_TRAINER_ARGUMENTS, OWNED_TRAINER_ARGUMENTS

REPO = Path(__file__).resolve().parents[2]

_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


def _sections_in(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """Section models held by a field, each with its title suffix ("" or "[]" for a list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return [found for arg in args for found in _sections_in(arg)]
    if origin is list:
        return [(model, "[]") for model, _ in _sections_in(args[0])]
    return []


def _schema_keys(model: type[BaseModel], title: str) -> Iterator[tuple[str, str, FieldInfo]]:
    """(section title, key, field) for every key of ``model`` and, recursively, of every
    section it holds: plain, optional (``X | None``) or a list of sections (``key[]``)."""
    for name, field in model.model_fields.items():
        yield title, name, field
        for nested, suffix in _sections_in(field.annotation):
            yield from _schema_keys(nested, f"{title}.{name}{suffix}")


def _schema_sections() -> dict[str, type[BaseModel]]:
    """Section title -> model, from walking :class:`Config`."""
    found: dict[str, type[BaseModel]] = {}

    def visit(model: type[BaseModel], title: str) -> None:
        found[title] = model
        for name, field in model.model_fields.items():
            for nested, suffix in _sections_in(field.annotation):
                visit(nested, f"{title}.{name}{suffix}")

    for name, field in Config.model_fields.items():
        for model, _ in _sections_in(field.annotation):
            visit(model, name)
    return found


def _parse_reference(text: str) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """``## title`` -> (the paragraph under it, key -> [type, default, description])."""
    sections: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for block in text.split("\n## ")[1:]:
        title, _, body = block.partition("\n")
        paragraphs = body.strip().split("\n\n")
        rows: dict[str, list[str]] = {}
        for line in body.splitlines():
            match = re.fullmatch(r"\| `(\w+)` \|(.*)\|", line)
            if match:
                rows[match[1]] = [cell.strip() for cell in _CELL_SEPARATOR.split(match[2])]
        sections[title] = (paragraphs[0], rows)
    return sections


def _default_cell(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "(section)" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"


def test_committed_reference_is_current() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/configuration.md is stale: run `ganlab config reference`"
    )


def test_reference_documents_every_key_with_its_description_and_default() -> None:
    reference = _parse_reference(render_reference())
    sections = _schema_sections()
    assert set(reference) == {*sections, "Trainer"}
    for title, model in sections.items():
        summary = " ".join(inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].split())
        assert reference[title][0] == summary, title
        assert list(reference[title][1]) == list(model.model_fields), title

    keys = [
        (title, name, field)
        for top, field in Config.model_fields.items()
        for model, _ in _sections_in(field.annotation)
        for title, name, field in _schema_keys(model, top)
    ]
    # the walk reaches keys of optional sections and of list entries, not only plain ones
    paths = {f"{title}.{name}" for title, name, _ in keys}
    assert {
        "Training.Losses.perceptual.layer_weights",
        "Data.normalization.lr.type",
        "Callbacks.alerts.webhook.url",
        "Callbacks.extra_validation[].target",
    } <= paths
    for title, name, field in keys:
        _, default, description = reference[title][1][name]
        assert field.description, f"{title}.{name} has no description in the schema"
        assert description == field.description.replace("|", "\\|"), f"{title}.{name}"
        assert default == _default_cell(field), f"{title}.{name}"


def test_reference_states_where_trainer_arguments_go() -> None:
    description, _ = _parse_reference(render_reference())["Trainer"]
    assert description == Config.model_fields["Trainer"].description
    trainer_text = render_reference().split("\n## Trainer\n", 1)[1]
    for name, where in MANAGED_TRAINER_ARGUMENTS.items():
        assert f"`{name}` ({where})" in trainer_text
    for name, key in OWNED_TRAINER_ARGUMENTS.items():
        assert f"`{name}` ({key})" in trainer_text


def test_cli_writes_reference(tmp_path: Path) -> None:
    output = tmp_path / "ref.md"
    assert main(["config", "reference", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == render_reference()
