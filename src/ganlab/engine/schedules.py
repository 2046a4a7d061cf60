"""Learning-rate schedules as factors of the base rate, evaluated at the own step counter."""

from __future__ import annotations

import math
from collections.abc import Callable

from ganlab.config.schema import Config, ScheduleConfig, schedule_total_steps


def lr_factor(config: ScheduleConfig, step: int, total_steps: int | None = None) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based, counted by the schedule's
    ``clock``); ``total_steps`` overrides ``config.total_steps`` (the run's length by default).

    Warm-up rises linearly: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps.
    After it, ``constant`` gives 1; ``cosine`` gives
    ``m + (1 - m) * (1 + cos(pi * p)) / 2`` with ``p = (step - warmup) / (total - warmup)``
    clamped to 1 and ``m = min_lr_ratio``; ``step`` gives
    ``gamma ** ((step - warmup) // step_size)``; ``plateau`` gives 1 here (its decays come from
    :class:`Plateau`).

    Example:
        >>> lr_factor(ScheduleConfig(type="cosine", total_steps=10), 5)
        0.5
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    after = step - config.warmup_steps
    if config.type == "cosine":
        total = config.total_steps if total_steps is None else total_steps
        if total is None:
            raise ValueError("a cosine schedule needs total_steps (or Training.max_steps)")
        progress = min(1.0, after / (total - config.warmup_steps))
        ratio = config.min_lr_ratio
        return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if config.type == "step":
        assert config.step_size is not None  # enforced by the schema
        return float(config.gamma ** (after // config.step_size))
    return 1.0


class Plateau:
    """Reduce-on-plateau state: multiplies a factor by ``gamma`` after ``patience`` validations
    without an improvement of more than ``min_delta`` in ``monitor``."""

    def __init__(self, config: ScheduleConfig) -> None:
        self.config = config
        self.best: float | None = None
        self.bad_validations = 0
        self.factor = 1.0

    def observe(self, value: float) -> None:
        """Feed one validation result."""
        config = self.config
        improved = self.best is None or (
            value > self.best + config.min_delta
            if config.mode == "max"
            else value < self.best - config.min_delta
        )
        if improved:
            self.best, self.bad_validations = value, 0
            return
        self.bad_validations += 1
        if self.bad_validations > config.patience:
            self.factor *= config.gamma
            self.bad_validations = 0

    def state_dict(self) -> dict[str, float | int | None]:
        """State stored in checkpoints."""
        return {"best": self.best, "bad_validations": self.bad_validations, "factor": self.factor}

    def load_state_dict(self, state: dict[str, float | int | None]) -> None:
        """Restore from :meth:`state_dict`."""
        best = state["best"]
        self.best = None if best is None else float(best)
        self.bad_validations = int(state["bad_validations"] or 0)
        self.factor = float(state["factor"] or 1.0)


class NetworkSchedules:
    """The learning-rate factor of each network (``generator``, ``discriminator``) per step.

    Each schedule runs on its ``clock``: ``steps`` evaluates it at the generator step, ``updates``
    at the network's own update number (for the discriminator, the count of its updates before
    this step, so warm-up starts with its first update rather than at step 0).

    Args:
        generator: ``Schedulers.generator``.
        discriminator: ``Schedulers.discriminator``.
        totals: End of each cosine decay on its clock when ``total_steps`` is unset (None: none).
        discriminator_updates: Discriminator updates before a generator step (its own clock).
    """

    def __init__(
        self,
        generator: ScheduleConfig,
        discriminator: ScheduleConfig,
        totals: dict[str, int | None] | None = None,
        discriminator_updates: Callable[[int], int] | None = None,
    ) -> None:
        self.configs = {"generator": generator, "discriminator": discriminator}
        self.totals = {
            name: (totals or {}).get(name, config.total_steps)
            for name, config in self.configs.items()
        }
        self.discriminator_updates = discriminator_updates or (lambda step: step)
        self.plateaus = {
            name: Plateau(schedule)
            for name, schedule in self.configs.items()
            if schedule.type == "plateau"
        }

    @classmethod
    def from_config(cls, config: Config) -> NetworkSchedules:
        """The schedules of ``Schedulers``, with run lengths and cadence from ``Training``."""
        return cls(
            config.Schedulers.generator,
            config.Schedulers.discriminator,
            totals={
                name: schedule_total_steps(config, name) for name in ("generator", "discriminator")
            },
            discriminator_updates=config.Training.discriminator_updates,
        )

    def clock(self, network: str, step: int) -> int:
        """The count ``network``'s schedule is evaluated at, for generator step ``step``."""
        if network == "discriminator" and self.configs[network].clock == "updates":
            return self.discriminator_updates(step)
        return step

    def factor(self, network: str, step: int) -> float:
        """Warm-up x schedule factor for ``network`` at generator step ``step``."""
        value = lr_factor(self.configs[network], self.clock(network, step), self.totals[network])
        plateau = self.plateaus.get(network)
        return value * plateau.factor if plateau is not None else value

    def observe(self, metrics: dict[str, float]) -> None:
        """Feed validation metrics to the plateau schedules.

        Raises:
            KeyError: A plateau schedule monitors a metric that was not logged.
        """
        for name, plateau in self.plateaus.items():
            monitor = plateau.config.monitor
            if monitor not in metrics:
                raise KeyError(
                    f"Schedulers.{name}.monitor={monitor!r} was not logged in validation; "
                    f"logged: {sorted(metrics)}"
                )
            plateau.observe(float(metrics[monitor]))

    def state_dict(self) -> dict[str, dict[str, float | int | None]]:
        """Plateau states by network."""
        return {name: plateau.state_dict() for name, plateau in self.plateaus.items()}

    def load_state_dict(self, state: dict[str, dict[str, float | int | None]]) -> None:
        """Restore from :meth:`state_dict`."""
        for name, plateau_state in state.items():
            if name in self.plateaus:
                self.plateaus[name].load_state_dict(plateau_state)
