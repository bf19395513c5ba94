"""The procedure: severity levels and their SLA clocks, incident types, incident roles."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import (
    Field,
)

from warroom.config.base import Duration, Slug, Strict


class ComponentStatus(StrEnum):
    """Statuspage's component vocabulary."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


# --- severities -------------------------------------------------------------------------


class SlaClocks(Strict):
    """Seed 002's response-time SLAs: time to acknowledge, to mitigate, to resolve."""

    acknowledge: Duration
    mitigate: Duration
    resolve: Duration


class SeverityLevel(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
    title: str = ""
    definition: str = ""
    example: str = ""
    response_time: str
    update_frequency: str
    update_interval: Duration
    required_roles: list[Slug] = []
    status_page: str = "None required"
    component_status: ComponentStatus | None = None
    leadership_notification: bool = False
    bridge_call: bool = False
    sla: SlaClocks
    postmortem_required: bool = False
    postmortem_due: Duration | None = None


class ClassifierThresholds(Strict):
    """Seed 000's `classify_severity` thresholds; every comparison is strictly greater-than."""

    sev1_error_rate_percent: float = 50
    sev1_error_affected_users_percent: float = 75
    sev1_core_feature_affected_users_percent: float = 50
    sev1_revenue_per_hour: float = 10_000
    sev2_revenue_per_hour: float = 1_000
    sev2_error_rate_percent: float = 10
    sev2_affected_users_percent: float = 25
    sev3_error_rate_percent: float = 1
    sev3_affected_users_percent: float = 5


# --- incident types and roles -----------------------------------------------------------


class IncidentType(Strict):
    name: Slug
    title: str
    description: str = ""
    restricted: bool = False
    default_severity: str | None = None
    runbook: str | None = None
    # Who is paged for incidents of this type, whatever their services' policies say.
    escalation_policy: Slug | None = None


class EscalationTrigger(Strict):
    condition: str
    action: str


class RoleRotation(Strict):
    schedule: str
    handoff_day: str | None = None
    handoff_time: str | None = None
    backup_required: bool = False


class RoleDefinition(Strict):
    """A role as seed 000 writes it (`incident-commander-config.yaml`, `technical-lead-...`)."""

    title: str
    alias: str | None = None
    description: str = ""
    skills: list[str] = []
    responsibilities: list[str] = []
    escalation_triggers: list[EscalationTrigger] = []
    rotation: RoleRotation | None = None
    required_access: list[str] = []
    can_authorize: list[str] = []
    requires_ic_approval: list[str] = []

    @property
    def short_name(self) -> str:
        return self.alias or self.title
