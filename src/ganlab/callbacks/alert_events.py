"""Alert event records: what an alert says, and its JSON form."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

Event = dict[str, Any]


def make_event(
    event: str,
    message: str,
    *,
    run_dir: str | Path | None = None,
    step: int | None = None,
    epoch: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> Event:
    """An alert record with the time of the call (ISO 8601, UTC, seconds)."""
    return {
        "event": event,
        "message": message,
        "run_dir": None if run_dir is None else str(run_dir),
        "step": step,
        "epoch": epoch,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "details": _jsonable(dict(details or {})),
    }


def encode_event(event: Event) -> bytes:
    """The event as UTF-8 JSON (strict: non-finite numbers become strings such as ``"nan"``)."""
    return json.dumps(_jsonable(event), ensure_ascii=False).encode("utf-8")


def _jsonable(value: Any) -> Any:
    """``value`` with tensors as numbers, non-finite floats as strings, paths as strings."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


class AlertDeliveryError(RuntimeError):
    """A sink could not deliver an event (logged by the dispatcher, never raised into training)."""
