"""Load the configuration with every domain's own checks: the one place above the domains.

The configuration types (`warroom.config`) are the ground floor and import no domain; the
rules that only a domain knows (the escalation matrix's text, schedule names) are checks
that the loader runs when given them. A new domain with rules over the configuration adds
its check to `DOMAIN_CHECKS`.
"""

from __future__ import annotations

from pathlib import Path

from warroom.config import loader
from warroom.config.loader import ConfigProblem
from warroom.config.schema import ConfigCheck, WarroomConfig
from warroom.escalation import matrix
from warroom.oncall import logic as oncall
from warroom.security import logic as security

__all__ = ["DOMAIN_CHECKS", "load_config", "validate_path"]

DOMAIN_CHECKS: tuple[ConfigCheck, ...] = (
    oncall.config_problems,
    matrix.config_problems,
    security.config_problems,
)


def load_config(path: Path | str | None = None) -> WarroomConfig:
    """Load the defaults and the YAML file or folder at `path`, every check applied."""
    return loader.load_config(path, checks=DOMAIN_CHECKS)


def validate_path(path: Path | str | None) -> list[ConfigProblem]:
    """Every problem with the configuration at `path`; an empty list when it loads."""
    return loader.validate_path(path, checks=DOMAIN_CHECKS)
