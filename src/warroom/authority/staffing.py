"""Required roles left empty: flagged on the incident and reminded, in the engine.

When an incident is declared (or its severity changes), a `staffing` timer is armed for the
level's response time (`warroom.authority.logic.staffing_time`). When it comes due and some
of the level's `required_roles` are still empty, the incident is flagged (its
`unfilled_roles`), the timeline says which roles and who was told, and the holders of
`authority.staffing.remind` (else everyone paged for it and its declarer) get a message;
the next reminder follows `remind_every` later until the roles are filled or the incident
is resolved. Filling a role clears it from the flag at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom import events
from warroom.authority.logic import missing_roles, staffing_time
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.escalation import bookkeeping, delivery
from warroom.escalation.matrix import PLAN
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.timeline.logic import EventType

STAFFING = "staffing"


def _incident(session: Session, incident_id: int | None) -> Incident | None:
    return session.get(Incident, incident_id) if incident_id else None


def arm(
    session: Session, config: WarroomConfig, incident: Incident, *, since: datetime, now: datetime
) -> bool:
    """(Re)plan the first staffing check of the incident's level; return whether one is."""
    timers.cancel(session, now=now, incident_id=incident.id, kinds=(STAFFING,))
    if incident.unfilled_roles is not None:  # not an UPDATE for a new incident's every arm
        incident.unfilled_roles = None
    level = config.severity(incident.severity)
    within = staffing_time(config, incident.severity)
    if (
        not config.authority.staffing.enabled
        or level is None
        or not level.required_roles
        or within is None
        or not bookkeeping.is_open(incident)
    ):
        return False
    gen = bookkeeping.generation(session, incident.id, f"staff:{incident.id}:")
    timers.schedule(
        session,
        kind=STAFFING,
        key=f"staff:{incident.id}:{gen}:0",
        due_at=max(since + within, now),
        now=now,
        incident_id=incident.id,
        payload={"severity": incident.severity, "gen": gen, "seq": 0, "since": since.isoformat()},
    )
    return True


def _titles(config: WarroomConfig, roles: list[str]) -> str:
    return ", ".join(config.roles[r].title if r in config.roles else r for r in roles)


def _to_remind(config: WarroomConfig, incident: Incident) -> list[str]:
    holders = {r.role: r.user for r in incident.roles}
    named = [holders[r] for r in config.authority.staffing.remind if r in holders]
    if named:
        return list(dict.fromkeys(named))
    # In the order they joined: the collection's own order depends on how it was loaded.
    joined = sorted(incident.participants, key=lambda p: (p.added_at, p.user))
    return [p.user for p in joined if p.reason in ("paged", "declarer")]


@handles(STAFFING)
def _staffing_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    incident = _incident(session, timer.incident_id)
    payload = timer.payload or {}
    if incident is None or not bookkeeping.is_open(incident):
        return
    if incident.severity != payload.get("severity"):
        return  # re-planned for another level
    config = ctx.config
    missing = missing_roles(config, incident.severity, {r.role: r.user for r in incident.roles})
    if not missing:
        incident.unfilled_roles = None
        return
    incident.unfilled_roles = missing
    since = datetime.fromisoformat(str(payload.get("since") or incident.declared_at.isoformat()))
    waited = format_duration(max(timer.due_at - since, timedelta(0)))
    people = _to_remind(config, incident)
    text = f"{incident.severity} roles still empty after {waited}: {_titles(config, missing)}"
    wrote = bookkeeping.note(
        session,
        incident,
        key=timer.key,
        description=text + (f"; reminded {', '.join(people)}" if people else "; nobody to remind"),
        now=now,
        type=EventType.NOTE,
        timestamp=timer.due_at,
        details={"unfilled_roles": missing, "reminded": people, "severity": incident.severity},
    )
    if wrote:
        context = delivery.message_context(
            ctx.settings,
            incident,
            kind=MessageKind.STAFFING,
            reason=f"{text}. Assign them: PUT /api/v1/incidents/{incident.key}/roles/{{role}}.",
        )
        for person in people:
            delivery.deliver(
                ctx,
                session,
                incident=incident,
                recipient=delivery.Recipient(person, user=person),
                delivery=PLAN,
                context=context,
                reason="staffing",
                key=timer.key,
                now=now,
                urgency="low",
                with_ack_link=False,
            )
    gen, seq = int(payload.get("gen", 0)), int(payload.get("seq", 0))
    timers.schedule(
        session,
        kind=STAFFING,
        key=f"staff:{incident.id}:{gen}:{seq + 1}",
        due_at=max(timer.due_at + config.authority.staffing.remind_every, now),
        now=now,
        incident_id=incident.id,
        payload={**payload, "seq": seq + 1},
    )


# --- subscribers ------------------------------------------------------------------------


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    incident = _incident(session, event.incident_id)
    if incident is not None and arm(
        session, bookkeeping.config_of(session), incident, since=incident.declared_at, now=event.at
    ):
        notify(session)


@events.subscribe(events.SeverityChanged)
def _on_severity(session: Session, event: events.SeverityChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is not None and arm(
        session, bookkeeping.config_of(session), incident, since=event.at, now=event.at
    ):
        notify(session)


@events.subscribe(events.RoleAssigned)
def _on_role(session: Session, event: events.RoleAssigned) -> None:
    incident = _incident(session, event.incident_id)
    if incident is not None and incident.unfilled_roles:
        left = [r for r in incident.unfilled_roles if r != event.role]
        incident.unfilled_roles = left or None


@events.subscribe(events.StatusChanged)
def _on_status(session: Session, event: events.StatusChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    if not bookkeeping.is_open(incident):
        timers.cancel(session, now=event.at, incident_id=incident.id, kinds=(STAFFING,))
        incident.unfilled_roles = None
    elif event.previous in ("resolved", "closed"):
        arm(session, bookkeeping.config_of(session), incident, since=event.at, now=event.at)
        notify(session)
