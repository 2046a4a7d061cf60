"""The configuration schema: every section, key, type, default and description.

These pydantic models are the single source of truth for the YAML interface. The configuration
reference (``docs/configuration.md``) is generated from them by ``ganlab config reference``.
Unknown keys are rejected (``extra="forbid"``); see :mod:`ganlab.config.load` for the messages.

The sections are defined one group per module (:mod:`~ganlab.config.base`,
:mod:`~ganlab.config.normalization`, :mod:`~ganlab.config.data`, :mod:`~ganlab.config.models`,
:mod:`~ganlab.config.training`, :mod:`~ganlab.config.distributed`,
:mod:`~ganlab.config.optimization`, :mod:`~ganlab.config.callbacks`, and the root
:class:`Config` in :mod:`~ganlab.config.root`); this module gathers them under one import.
"""

from ganlab.config.base import PrecisionName, Section, lightning_precision
from ganlab.config.callbacks import (
    ALERT_EVENTS,
    AlertEvent,
    AlertsConfig,
    CallbacksConfig,
    CheckpointConfig,
    EarlyStoppingConfig,
    ExtraValidationConfig,
    GradientNormsConfig,
    LoggerName,
    LoggingConfig,
    WandbConfig,
    WebhookConfig,
)
from ganlab.config.data import DATASET_NAMES, BandSelection, DataConfig, DegradationConfig
from ganlab.config.distributed import PRODUCT_STRATEGIES, DDPConfig, DeepSpeedConfig, FSDPConfig
from ganlab.config.models import DiscriminatorConfig, GeneratorConfig, ModelConfig
from ganlab.config.normalization import (
    DTYPE_MAXIMA,
    BranchNormalizationConfig,
    NormalizationConfig,
)
from ganlab.config.optimization import OptimizersConfig, ScheduleConfig, SchedulersConfig
from ganlab.config.root import (
    MANAGED_TRAINER_ARGUMENTS,
    OWNED_TRAINER_ARGUMENTS,
    Config,
    schedule_total_steps,
)
from ganlab.config.training import (
    CONTENT_WEIGHT_KEYS,
    EMAConfig,
    LossesConfig,
    PerceptualConfig,
    TrainingConfig,
)

__all__ = [
    "ALERT_EVENTS",
    "CONTENT_WEIGHT_KEYS",
    "DATASET_NAMES",
    "DTYPE_MAXIMA",
    "MANAGED_TRAINER_ARGUMENTS",
    "OWNED_TRAINER_ARGUMENTS",
    "PRODUCT_STRATEGIES",
    "AlertEvent",
    "AlertsConfig",
    "BandSelection",
    "BranchNormalizationConfig",
    "CallbacksConfig",
    "CheckpointConfig",
    "Config",
    "DDPConfig",
    "DataConfig",
    "DeepSpeedConfig",
    "DegradationConfig",
    "DiscriminatorConfig",
    "EMAConfig",
    "EarlyStoppingConfig",
    "ExtraValidationConfig",
    "FSDPConfig",
    "GeneratorConfig",
    "GradientNormsConfig",
    "LoggerName",
    "LoggingConfig",
    "LossesConfig",
    "ModelConfig",
    "NormalizationConfig",
    "OptimizersConfig",
    "PerceptualConfig",
    "PrecisionName",
    "ScheduleConfig",
    "SchedulersConfig",
    "Section",
    "TrainingConfig",
    "WandbConfig",
    "WebhookConfig",
    "lightning_precision",
    "schedule_total_steps",
]
