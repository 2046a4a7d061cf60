"""Callbacks: validation panels."""

from ganlab.callbacks.panels import ValidationPanels

__all__ = ["ValidationPanels"]
