"""The procedure as configuration: severity scheme, incident types, roles, people, services.

Every model forbids unknown fields so a typo is an error with its line, not a silent default.
The defaults are seed 000's scheme (SEV1-SEV4) with seed 002's SLA clocks, so a deployment
without any YAML still runs the documented procedure.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from warroom.config.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


# --- people and services ----------------------------------------------------------------


class User(Strict):
    handle: Handle
    name: str
    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    timezone: str = "UTC"
    title: str | None = None


class Team(Strict):
    name: Slug
    title: str = ""
    members: list[Handle] = []
    slack_channel: str | None = None


class Service(Strict):
    name: Slug
    title: str = ""
    description: str = ""
    owner: Slug | None = None
    tier: int | None = Field(default=None, ge=0, le=4)
    runbook: str | None = None
    dependencies: list[Slug] = []


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


# --- the whole configuration ------------------------------------------------------------


class WarroomConfig(Strict):
    severities: list[SeverityLevel]
    classifier: ClassifierThresholds = ClassifierThresholds()
    incident_types: list[IncidentType]
    roles: dict[Slug, RoleDefinition]
    users: list[User] = []
    teams: list[Team] = []
    services: list[Service] = []
    triage: TriageConfig
    # Accepted as the seeds write them; their engines arrive with the escalation and runbook work.
    escalation_matrix: dict[str, Any] | None = None
    runbooks: list[dict[str, Any]] = []
    handoff_template: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> WarroomConfig:
        problems: list[str] = []
        _unique(problems, "severities", [s.name for s in self.severities])
        _unique(problems, "incident_types", [t.name for t in self.incident_types])
        _unique(problems, "users", [u.handle for u in self.users])
        _unique(problems, "teams", [t.name for t in self.teams])
        _unique(problems, "services", [s.name for s in self.services])
        if not self.severities:
            problems.append("severities: at least one level is needed")
        severity_names = {s.name for s in self.severities}
        handles = {u.handle for u in self.users}
        team_names = {t.name for t in self.teams}
        for i, level in enumerate(self.severities):
            for role in level.required_roles:
                if role not in self.roles:
                    problems.append(f"severities.{i}.required_roles: unknown role {role!r}")
        for i, itype in enumerate(self.incident_types):
            default = itype.default_severity
            if default and default not in severity_names:
                problems.append(
                    f"incident_types.{i}.default_severity: unknown severity {default!r}"
                )
        if self.users:
            for i, team in enumerate(self.teams):
                for member in team.members:
                    if member not in handles:
                        problems.append(f"teams.{i}.members: unknown user {member!r}")
        for i, service in enumerate(self.services):
            if service.owner and service.owner not in team_names:
                problems.append(f"services.{i}.owner: unknown team {service.owner!r}")
        for priority, route in self.triage.priorities.items():
            if route.severity not in severity_names:
                problems.append(
                    f"triage.priorities.{priority}.severity: unknown severity {route.severity!r}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- look-ups used by the services ---

    def severity(self, name: str) -> SeverityLevel | None:
        for level in self.severities:
            if level.name.lower() == name.lower():
                return level
        return None

    def severity_rank(self, name: str) -> int:
        """1 is the most severe level."""
        for rank, level in enumerate(self.severities, start=1):
            if level.name == name:
                return rank
        raise KeyError(name)

    def severity_at_rank(self, rank: int) -> SeverityLevel:
        """The level at a seed rank (1-4), clamped to the configured scheme's length."""
        return self.severities[min(max(rank, 1), len(self.severities)) - 1]

    def incident_type(self, name: str) -> IncidentType | None:
        return next((t for t in self.incident_types if t.name == name), None)

    def user(self, handle: str) -> User | None:
        return next((u for u in self.users if u.handle == handle), None)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)


def _unique(problems: list[str], section: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(f"{section}.{i}: duplicate name {name!r}")
        seen.add(name)
