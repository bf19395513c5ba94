"""Incident API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from warroom.config.incidents import ComponentStatus
from warroom.hardening import bounded
from warroom.incidents.logic import Status
from warroom.timeline.logic import EventSource

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImpactUpdate(BaseModel):
    """Impact facts; the known ones drive impact-based escalation, others are kept as notes
    (at most 20, each a string of at most 1,000 characters, a number, a boolean, null, or
    a list of at most 50 of them)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"maxProperties": 9 + bounded.MAX_IMPACT_NOTES},
    )

    revenue_loss: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    revenue_impact_per_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    affected_users: int | None = Field(default=None, ge=0, le=2**53)
    affected_users_percent: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    customer_data_exposed: bool | None = None
    sla_breach_imminent: bool | None = None
    third_party_failure: bool | None = None
    vendor: str | None = Field(default=None, max_length=128)
    critical_systems_affected: int | None = Field(default=None, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _bounded_notes(self) -> ImpactUpdate:
        notes = self.model_extra or {}
        if len(notes) > bounded.MAX_IMPACT_NOTES:
            raise ValueError(f"at most {bounded.MAX_IMPACT_NOTES} impact notes besides the facts")
        for key, value in notes.items():
            bounded.check_note(key, value)
        return self


def _checked_impact(value: dict[str, Any]) -> dict[str, Any]:
    return ImpactUpdate.model_validate(value).model_dump(exclude_none=True)


class IncidentCreate(Input):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    severity: Name
    type: Name | None = None
    services: list[Name] = Field(default_factory=list, max_length=50)
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    impact: Annotated[dict[str, Any], AfterValidator(_checked_impact)] = Field(default_factory=dict)
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
    details: Annotated[dict[str, Any], AfterValidator(bounded.check_details)] = Field(
        default_factory=dict,
        description=f"At most {bounded.MAX_DETAILS_DEPTH} levels deep, "
        f"{bounded.MAX_DETAILS_KEYS} fields and {bounded.MAX_DETAILS_BYTES} bytes as JSON",
    )


class Ack(Input):
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)] | None = (
        None
    )


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
    # Required roles of its severity still empty after the level's response time.
    unfilled_roles: list[str] = []
    # The drill that opened it (`DRILL-<n>`, docs/drills.md), or None for a real incident.
    drill: str | None = None

    @field_validator("impact", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> dict[str, Any]:
        return bounded.readable_impact(value)


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

    @field_validator("details", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> dict[str, Any]:
        return bounded.readable_details(value)


class TimelineRead(BaseModel):
    incident_id: str
    title: str
    severity: str
    status: Status
    events: list[EventRead]
    duration_seconds: float
    duration_minutes: float
    ongoing: bool
