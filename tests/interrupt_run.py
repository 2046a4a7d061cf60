"""Run ``ganlab train`` (the CLI's ``main``) with a gate that holds training after generator step
``--gate-step`` until a signal arrives; used by ``tests/callbacks/test_interrupts.py``.

When the gate is reached it writes ``<run dir>/gate``; the test then signals this process. With
``--hold`` the gate keeps holding after the first signal, until a second one aborts the run.
Exits with ``main``'s exit code.

Example:
    python tests/interrupt_run.py --gate-step 3 -- --config configs/quickstart.yaml ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganlab import trainer as trainer_module
from ganlab.callbacks.interrupts import GracefulInterrupt
from ganlab.cli import main
from ganlab.engine.hooks import GeneratorStepCallback


class Gate(GeneratorStepCallback):
    """Holds training after generator step ``step`` until a signal was received."""

    def __init__(self, step: int, gate_file: Path, hold: bool) -> None:
        self.step, self.gate_file, self.hold = step, gate_file, hold

    def on_generator_step(self, trainer: Any, pl_module: Any, step: int) -> None:
        if step != self.step or trainer.global_rank != 0:
            return  # under DDP only the first process is held (and signalled)
        interrupt = next(c for c in trainer.callbacks if isinstance(c, GracefulInterrupt))
        self.gate_file.write_text(str(step))
        while interrupt.signal_name is None or self.hold:
            time.sleep(0.01)  # a signal interrupts the sleep; its handler runs here


def run() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate-step", type=int, required=True)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("train_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    train_args = [arg for arg in args.train_args if arg != "--"]
    run_dir = Path(train_args[train_args.index("--run-dir") + 1])
    build = trainer_module.build_callbacks

    def with_gate(*build_args: Any) -> list[Any]:
        return [*build(*build_args), Gate(args.gate_step, run_dir / "gate", args.hold)]

    trainer_module.build_callbacks = with_gate  # type: ignore[assignment]
    return main(["train", *train_args])


if __name__ == "__main__":
    sys.exit(run())
