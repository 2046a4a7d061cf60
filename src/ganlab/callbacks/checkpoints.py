"""Periodic checkpoints counted in the run's own generator steps."""

from __future__ import annotations

import re
from pathlib import Path

from ganlab._lightning import pl
from ganlab.engine.hooks import GeneratorStepCallback

_STEP_FILE = re.compile(r"^step-(\d+)\.ckpt$")


class PeriodicCheckpoint(GeneratorStepCallback):
    """Save ``step-NNNNNNN.ckpt`` every ``every_n_steps`` generator steps.

    Counted with the module's own step counter (one per generator update, whatever the
    optimisation mode), and saved after the step's EMA update and counter increment, so the
    file resumes exactly there. With ``keep`` >= 0 only the newest ``keep`` periodic files
    stay (their generator exports are removed with them).

    Args:
        folder: The run's checkpoint folder.
        every_n_steps: Generator steps between saves.
        keep: Periodic checkpoints kept; -1 keeps all.
    """

    def __init__(self, folder: Path, every_n_steps: int, keep: int = -1) -> None:
        self.folder = Path(folder)
        self.every_n_steps = every_n_steps
        self.keep = keep

    def on_generator_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int
    ) -> None:
        if step % self.every_n_steps:
            return
        trainer.save_checkpoint(self.folder / f"step-{step:07d}.ckpt")
        if self.keep >= 0 and trainer.is_global_zero:
            saved = self.saved()
            for old in saved[: len(saved) - self.keep]:
                trainer.strategy.remove_checkpoint(old)

    def saved(self) -> list[Path]:
        """Periodic checkpoint files in the folder, oldest first."""
        found = [
            (int(match.group(1)), path)
            for path in self.folder.glob("step-*.ckpt")
            if (match := _STEP_FILE.match(path.name))
        ]
        return [path for _, path in sorted(found)]
