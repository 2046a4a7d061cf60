"""What every config section shares: the :class:`Section` base model and shared field types.

The sections themselves live in one module per group (:mod:`ganlab.config.data`,
:mod:`ganlab.config.models`, ...); :mod:`ganlab.config.schema` re-exports all of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


PrecisionName = Literal[
    "auto",
    "32", "16", "bf16", "64", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"
]  # fmt: skip


def lightning_precision(value: str) -> str:
    """Lightning's precision string for a short name (32, 16, bf16, 64) or a Lightning name."""
    short = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}
    return short.get(value, value)
