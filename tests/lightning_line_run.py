"""Train or resume the tiny quickstart run through the CLI under whichever Lightning this Python
has; used by ``tests/test_lightning_versions.py`` to run the *other* Lightning line (e.g.
pytorch-lightning 1.9.5 in ``.venv-pl19``) in a subprocess.

Commands (each prints one JSON line with ``exit`` and ``lightning``):

* ``train RUN_DIR [--set K=V ...]``: one epoch of two batches into ``RUN_DIR``;
* ``resume RUN_DIR [--set K=V ...]``: continue ``RUN_DIR`` for a second epoch (``stderr`` is
  included in the JSON line);
* ``apply EXPORT OUT``: super-resolve a fixed seeded input with the generator export ``EXPORT``
  and save the output tensor to ``OUT``.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from ganlab._lightning import LIGHTNING_VERSION
from ganlab.cli import main
from ganlab.export import load_generator
from tests.helpers import TINY_OVERRIDES

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
COMMON = [
    *TINY_OVERRIDES,
    "Trainer.limit_train_batches=2",
    "Trainer.limit_val_batches=1",
    "Training.g_pretrain_steps=100",  # generator steps only: global_step == generator steps
]


def fixed_input() -> torch.Tensor:
    """The seeded normalised LR input every line super-resolves."""
    return torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(7))


def _train(run_dir: str, epochs: int, extra: list[str]) -> dict[str, object]:
    args = ["train", "--config", str(QUICKSTART), "--run-dir", run_dir]
    for override in [*COMMON, f"Trainer.max_epochs={epochs}", *extra]:
        args += ["--set", override]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        code = main(args)
    return {"exit": code, "stderr": errors.getvalue()[-3000:]}


def run(argv: list[str]) -> dict[str, object]:
    command, *rest = argv
    sets = [rest[i + 1] for i in range(1, len(rest) - 1) if rest[i] == "--set"]
    if command == "train":
        result = _train(rest[0], 1, sets)
    elif command == "resume":
        result = _train(rest[0], 2, ["Model.continue_training=last", *sets])
    elif command == "apply":
        with torch.no_grad():
            output = load_generator(rest[0]).generator(fixed_input())
        torch.save(output, rest[1])
        result = {"exit": 0}
    else:
        raise SystemExit(f"unknown command {command}")
    return {**result, "lightning": str(LIGHTNING_VERSION)}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:])))
