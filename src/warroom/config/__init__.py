"""The YAML configuration: its schema, the built-in defaults and the loader."""

from warroom.config.loader import ConfigError, ConfigProblem, load_config, validate_path
from warroom.config.schema import WarroomConfig

__all__ = ["ConfigError", "ConfigProblem", "WarroomConfig", "load_config", "validate_path"]
