"""Incident API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from warroom.config.schema import ComponentStatus
from warroom.incidents.logic import Status
from warroom.timeline.logic import EventSource

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentCreate(Input):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    severity: Name
    type: Name | None = None
    services: list[Name] = Field(default_factory=list, max_length=50)
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    impact: dict[str, Any] = Field(default_factory=dict)
    commander: Name | None = None
    restricted: bool | None = None
    # Importing history: give the real times.
    started_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None
    declared_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    mitigated_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None


class StatusChange(Input):
    status: Status
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=5_000)] | None = (
        None
    )
    public: bool = False
    components: dict[Name, ComponentStatus] = Field(default_factory=dict, max_length=100)


class SeverityChange(Input):
    severity: Name
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


class RoleAssignment(Input):
    user: Name


class EventCreate(Input):
    type: Name
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    source: EventSource = EventSource.HUMAN
    actor: Name | None = None
    timestamp: AwareDatetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Ack(Input):
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = (
        None
    )


class ImpactUpdate(BaseModel):
    """Impact facts; the known ones drive impact-based escalation, others are kept as notes."""

    model_config = ConfigDict(extra="allow")

    revenue_loss: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    revenue_impact_per_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    affected_users: int | None = Field(default=None, ge=0)
    affected_users_percent: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    customer_data_exposed: bool | None = None
    sla_breach_imminent: bool | None = None
    third_party_failure: bool | None = None
    vendor: str | None = Field(default=None, max_length=128)
    critical_systems_affected: int | None = Field(default=None, ge=0)


class ParticipantAdd(Input):
    user: Name


class IncidentRead(BaseModel):
    id: str
    number: int
    title: str
    description: str
    severity: str
    type: str | None
    status: Status
    services: list[str]
    roles: dict[str, str]
    restricted: bool
    impact: dict[str, Any]
    created_by: str | None
    started_at: datetime | None
    detected_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    duration_seconds: float
    participants: list[str]


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    total: int
    limit: int
    offset: int


class EventRead(BaseModel):
    id: int
    timestamp: datetime
    type: str
    source: str
    description: str
    actor: str | None
    details: dict[str, Any]


class TimelineRead(BaseModel):
    incident_id: str
    title: str
    severity: str
    status: Status
    events: list[EventRead]
    duration_seconds: float
    duration_minutes: float
    ongoing: bool
