"""A small registry type: names -> factories, plus ``package.module:Name`` plugins.

Built-ins are registered explicitly where they are defined (never by scanning files). A second
registration under a taken name is an error, not a silent overwrite.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import warnings
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ganlab.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Named factories of one kind (e.g. generators).

    Args:
        kind: What the registry holds, used in messages ("generator").
        key: The config key that selects from it ("Generator.model_type").

    Example:
        >>> models = Registry("model", "Model.type")
        >>> @models.register("tiny", "a tiny model")
        ... def tiny() -> str:
        ...     return "built"
        >>> models.get("tiny")()
        'built'
    """

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self._entries: dict[str, tuple[T, str]] = {}
        self._renamed: dict[str, str] = {}

    def register(self, name: str, description: str) -> Callable[[T], T]:
        """Decorator registering a factory under ``name`` with a one-line description."""

        def decorate(factory: T) -> T:
            if name in self._entries:
                existing = self._entries[name][0]
                raise ValueError(
                    f"{self.kind} name {name!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}; choose another name"
                )
            self._entries[name] = (factory, description)
            return factory

        return decorate

    def rename(self, old: str, new: str) -> None:
        """Keep accepting the former name ``old`` of the entry ``new`` (with a deprecation
        warning), so configs and exported files that use it still work."""
        if new not in self._entries:
            raise ValueError(f"{self.kind} {new!r} is not registered")
        self._renamed[old] = new

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def describe(self) -> list[tuple[str, str]]:
        """``(name, description)`` pairs, sorted by name."""
        return [(name, self._entries[name][1]) for name in self.names()]

    def get(self, name: str) -> T:
        """The factory for ``name``, or the object at ``package.module:Name``.

        Raises:
            ConfigError: Unknown name (with the closest registered one) or unimportable plugin.
        """
        if name in self._entries:
            return self._entries[name][0]
        if name in self._renamed:
            new = self._renamed[name]
            warnings.warn(
                f"{self.key}: {name!r} is deprecated, use {new!r} (the same {self.kind})",
                DeprecationWarning,
                stacklevel=2,
            )
            log.warning(
                "%s: %r is deprecated, use %r (the same %s)", self.key, name, new, self.kind
            )
            return self._entries[new][0]
        if ":" in name:
            factory: T = import_object(name, self.key)
            return factory
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{self.key}: unknown {self.kind} {name!r}{hint} "
            f"Registered: {', '.join(self.names())}; or give 'package.module:Name'."
        )


def import_object(path: str, key: str) -> Any:
    """The object at ``package.module:Name`` (``Name`` may be dotted, ``Outer.Inner``).

    Args:
        path: The import path.
        key: The config key that named it, for the message.

    Raises:
        ConfigError: The module cannot be imported or has no such attribute.
    """
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{key}: cannot import module {module_name!r} ({exc})") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(
                f"{key}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    return target
