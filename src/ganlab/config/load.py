"""Loading configs from YAML with ``Section.key=value`` overrides, and readable errors."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ganlab.config.root import Config
from ganlab.errors import ConfigError

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

SCHEMA_MODULE = "ganlab.config.schema"
"""The module that gathers every section class; type names show section classes under it."""

_SECTION_MODULE = re.compile(r"\bganlab\.config\.\w+\.(?=[A-Z])")


def parse_value(text: str) -> Any:
    """Parse an override value the way YAML would, also reading an unquoted ``1e-3`` as a
    number (quote it, ``'1e-3'``, to keep text).

    Args:
        text: The text after ``=`` in ``--set Section.key=value``.

    Returns:
        A bool, int, float, None, list, dict or str.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and value == text.strip() and _NUMBER.match(value):
        return float(value)  # unquoted 1e-3 (YAML 1.1 reads it as text); '1e-3' stays text
    return value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``Section.key=value`` overrides to a raw config mapping (in place).

    Args:
        data: The mapping read from YAML.
        overrides: Strings like ``Training.precision=bf16-mixed`` or ``Trainer.max_steps=10``.

    Returns:
        The same mapping, for chaining.

    Raises:
        ConfigError: An override is not of the form ``dotted.key=value``.
    """
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                f"override {override!r}: expected Section.key=value, "
                "e.g. --set Training.precision=bf16-mixed"
            )
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"override {override!r}: {where} is a value ({child!r}), not a section"
                )
            node = child
        node[parts[-1]] = parse_value(text)
    return data


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model found by walking ``loc`` down from :class:`Config`."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        candidates = [field.annotation]
        origin = typing.get_origin(field.annotation)
        if origin in (typing.Union, types.UnionType):
            candidates = list(typing.get_args(field.annotation))
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    return model


def _expected_type(loc: tuple[Any, ...]) -> str | None:
    parent = _section_model(loc[:-1])
    if parent is None or not loc:
        return None
    field = parent.model_fields.get(str(loc[-1]))
    if field is None:
        return None
    return type_name(field.annotation)


def type_name(annotation: Any) -> str:
    """A field's type as users read it: ``int``, ``str | None``, ``Literal['a', 'b']``.

    A section class inside another type is named by its public path, whichever module of
    :mod:`ganlab.config` defines it: ``ganlab.config.schema.AlertsConfig | None``.
    """
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    return _SECTION_MODULE.sub(f"{SCHEMA_MODULE}.", text)


def format_validation_error(error: ValidationError) -> str:
    """Turn a pydantic error into lines that name the key path, the value and the fix."""
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        path = ".".join(str(p) for p in loc)
        kind = item["type"]
        value = item.get("input")
        if kind == "extra_forbidden":
            parent = _section_model(loc[:-1])
            valid = list(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            prefix = ".".join(str(p) for p in loc[:-1])
            hint = f"; did you mean {prefix + '.' if prefix else ''}{close[0]}?" if close else ""
            listing = f" Valid keys here: {', '.join(valid)}." if valid and not close else ""
            lines.append(f"{path}: unknown key{hint}{listing}")
        elif kind == "missing":
            lines.append(f"{path}: required key is missing")
        elif kind == "value_error":
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {message}" if path and not message.startswith(path) else message)
        else:
            expected = _expected_type(loc)
            exp = f" (expected {expected})" if expected else ""
            lines.append(f"{path}: {item['msg']}; found {value!r} ({type(value).__name__}){exp}")
    return "\n".join(lines)


def validate_config(data: Mapping[str, Any], source: str = "config") -> Config:
    """Validate a raw mapping into a :class:`Config`.

    Raises:
        ConfigError: With one line per problem, each naming the full key path.
    """
    try:
        return Config.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(
            f"invalid configuration in {source}:\n{format_validation_error(exc)}"
        ) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping.

    Raises:
        ConfigError: The file is missing, unreadable, not YAML, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (check the --config path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections (Data:, Training:, ...), "
            f"found a {type(data).__name__}"
        )
    return data


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load a config from YAML (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: YAML file; None starts from the defaults.
        overrides: ``Section.key=value`` strings applied after the file.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file or an override is invalid; the message names the key.

    Example:
        >>> cfg = load_config(None, ["Training.precision=bf16", "Trainer.max_steps=5"])
        >>> cfg.Training.lightning_precision
        'bf16-mixed'
    """
    return validate_config(*_raw_config(path, overrides))


def _raw_config(path: str | Path | None, overrides: Iterable[str]) -> tuple[dict[str, Any], str]:
    """The mapping of ``path`` (or empty) with ``overrides`` applied, and its source name."""
    data = read_yaml(path) if path is not None else {}
    apply_overrides(data, overrides)
    return data, str(path) if path is not None else "the defaults"


_TO_BE_COMPUTED: dict[str, dict[str, Any]] = {
    "percentile": {"low": [0.0], "high": [1.0]},
    "mean_std": {"mean": [0.0], "std": [1.0]},
    "zero_one": {"max_value": 1.0},
}
"""Stand-ins for the statistics a normaliser type needs and ``ganlab data stats`` computes."""


def load_config_for_statistics(
    path: str | Path | None = None, overrides: Iterable[str] = ()
) -> Config:
    """:func:`load_config` for ``ganlab data stats``, whose job is to compute the normaliser's
    statistics: a ``Data.normalization`` block (or its ``lr``/``hr`` spec) that names its type
    but lacks the values (e.g. ``percentile`` without ``low``/``high``) is accepted; the
    missing values get stand-ins that nothing uses.

    Example:
        >>> cfg = load_config_for_statistics(None, ["Data.normalization.type=percentile"])
        >>> cfg.Data.normalization.type
        'percentile'
    """
    data, source = _raw_config(path, overrides)
    section = data.get("Data")
    norm = section.get("normalization") if isinstance(section, dict) else None
    if isinstance(norm, dict):
        for spec in (norm, norm.get("lr"), norm.get("hr")):
            if not isinstance(spec, dict):
                continue
            for key, value in _TO_BE_COMPUTED.get(str(spec.get("type")), {}).items():
                if spec.get(key) is None:
                    spec[key] = value
    return validate_config(data, source=source)


def dump_config(config: Config) -> str:
    """The config as YAML text, sections in schema order."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
