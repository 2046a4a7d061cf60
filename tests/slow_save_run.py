"""Run ``ganlab train`` with a checkpoint write that stalls half-way; used by
``tests/test_files.py`` to kill the process (SIGKILL) in the middle of writing ``last.ckpt``.

``torch.save`` is wrapped: a write of ``last.ckpt`` (to its temporary name) writes the first half
of the bytes, creates ``<run dir>/stalled`` and then waits for ever. Other writes go through.

Example:
    python tests/slow_save_run.py -- --config configs/quickstart.yaml --run-dir /tmp/r ...
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from ganlab.cli import main

_real_save = torch.save


def _stalling_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    target = Path(f) if isinstance(f, str | Path) else None
    if target is None or not target.name.startswith("last.ckpt"):
        _real_save(obj, f, *args, **kwargs)
        return
    buffer = io.BytesIO()
    _real_save(obj, buffer, *args, **kwargs)
    data = buffer.getvalue()
    with open(target, "wb") as file:
        file.write(data[: len(data) // 2])
        file.flush()
    (target.parent.parent / "stalled").write_text(str(target))
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    torch.save = _stalling_save
    args = [arg for arg in sys.argv[1:] if arg != "--"]
    sys.exit(main(["train", *args]))
