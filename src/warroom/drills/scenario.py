"""A drill scenario (docs/drills.md): alerts to inject at offsets, and what is expected."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, field_validator

from warroom.alerts.logic import AlertSeverity
from warroom.config.base import Duration, Handle, Slug, Strict
from warroom.drillmarks import DRILL_LABEL

MAX_ALERTS = 100


_Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class DrillAlert(Strict):
    """One alert, sent through the integration `at` after the drill starts."""

    at: Duration = timedelta(0)
    summary: Annotated[str, Field(min_length=1, max_length=255)]
    key: _Key | None = None
    severity: AlertSeverity = AlertSeverity.CRITICAL
    source: Annotated[str, Field(max_length=255)] | None = None
    component: Annotated[str, Field(max_length=255)] | None = None
    labels: dict[str, str] = {}
    details: dict[str, Any] = {}

    @field_validator("at")
    @classmethod
    def _within_a_day(cls, value: timedelta) -> timedelta:
        if value > timedelta(days=1):
            raise ValueError("a drill alert comes at most 1 day after the start")
        return value

    @field_validator("labels")
    @classmethod
    def _not_ours(cls, value: dict[str, str]) -> dict[str, str]:
        if DRILL_LABEL in value:
            raise ValueError(f"the {DRILL_LABEL} label is warroom's own")
        return value


class Targets(Strict):
    """How long each step may take, from the first alert; unset ones come from the
    severity the incident has (acknowledge and mitigate from its SLA clocks, the first
    update from its update interval) or from seed 000 (declare 5 minutes, roles 15)."""

    acknowledge: Duration | None = None
    declare: Duration | None = None
    roles: Duration | None = None
    first_update: Duration | None = None
    mitigate: Duration | None = None


class Expected(Strict):
    severity: str | None = None
    # Roles that must be filled; default: the required roles of the incident's severity.
    roles: list[Slug] | None = None
    # Checklist step keys (or words of their text) the responders must get done.
    runbook_steps: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    targets: Targets = Targets()


class Scenario(Strict):
    name: Slug
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    # The integration (by name) the alerts arrive through, as if its monitoring sent them.
    integration: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    # Only these people are paged; everyone else is left alone.
    participants: Annotated[list[Handle], Field(min_length=1, max_length=50)]
    alerts: Annotated[list[DrillAlert], Field(min_length=1, max_length=MAX_ALERTS)]
    expected: Expected = Expected()
