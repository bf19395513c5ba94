"""`POST /api/v1/triage`: seed 003's triage, which opens or updates an incident."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from warroom.api import CtxDep, Responder, UowDep
from warroom.errors import NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate, IncidentRead
from warroom.timeline.logic import EventType
from warroom.triage.logic import TriageInput, triage

router = APIRouter(prefix="/api/v1", tags=["triage"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class TriageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    impact: Name
    urgency: Name
    affected_users: int = Field(default=0, ge=0)
    service: Name | None = None
    incident: Name | None = None
    title: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
        | None
    ) = None


class TriageOutcome(BaseModel):
    priority: str
    severity: str
    teams: list[str]
    incident_type: str | None
    restricted: bool
    explanation: list[str]


class TriageResponse(BaseModel):
    action: Literal["declared", "updated", "unchanged"]
    triage: TriageOutcome
    incident: IncidentRead


@router.post("/triage", response_model=TriageResponse)
def run_triage(data: TriageRequest, ctx: CtxDep, uow: UowDep, who: Responder) -> TriageResponse:
    """Triage a report; update the named incident, or declare one when none is named or found."""
    try:
        result = triage(
            TriageInput(
                impact=data.impact,
                urgency=data.urgency,
                affected_users=data.affected_users,
                service=data.service,
            ),
            config=ctx.config.triage,
        )
    except ValueError as exc:
        field = str(exc).split(":", 1)[0]
        raise ValidationFailed(str(exc), field=field) from exc
    outcome = TriageOutcome(
        priority=result.priority.value,
        severity=result.severity,
        teams=result.teams,
        incident_type=result.incident_type,
        restricted=result.restricted,
        explanation=result.explanation,
    )
    now = ctx.clock.now()
    details: dict[str, Any] = {
        "impact": data.impact,
        "urgency": data.urgency,
        "affected_users": data.affected_users,
        "priority": result.priority.value,
        "teams": result.teams,
    }
    incident = None
    if data.incident is not None:
        try:
            incident = incidents.get(uow.session, key=data.incident, viewer=who, for_update=True)
        except NotFound:
            details["reference"] = data.incident  # someone else's id: keep it on the new incident
    if incident is None:
        service = data.service
        incident = incidents.declare(
            uow.session,
            config=ctx.config,
            data=IncidentCreate(
                title=data.title
                or f"{data.impact.replace('_', ' ').capitalize()}"
                + (f" on {service}" if service else ""),
                severity=result.severity,
                type=result.incident_type
                if ctx.config.incident_type(result.incident_type or "")
                else None,
                services=[service] if service else [],
                impact=details,
                restricted=result.restricted or None,
            ),
            actor=who,
            now=now,
        )
        action: Literal["declared", "updated", "unchanged"] = "declared"
    else:
        action = "unchanged"
        if data.service and data.service not in {s.service for s in incident.services}:
            incidents.add_service(
                uow.session,
                config=ctx.config,
                incident=incident,
                service=data.service,
                actor=who,
                now=now,
            )
        if incident.severity != result.severity:
            incidents.change_severity(
                uow.session,
                config=ctx.config,
                incident=incident,
                severity=result.severity,
                reason="triage: " + "; ".join(result.explanation),
                actor=who,
                now=now,
            )
            action = "updated"
    incidents.record(
        uow.session,
        incident=incident,
        type=EventType.INVESTIGATION,
        description=f"Triaged as {result.priority.value} ({result.severity}); route to "
        + ", ".join(result.teams),
        now=now,
        actor=who.actor,
        details={**details, "explanation": result.explanation},
    )
    uow.commit()
    return TriageResponse(
        action=action, triage=outcome, incident=incidents.to_read(incident, now=now)
    )
