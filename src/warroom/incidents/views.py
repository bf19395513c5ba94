"""Incident routes: `/api/v1/incidents`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime

from warroom.api import CtxDep, OffsetQuery, Responder, UowDep, Viewer
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.incidents import reads, service
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import (
    Ack,
    EventCreate,
    EventRead,
    ImpactUpdate,
    IncidentCreate,
    IncidentPage,
    IncidentRead,
    ParticipantAdd,
    RoleAssignment,
    SeverityChange,
    StatusChange,
    TimelineRead,
)
from warroom.timeline.logic import Entry, render_markdown

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def _read(ctx: AppContext, uow: UnitOfWork, incident: Incident) -> IncidentRead:
    now = ctx.clock.now()
    uow.commit()
    return service.to_read(incident, now=now)


@router.post("", status_code=201, response_model=IncidentRead)
def declare(
    data: IncidentCreate, ctx: CtxDep, uow: UowDep, who: Responder, response: Response
) -> IncidentRead:
    """Declare an incident (or import one from history with its real timestamps)."""
    incident = service.declare(
        uow.session, config=ctx.config, data=data, actor=who, now=ctx.clock.now()
    )
    response.headers["Location"] = f"/api/v1/incidents/{incident.key}"
    return _read(ctx, uow, incident)


@router.get("", response_model=IncidentPage)
def list_incidents(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    status: Annotated[list[Status] | None, Query()] = None,
    severity: Annotated[list[str] | None, Query()] = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: OffsetQuery = 0,
) -> IncidentPage:
    """List the incidents the caller may see, newest first."""
    filters = service.Filters(
        status=status or (), severity=severity or (), service=service_name, since=since, until=until
    )
    rows, total = service.list_incidents(
        uow.session, viewer=who, filters=filters, limit=limit, offset=offset
    )
    now = ctx.clock.now()
    return IncidentPage(
        items=[service.to_read(r, now=now) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{key}", response_model=IncidentRead)
def show(key: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> IncidentRead:
    incident = service.get(uow.session, key=key, viewer=who)
    reads.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}")
    return service.to_read(incident, now=ctx.clock.now())


@router.post("/{key}/ack", response_model=IncidentRead)
def acknowledge(
    key: str, ctx: CtxDep, uow: UowDep, who: Responder, data: Ack | None = None
) -> IncidentRead:
    """Acknowledge the incident. Acknowledging twice is harmless."""
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.acknowledge(
        uow.session,
        incident=incident,
        actor=who,
        now=ctx.clock.now(),
        message=data.message if data else None,
    )
    return _read(ctx, uow, incident)


@router.post("/{key}/status", response_model=IncidentRead)
def change_status(
    key: str, data: StatusChange, ctx: CtxDep, uow: UowDep, who: Responder
) -> IncidentRead:
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.change_status(
        uow.session,
        incident=incident,
        status=data.status,
        message=data.message,
        public=data.public,
        actor=who,
        now=ctx.clock.now(),
        components={name: status.value for name, status in data.components.items()},
    )
    return _read(ctx, uow, incident)


@router.post("/{key}/severity", response_model=IncidentRead)
def change_severity(
    key: str, data: SeverityChange, ctx: CtxDep, uow: UowDep, who: Responder
) -> IncidentRead:
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.change_severity(
        uow.session,
        config=ctx.config,
        incident=incident,
        severity=data.severity,
        reason=data.reason,
        actor=who,
        now=ctx.clock.now(),
    )
    return _read(ctx, uow, incident)


@router.put("/{key}/roles/{role}", response_model=IncidentRead)
def assign_role(
    key: str, role: str, data: RoleAssignment, ctx: CtxDep, uow: UowDep, who: Responder
) -> IncidentRead:
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.assign_role(
        uow.session,
        config=ctx.config,
        incident=incident,
        role=role,
        user=data.user,
        actor=who,
        now=ctx.clock.now(),
    )
    return _read(ctx, uow, incident)


@router.delete("/{key}/roles/{role}", response_model=IncidentRead)
def unassign_role(key: str, role: str, ctx: CtxDep, uow: UowDep, who: Responder) -> IncidentRead:
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.unassign_role(
        uow.session, config=ctx.config, incident=incident, role=role, actor=who, now=ctx.clock.now()
    )
    return _read(ctx, uow, incident)


@router.post("/{key}/impact", response_model=IncidentRead)
def update_impact(
    key: str, data: ImpactUpdate, ctx: CtxDep, uow: UowDep, who: Responder
) -> IncidentRead:
    """Record impact facts; revenue loss, exposed data, SLA risk or a vendor failure escalate."""
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.update_impact(
        uow.session,
        incident=incident,
        impact=data.model_dump(exclude_none=True),
        actor=who,
        now=ctx.clock.now(),
    )
    return _read(ctx, uow, incident)


@router.post("/{key}/participants", response_model=IncidentRead)
def add_participant(
    key: str, data: ParticipantAdd, ctx: CtxDep, uow: UowDep, who: Responder
) -> IncidentRead:
    """Let someone see (and work on) a restricted incident."""
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    service.add_participant(
        uow.session,
        config=ctx.config,
        incident=incident,
        user=data.user,
        actor=who,
        now=ctx.clock.now(),
    )
    return _read(ctx, uow, incident)


@router.post("/{key}/events", status_code=201, response_model=EventRead)
def add_event(key: str, data: EventCreate, ctx: CtxDep, uow: UowDep, who: Responder) -> EventRead:
    """Add a timeline event (an investigation finding, a decision, an action...)."""
    incident = service.get(uow.session, key=key, viewer=who, for_update=True)
    event = service.add_event(
        uow.session, incident=incident, data=data, actor=who, now=ctx.clock.now()
    )
    uow.commit()
    return EventRead.model_validate(event, from_attributes=True)


@router.get(
    "/{key}/timeline",
    response_model=TimelineRead,
    responses={200: {"content": {"text/markdown": {}}}},
)
def timeline(
    key: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    format: Annotated[str, Query(pattern="^(json|markdown)$")] = "json",
) -> TimelineRead | Response:
    """The ordered timeline with the incident's duration; `?format=markdown` for text."""
    incident = service.get(uow.session, key=key, viewer=who)
    reads.record_read(uow, who, incident, f"GET /api/v1/incidents/{incident.key}/timeline")
    events = service.timeline(uow.session, incident=incident)
    now = ctx.clock.now()
    read = service.to_read(incident, now=now)
    ongoing = incident.resolved_at is None and incident.closed_at is None
    if format == "markdown":
        text = render_markdown(
            incident_key=incident.key,
            title=incident.title,
            severity=incident.severity,
            status=incident.status,
            services=read.services,
            entries=[
                Entry(e.timestamp, e.type, e.source, e.description, e.actor, e.details or {})
                for e in events
            ],
            duration_seconds=read.duration_seconds,
            ongoing=ongoing,
        )
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    return TimelineRead(
        incident_id=incident.key,
        title=incident.title,
        severity=incident.severity,
        status=read.status,
        events=[EventRead.model_validate(e, from_attributes=True) for e in events],
        duration_seconds=read.duration_seconds,
        duration_minutes=round(read.duration_seconds / 60, 1),
        ongoing=ongoing,
    )
