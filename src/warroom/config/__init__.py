"""The YAML configuration: its types, the built-in defaults and the loader.

Load it through `warroom.configuration.load_config`, which adds the domains' own checks.
"""

from warroom.config.problems import ConfigError, ConfigProblem
from warroom.config.schema import WarroomConfig

__all__ = ["ConfigError", "ConfigProblem", "WarroomConfig"]
