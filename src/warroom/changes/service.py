"""Changes: store one, list them, and put them on the timelines of the service's incidents.

A change that arrives while incidents of its service are open goes on each of their
timelines at once. When an incident is declared, the changes of its services in the
24 hours before go on its timeline as "recent changes" (the subscriber below, in the
declaration's transaction). A change never touches alerts, so it never opens an incident
or pages anyone. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from warroom import events
from warroom.alerts.service import Source
from warroom.changes import logic
from warroom.changes.logic import ChangeEvent
from warroom.changes.models import Change
from warroom.incidents.logic import OPEN_STATUSES
from warroom.incidents.models import Incident, IncidentService
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent


def record(session: Session, *, source: Source, event: ChangeEvent, now: datetime) -> Change:
    """Store a change of the integration's service and add it to its open incidents."""
    change = Change(
        integration_id=source.integration_id,
        service=source.service,
        summary=event.summary,
        source=event.source,
        timestamp=event.timestamp or now,
        received_at=now,
        custom_details=event.custom_details,
        links=event.links,
    )
    session.add(change)
    session.flush()
    open_incidents = select(Incident.id).where(
        Incident.status.in_([s.value for s in OPEN_STATUSES]),
        Incident.id.in_(
            select(IncidentService.incident_id).where(IncidentService.service == change.service)
        ),
    )
    for incident_id in session.scalars(open_incidents):
        _on_timeline(session, incident_id, change, now=now, recent=False)
    return change


def _on_timeline(
    session: Session, incident_id: int, change: Change, *, now: datetime, recent: bool
) -> None:
    details: dict[str, Any] = {"change_id": change.id, "service": change.service}
    if change.source:
        details["source"] = change.source
    if change.links:
        details["links"] = [link["href"] for link in change.links]
    session.add(
        TimelineEvent(
            incident_id=incident_id,
            timestamp=change.timestamp,
            type=EventType.CHANGE.value,
            source=EventSource.EXTERNAL.value,
            description=logic.timeline_text(
                service=change.service, summary=change.summary, recent=recent
            ),
            actor=None,
            details=details,
            recorded_at=now,
        )
    )


# --- reading ----------------------------------------------------------------------------


def _page(
    session: Session, query: Select[Change], *, limit: int, offset: int
) -> tuple[list[Change], int]:
    rows = list(
        session.scalars(
            query.order_by(Change.timestamp.desc(), Change.id.desc()).limit(limit).offset(offset)
        )
    )
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)  # the last page: no count needed (most incidents)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return rows, total


def list_changes(
    session: Session,
    *,
    service: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Change], int]:
    """Changes, newest first (by when they happened)."""
    query = select(Change)
    if service is not None:
        query = query.where(Change.service == service)
    if since is not None:
        query = query.where(Change.timestamp >= since)
    if until is not None:
        query = query.where(Change.timestamp < until)
    return _page(session, query, limit=limit, offset=offset)


def for_incident(
    session: Session, *, incident: Incident, now: datetime, limit: int, offset: int
) -> tuple[list[Change], int]:
    """The changes of the incident's services from the recent window before its declaration
    until it was resolved (or now), newest first."""
    services = [s.service for s in incident.services]
    if not services:
        return [], 0
    start, _ = logic.recent_range(incident.declared_at)
    end = (incident.resolved_at or now) + logic.CLOCK_SKEW
    query = select(Change).where(
        Change.service.in_(services), Change.timestamp >= start, Change.timestamp <= end
    )
    return _page(session, query, limit=limit, offset=offset)


def recent(
    session: Session, *, services: Sequence[str], declared_at: datetime, limit: int
) -> tuple[list[Change], int]:
    """The newest `limit` changes of these services that count as recent for an incident
    declared at `declared_at`, and how many there are in all."""
    if not services:
        return [], 0
    start, end = logic.recent_range(declared_at)
    query = select(Change).where(
        Change.service.in_(list(services)), Change.timestamp >= start, Change.timestamp <= end
    )
    return _page(session, query, limit=limit, offset=0)


# --- subscribers ------------------------------------------------------------------------


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    """The declaration's "recent changes": the newest few on the timeline, and a note of how
    many more there are (the API lists them all)."""
    incident = session.get(Incident, event.incident_id)
    if incident is None:
        return
    changes, total = recent(
        session,
        services=event.services,
        declared_at=event.at,
        limit=logic.RECENT_ON_TIMELINE,
    )
    now = incident.updated_at  # the declaration's "now" (event.at may be an imported past)
    for change in changes:
        _on_timeline(session, event.incident_id, change, now=now, recent=True)
    if total > len(changes):
        oldest = changes[-1].timestamp
        session.add(
            TimelineEvent(
                incident_id=event.incident_id,
                timestamp=oldest,
                type=EventType.CHANGE.value,
                source=EventSource.EXTERNAL.value,
                description=f"{total - len(changes)} earlier recent changes not shown here; "
                f"GET /api/v1/incidents/{incident.key}/changes lists them all",
                actor=None,
                details={"services": list(event.services), "total_recent_changes": total},
                recorded_at=now,
            )
        )
