"""Severity: seed 000's classifier and each level's response requirements."""

from warroom.severity.logic import (
    Classification,
    ImpactMetrics,
    classify,
    level_for_rank,
    response_requirements,
)

__all__ = [
    "Classification",
    "ImpactMetrics",
    "classify",
    "level_for_rank",
    "response_requirements",
]
