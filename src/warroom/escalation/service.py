"""Escalation in the engine: incident events arm timers, timer handlers page and escalate.

Subscribers (here, inside the transaction that changed the incident) only write timers
and cancel them; the handlers, run by the engine, resolve who is on call *when the page is
due*, queue the messages through people's contact plans, write the timeline, and
schedule what comes next. The parts: `paging` (policies, steps, rounds, acknowledgement),
`rules` (the matrix and role triggers), `delivery` (recipients and messages),
`bookkeeping` (once-markers, generations, timeline notes). This module is the domain's
face: other domains and the routes use the names in `__all__`.

Handlers run at least once; their effects are idempotent. Messages carry keys derived
from the timer (the outbox ignores a second copy), timeline lines are written under a
once-marker, and a rule fires under a once-marker per incident.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom import events
from warroom.engine import outbox, timers
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.escalation.bookkeeping import (
    FINISHED,
    KINDS,
    config_of,
    is_open,
)
from warroom.escalation.paging import (
    end_round,
    paging_active,
    paging_state,
    policies,
    policy_for,
    schedule_ack_timeout,
    start_round,
    stop_paging,
)
from warroom.escalation.rules import (
    arm_time_rules,
    check_impact_rules,
)
from warroom.incidents.models import Incident

# --- subscribers ------------------------------------------------------------------------


def _incident(session: Session, incident_id: int) -> Incident | None:
    return session.get(Incident, incident_id)


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    config = config_of(session)
    if incident.acknowledged_at is None:
        policy = policy_for(config, event.services, incident.type)
        if policy is not None:
            start_round(session, incident, policy, round=0, at=event.at)
    arm_time_rules(session, config, incident, now=event.at)
    check_impact_rules(session, config, incident, now=event.at)
    notify(session)


@events.subscribe(events.IncidentAcknowledged)
def _on_acknowledged(session: Session, event: events.IncidentAcknowledged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    acked = incident.acknowledged_at
    if acked is not None and acked < event.at:
        # Acknowledged again (an incident service that reports repeated acknowledgements):
        # that ends a round paging again after an ack timeout, and nothing else.
        if is_open(incident) and paging_active(session, incident.id):
            end_round(session, incident, by=event.by, now=event.at)
        return
    state = paging_state(session, incident.id)
    stop_paging(session, incident, now=event.at)
    config = config_of(session)
    if state is not None and state.policy in policies(config):
        schedule_ack_timeout(
            session,
            incident,
            policies(config)[state.policy],
            round=state.round + 1,
            acked_at=event.at,
        )
    notify(session)


@events.subscribe(events.StatusChanged)
def _on_status(session: Session, event: events.StatusChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None:
        return
    if event.current in FINISHED:
        timers.cancel(session, now=event.at, incident_id=incident.id, kinds=KINDS)
        outbox.cancel_pending(session, incident_id=incident.id, now=event.at, reasons=("page",))
        return
    if event.current in ("identified", "monitoring") and paging_active(session, incident.id):
        # Someone is working on it (the move stamped acknowledged_at if nobody had).
        stop_paging(session, incident, now=event.at)
    if event.previous in FINISHED:
        arm_time_rules(session, config_of(session), incident, now=event.at)
        notify(session)


@events.subscribe(events.SeverityChanged)
def _on_severity(session: Session, event: events.SeverityChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    config = config_of(session)
    arm_time_rules(session, config, incident, now=event.at)
    check_impact_rules(session, config, incident, now=event.at)
    notify(session)


@events.subscribe(events.ImpactChanged)
def _on_impact(session: Session, event: events.ImpactChanged) -> None:
    incident = _incident(session, event.incident_id)
    if incident is None or not is_open(incident):
        return
    check_impact_rules(session, config_of(session), incident, now=event.at)
    notify(session)


def pending_timers(session: Session, incident_id: int) -> list[Timer]:
    """The incident's pending escalation, SLA and cadence timers, soonest first."""
    return list(
        session.scalars(
            select(Timer)
            .where(Timer.incident_id == incident_id, Timer.status == timers.PENDING)
            .order_by(Timer.due_at, Timer.id)
        )
    )


__all__ = ["pending_timers"]
