"""Callbacks: EMA swap, validation panels."""

from ganlab.callbacks.ema import EMASwap
from ganlab.callbacks.panels import ValidationPanels

__all__ = ["EMASwap", "ValidationPanels"]
