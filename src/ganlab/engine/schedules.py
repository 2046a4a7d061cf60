"""Learning-rate schedules as factors of the base rate, evaluated at the own step counter."""

from __future__ import annotations

import math

from ganlab.config.schema import ScheduleConfig


def lr_factor(config: ScheduleConfig, step: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based, one per batch).

    Warm-up rises linearly: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps.
    After it, ``constant`` gives 1; ``cosine`` gives
    ``m + (1 - m) * (1 + cos(pi * p)) / 2`` with ``p = (step - warmup) / (total - warmup)``
    clamped to 1 and ``m = min_lr_ratio``; ``step`` gives
    ``gamma ** ((step - warmup) // step_size)``.

    Example:
        >>> lr_factor(ScheduleConfig(type="cosine", total_steps=10), 5)
        0.5
    """
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    after = step - config.warmup_steps
    if config.type == "cosine":
        assert config.total_steps is not None  # enforced by the schema
        progress = min(1.0, after / (config.total_steps - config.warmup_steps))
        ratio = config.min_lr_ratio
        return ratio + (1.0 - ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if config.type == "step":
        assert config.step_size is not None  # enforced by the schema
        return float(config.gamma ** (after // config.step_size))
    return 1.0
