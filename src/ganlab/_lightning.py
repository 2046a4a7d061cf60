"""The one place that imports Lightning.

Everything else imports ``pl`` (``lightning.pytorch``) and the version helpers from here, so that
supporting another Lightning line (e.g. 1.x) touches this file only.
"""

from __future__ import annotations

import inspect

import lightning.pytorch as pl
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from packaging.version import Version

LIGHTNING_VERSION = Version(pl.__version__)
"""Installed Lightning version."""

IS_LIGHTNING_2 = LIGHTNING_VERSION.major >= 2
"""True on Lightning 2.x and newer."""


def trainer_argument_names() -> list[str]:
    """Names of the keyword arguments accepted by the installed ``Trainer``."""
    params = inspect.signature(pl.Trainer.__init__).parameters
    return [name for name in params if name != "self"]


__all__ = [
    "IS_LIGHTNING_2",
    "LIGHTNING_VERSION",
    "TorchCheckpointIO",
    "pl",
    "rank_zero_info",
    "trainer_argument_names",
]
