"""Ctrl-C and scheduler signals end a run in a resumable checkpoint.

While training runs, SIGINT (Ctrl-C) and SIGTERM (what schedulers send before killing a job) do
not stop the process at once: the current generator step finishes, ``last.ckpt`` (and its
generator exports) is written, and training ends with ``KeyboardInterrupt`` (no validation
after it, which a scheduler's grace period may not allow). A second signal aborts at once.
Lightning's own SLURM support (``SIGUSR1``: checkpoint and requeue before the time limit) is
left as it is.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from ganlab._lightning import pl
from ganlab.engine.hooks import GeneratorStepCallback

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that end a run in a checkpoint."""


class GracefulInterrupt(GeneratorStepCallback):
    """Turn SIGINT/SIGTERM during training into: finish the step, save, stop
    (``KeyboardInterrupt``; ``ganlab train`` then names the checkpoint and the resume command).

    The handlers are installed when training starts (after Lightning installed its own) and
    the previous ones are put back when it ends. Under DDP/FSDP the ranks agree at every
    generator step whether any of them was signalled (one small all-reduce), so all stop after
    the same step and save one checkpoint together.

    Attributes:
        signal_name: The first signal received (``SIGINT``/``SIGTERM``), None without one.
        saved: The checkpoint written on the signal, None until it is written.
        step: The generator steps completed when it was written.

    Args:
        path: The checkpoint to write (the run's ``last.ckpt``).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.signal_name: str | None = None
        self.saved: Path | None = None
        self.step: int | None = None
        self._previous: dict[int, Any] = {}
        self._saving = False

    @property
    def exit_code(self) -> int:
        """The shell's code for death by the received signal (128 + its number)."""
        number = signal.Signals[self.signal_name] if self.signal_name else signal.SIGINT
        return 128 + int(number)

    # ------------------------------------------------------------------------- handlers

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._saving:
            log.warning("%s received while saving %s: ignored", name, self.path)
            return
        if self.signal_name is not None:
            log.warning("%s received again: aborting without a checkpoint", name)
            raise KeyboardInterrupt
        self.signal_name = name
        log.warning(
            "%s received: finishing the current step, then saving %s and stopping (send it "
            "again to abort at once)",
            name,
            self.path,
        )

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in HANDLED_SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            # only where ours is still installed: Lightning ignores SIGINT while it shuts down
            # after an interrupt, and that must stay so
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler)
        self._previous.clear()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.signal_name, self.saved, self.step, self._saving = None, None, None, False
        self._install()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    # ---------------------------------------------------------------------------- stopping

    def _signalled_anywhere(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        here = self.signal_name is not None
        if trainer.world_size <= 1:
            return here
        flag = torch.tensor(float(here), device=pl_module.device)
        return bool(trainer.strategy.reduce(flag, reduce_op="sum") > 0)

    def on_generator_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int
    ) -> None:
        if self.saved is not None or not self._signalled_anywhere(trainer, pl_module):
            return
        self._saving = True  # a late signal (e.g. this rank's own) must not abort the save
        self.signal_name = self.signal_name or "SIGTERM"  # another rank was signalled
        trainer.save_checkpoint(self.path)
        self.saved, self.step = self.path, step
        log.warning("%s: saved %s after generator step %d", self.signal_name, self.path, step)
        # stop now: Lightning would still validate after `should_stop`, which a scheduler's
        # grace period may not allow; it handles this as an interrupt (on_exception hooks)
        raise KeyboardInterrupt(f"{self.signal_name}: stopped after generator step {step}")
