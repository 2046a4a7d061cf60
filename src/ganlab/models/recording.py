"""Recording constructor arguments, so weights can be saved with what rebuilds the model."""

from __future__ import annotations

import functools
import inspect
from typing import Any


class RecordsInitArgs:
    """Mixin: after construction, ``init_kwargs`` holds the most-derived class's constructor
    arguments (defaults applied), e.g. ``{"in_bands": 4, "scale": 2, ...}``.

    ``type(model)(**model.init_kwargs)`` rebuilds an identical, freshly initialised model.
    """

    init_kwargs: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original = cls.__dict__["__init__"]
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kw: Any) -> None:
            original(self, *args, **kw)
            if type(self) is cls:
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self.init_kwargs = {k: v for k, v in bound.arguments.items() if k != "self"}

        cls.__init__ = __init__  # type: ignore[method-assign]
