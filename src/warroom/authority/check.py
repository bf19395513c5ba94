"""Enforce the authority rules inside the incident services' transactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warroom.auth.logic import SYSTEM, Principal
from warroom.authority.logic import decide
from warroom.config.authority import Action
from warroom.config.schema import WarroomConfig
from warroom.errors import Forbidden
from warroom.incidents.models import Incident
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent


def authorize(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    action: Action,
    actor: Principal,
    now: datetime,
    subject: str = "",
) -> None:
    """Refuse (403, naming who may) or allow; an admin's override goes on the timeline."""
    holders = {r.role: r.user for r in incident.roles}
    decision = decide(
        config,
        action=action,
        severity=incident.severity,
        holders=holders,
        actor=actor,
        subject=subject,
    )
    details = {"action": action.value, "severity": incident.severity, "may": list(decision.may)}
    if not decision.allowed:
        raise Forbidden(decision.message[0].upper() + decision.message[1:], details=details)
    if decision.override and actor is not SYSTEM:
        session.add(
            TimelineEvent(
                incident_id=incident.id,
                timestamp=now,
                type=EventType.NOTE.value,
                source=EventSource.HUMAN.value,
                description=f"Admin override by {actor.actor}: {decision.message}",
                actor=actor.actor,
                details={**details, "override": True, "subject": subject or None},
                recorded_at=now,
            )
        )
