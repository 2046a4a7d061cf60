"""Generators: networks mapping ``[B, in_bands, h, w]`` to ``[B, out_bands, h*s, w*s]``.

The built-in families are imported here explicitly (each registers itself in
:data:`GENERATORS` where it is defined). Every generator records its constructor arguments
(``init_kwargs``) so weights can be saved with the configuration that rebuilds them, and tells
its ``scale``, ``in_bands`` and ``out_bands``.
"""

from typing import Any

from torch import nn

from ganlab.config.schema import Config
from ganlab.data.normalizers import affine_parameters
from ganlab.errors import ConfigError
from ganlab.models.generators.base import GENERATORS, SRGenerator, interpolate
from ganlab.models.generators.consistency import (
    LRConsistentGenerator,
    LRProjection,
    SensorOperator,
)
from ganlab.models.generators.lka import LKANet
from ganlab.models.generators.rcan import RCAN
from ganlab.models.generators.rrdb import RRDBNet
from ganlab.models.generators.srresnet import SRResNet
from ganlab.models.generators.swinir import SwinIR


def sensor_operator(config: Config) -> SensorOperator:
    """The HR -> LR operator of the data: ``Data.degradation`` blur (``mtf_nyquist``, one
    ``blur_sigma``, or the middle of a ``blur_sigma`` range), then ``Data.downsample``."""
    scale = config.Generator.scaling_factor
    sigma = config.Data.degradation.operator_sigma(scale)
    return SensorOperator(scale, config.Data.downsample, sigma)


def _normaliser_maps(config: Config) -> dict[str, Any]:
    """The LR and HR normalisers' per-band affine maps and the iterations of the projection."""
    norm = config.Data.normalization
    lr_offset, lr_scale, _ = affine_parameters(norm.branch("lr"))
    hr_offset, hr_scale, _ = affine_parameters(norm.branch("hr"))
    return dict(
        lr_offset=lr_offset,
        lr_scale=lr_scale,
        hr_offset=hr_offset,
        hr_scale=hr_scale,
        iterations=config.Generator.lr_consistency_iterations,
    )


def lr_projection(config: Config) -> LRProjection:
    """The projection of ``Generator.lr_consistency`` (hard: inside the generator; soft: its
    residual is the loss term) for the config's operator and normalisers."""
    return LRProjection(sensor_operator(config), config.Model.in_bands, **_normaliser_maps(config))


def build_generator(config: Config) -> nn.Module:
    """Build the generator named by ``Generator.model_type``; with ``Generator.lr_consistency:
    hard`` it is wrapped in :class:`LRConsistentGenerator` (same initial weights)."""
    network = GENERATORS.get(config.Generator.model_type)(config)
    if config.Generator.lr_consistency != "hard":
        return network
    init_kwargs = getattr(network, "init_kwargs", None)
    cls = type(network)
    if init_kwargs is None:
        raise ConfigError(
            f"Generator.lr_consistency hard: {cls.__name__} does not record its constructor "
            "arguments; derive it from ganlab.models.SRGenerator (or RecordsInitArgs)"
        )
    description = {"generator_class": f"{cls.__module__}:{cls.__qualname__}",
                   "init_kwargs": init_kwargs}  # fmt: skip
    operator = sensor_operator(config)
    wrapped = LRConsistentGenerator(
        description,
        downsample=operator.method,
        blur_sigma=operator.blur_sigma,
        **_normaliser_maps(config),
    )
    wrapped.network.load_state_dict(network.state_dict())
    return wrapped


__all__ = [
    "GENERATORS",
    "RCAN",
    "LKANet",
    "LRConsistentGenerator",
    "LRProjection",
    "RRDBNet",
    "SRGenerator",
    "SRResNet",
    "SensorOperator",
    "SwinIR",
    "build_generator",
    "interpolate",
    "lr_projection",
    "sensor_operator",
]
