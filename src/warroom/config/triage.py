"""Triage questions and priorities (seed 003)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import (
    Field,
)

from warroom.config.base import Slug, Strict

# --- triage (seed 003) ------------------------------------------------------------------


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class PriorityRoute(Strict):
    severity: str
    teams: list[str]


class AffectedUsersStep(Strict):
    """When more than `above` users are affected, raise the priority by `raise_by` levels."""

    above: int = Field(ge=0)
    raise_by: int = Field(ge=0, le=3)


class TriageConfig(Strict):
    impact_types: dict[Slug, Priority]
    urgency: dict[Slug, int]
    affected_users: list[AffectedUsersStep]
    priorities: dict[Priority, PriorityRoute]
