"""Typed configuration: schema, YAML loading with overrides, and the generated reference."""

from ganlab.config.load import apply_overrides, dump_config, load_config, validate_config
from ganlab.config.root import Config

__all__ = ["Config", "apply_overrides", "dump_config", "load_config", "validate_config"]
