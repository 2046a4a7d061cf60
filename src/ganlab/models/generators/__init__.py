"""Generators: networks mapping ``[B, in_bands, h, w]`` to ``[B, out_bands, h*s, w*s]``.

The built-in families are imported here explicitly (each registers itself in
:data:`GENERATORS` where it is defined). Every generator records its constructor arguments
(``init_kwargs``) so weights can be saved with the configuration that rebuilds them, and tells
its ``scale``, ``in_bands`` and ``out_bands``.
"""

from torch import nn

from ganlab.config.schema import Config
from ganlab.models.generators.base import GENERATORS, SRGenerator, interpolate
from ganlab.models.generators.lka import LKANet
from ganlab.models.generators.rcan import RCAN
from ganlab.models.generators.rrdb import RRDBNet
from ganlab.models.generators.srresnet import SRResNet
from ganlab.models.generators.swinir import SwinIR


def build_generator(config: Config) -> nn.Module:
    """Build the generator named by ``Generator.model_type``."""
    return GENERATORS.get(config.Generator.model_type)(config)


__all__ = [
    "GENERATORS",
    "RCAN",
    "LKANet",
    "RRDBNet",
    "SRGenerator",
    "SRResNet",
    "SwinIR",
    "build_generator",
    "interpolate",
]
