"""What a person does to an alert by hand: acknowledge, resolve, attach to an incident, or
declare an incident from it. The API (`/api/v1/alerts/{id}/…`) and the web console call
these same functions.

Acknowledging or resolving stops the alert's own paging (an alert that was never paged is
left alone). Attaching stops it too: the incident's escalation takes over, as when the
grouping rules attach an alert. An alert already in an incident is moved only on purpose
(`attach` to another incident says so on both timelines).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.alerts import actions
from warroom.alerts.logic import AlertStatus
from warroom.alerts.models import Alert
from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.errors import Conflict
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.timeline.logic import EventSource, EventType

__all__ = ["acknowledge", "attach", "declare_from", "resolve"]


def acknowledge(session: Session, *, alert: Alert, actor: Principal, now: datetime) -> bool:
    """Acknowledge; False when it already was. A resolved alert cannot be acknowledged."""
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"alert {alert.id} is resolved; there is nothing to acknowledge")
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return False
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_at = now
    actions.stop_paging(session, alert, now=now)
    _note(session, alert, f"Alert {alert.summary} acknowledged by {actor.actor}", actor, now)
    return True


def resolve(session: Session, *, alert: Alert, actor: Principal, now: datetime) -> bool:
    """Resolve; False when it already was. The next trigger of its key opens a new alert."""
    if alert.status == AlertStatus.RESOLVED:
        return False
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    actions.stop_paging(session, alert, now=now)
    _note(session, alert, f"Alert {alert.summary} resolved by {actor.actor}", actor, now)
    return True


def attach(
    session: Session,
    *,
    config: WarroomConfig,
    alert: Alert,
    incident: Incident,
    actor: Principal,
    now: datetime,
) -> bool:
    """Make the alert part of `incident` (which the caller may see); False when it was."""
    if alert.incident_id == incident.id:
        return False
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; attach the alert to an open incident")
    previous = alert.incident_id
    alert.incident_id = incident.id
    actions.stop_paging(session, alert, now=now)
    details: dict[str, Any] = {
        "alert_id": alert.id,
        "dedup_key": alert.dedup_key,
        "service": alert.service,
        "severity": alert.severity,
    }
    if previous is not None:
        details["moved_from"] = f"INC-{previous}"
    incidents.record(
        session,
        incident=incident,
        type=EventType.ALERT,
        description=f"Alert {alert.summary} ({alert.dedup_key}) attached by {actor.actor}",
        now=now,
        actor=actor.actor,
        source=EventSource.HUMAN,
        details=details,
    )
    if previous is not None:
        old = session.get(Incident, previous)
        if old is not None:
            incidents.record(
                session,
                incident=old,
                type=EventType.NOTE,
                description=f"Alert {alert.summary} ({alert.dedup_key}) moved to {incident.key}",
                now=now,
                actor=actor.actor,
                details={"alert_id": alert.id, "moved_to": incident.key},
            )
    known = not config.services or config.service(alert.service) is not None
    if known and alert.service not in {s.service for s in incident.services}:
        incidents.add_service(
            session, config=config, incident=incident, service=alert.service, actor=actor, now=now
        )
    return True


def declare_from(
    session: Session,
    *,
    config: WarroomConfig,
    alert: Alert,
    data: IncidentCreate,
    actor: Principal,
    now: datetime,
) -> Incident:
    """Declare an incident (paging as any declaration does) and attach the alert to it."""
    if alert.incident_id is not None:
        raise Conflict(
            f"alert {alert.id} is already part of INC-{alert.incident_id}", field="alert"
        )
    incident = incidents.declare(session, config=config, data=data, actor=actor, now=now)
    attach(session, config=config, alert=alert, incident=incident, actor=actor, now=now)
    return incident


def _note(session: Session, alert: Alert, text: str, actor: Principal, now: datetime) -> None:
    """An attached alert's change goes on its incident's timeline."""
    if alert.incident_id is None:
        return
    incident = session.get(Incident, alert.incident_id)
    if incident is None:
        return
    incidents.record(
        session,
        incident=incident,
        type=EventType.ALERT,
        description=text,
        now=now,
        actor=actor.actor,
        details={"alert_id": alert.id, "status": alert.status},
    )
