"""The generator-step hook: callbacks that count in the run's own steps (the engine calls it)."""

from __future__ import annotations

from ganlab._lightning import Callback, pl


class GeneratorStepCallback(Callback):
    """A Lightning callback that also hears about every completed generator step.

    :class:`ganlab.engine.SRGANModule` calls :meth:`on_generator_step` after each optimiser
    step of the generator (one per ``accumulate_grad_batches`` batches, in both optimisation
    modes), once its step counter, EMA and non-finite bookkeeping are up to date. Use it for
    anything counted in the run's own steps (periodic checkpoints, alerts); Lightning's
    ``trainer.global_step`` counts both optimisers' steps in the alternating mode.
    """

    def on_generator_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int
    ) -> None:
        """Called with ``step`` = generator steps completed so far (``pl_module.step_count``)."""
