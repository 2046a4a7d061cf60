"""Callbacks: EMA swap (defined beside the EMA in the engine, which also hands it to Lightning
itself), validation panels."""

from ganlab.callbacks.panels import ValidationPanels
from ganlab.engine.ema_swap import EMASwap

__all__ = ["EMASwap", "ValidationPanels"]
