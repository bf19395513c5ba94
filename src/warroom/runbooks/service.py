"""Checklist use cases: instantiate an incident's runbooks, tick or skip steps, remind.

The checklist is made when the incident is declared (same transaction), or on first look
for incidents older than the runbooks. Each step with an SLA gets a `runbook_step` timer;
when it comes due and the step is still pending, the timeline says so and the step's role
holder (else the IC) is reminded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warroom import events
from warroom.auth.logic import Principal
from warroom.config.authority import IC
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.escalation import bookkeeping, delivery
from warroom.escalation.matrix import PLAN
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.runbooks.logic import IncidentFacts, StepState, match, plan
from warroom.runbooks.models import Approval, ChecklistStep
from warroom.timeline.logic import EventType

STEP_DUE = "runbook_step"


def facts_of(incident: Incident) -> IncidentFacts:
    return IncidentFacts(
        type=incident.type,
        severity=incident.severity,
        services=tuple(s.service for s in incident.services),
    )


def _named(config: WarroomConfig, incident: Incident) -> dict[str, str]:
    """Runbooks named by the incident's type or services (`runbook:`)."""
    named: dict[str, str] = {}
    kind = config.incident_type(incident.type) if incident.type else None
    if kind is not None and kind.runbook:
        named[kind.runbook] = f"incident type {kind.name} names it"
    for link in incident.services:
        service = config.service(link.service)
        if service is not None and service.runbook and service.runbook not in named:
            named[service.runbook] = f"service {service.name} names it"
    return named


def steps_of(session: Session, incident: Incident) -> list[ChecklistStep]:
    query = (
        select(ChecklistStep)
        .where(ChecklistStep.incident_id == incident.id)
        .order_by(ChecklistStep.position)
    )
    return list(session.scalars(query))


def ensure_checklist(
    session: Session, *, config: WarroomConfig, incident: Incident, now: datetime
) -> list[ChecklistStep]:
    """Return the incident's checklist, making it from the matched runbooks the first time."""
    existing = steps_of(session, incident)
    if existing:
        return existing
    attached = match(config.runbooks, facts_of(incident), named=_named(config, incident))
    planned = plan(attached, severity=incident.severity, declared_at=incident.declared_at)
    rows = [
        ChecklistStep(
            incident_id=incident.id,
            key=p.key,
            runbook=p.runbook,
            matched_by=p.matched_by,
            phase=p.phase,
            position=p.position,
            text=p.text,
            role=p.role,
            requires_approval=p.requires_approval,
            sla=p.sla,
            due_at=p.due_at,
            extras=p.extras,
            state=StepState.PENDING.value,
        )
        for p in planned
    ]
    try:
        # Two first looks at once: the second finds the first's rows instead of failing.
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        return steps_of(session, incident)
    open_now = incident.status not in (Status.RESOLVED, Status.CLOSED)
    for row in rows:
        if row.due_at is not None and open_now:
            timers.schedule(
                session,
                kind=STEP_DUE,
                key=f"step:{incident.id}:{row.key}",
                due_at=max(row.due_at, now),
                now=now,
                incident_id=incident.id,
                payload={"step": row.key, "due": row.due_at.isoformat()},
            )
    return rows


def _approved(session: Session, incident: Incident, action: str) -> bool:
    query = select(Approval.id).where(
        Approval.incident_id == incident.id,
        Approval.action == action,
        Approval.status == "granted",
    )
    return session.scalar(query.limit(1)) is not None


def set_state(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    key: str,
    state: StepState,
    note: str | None,
    actor: Principal,
    now: datetime,
) -> ChecklistStep:
    """Tick or skip a step (or reopen it as pending); the timeline records it."""
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; its checklist is final")
    steps = ensure_checklist(session, config=config, incident=incident, now=now)
    step = next((s for s in steps if s.key == key), None)
    if step is None:
        raise NotFound(f"{incident.key} has no checklist step {key!r}", field="step")
    if state is StepState.SKIPPED and not note:
        raise ValidationFailed("skipping a step needs a note saying why", field="note")
    if (
        state is StepState.DONE
        and step.requires_approval
        and not _approved(session, incident, step.requires_approval)
    ):
        holders = {r.role: r.user for r in incident.roles}
        who = f"the Incident Commander ({holders[IC]})" if IC in holders else "the IC"
        raise Forbidden(
            f"{step.requires_approval!r} needs an approval from {who} before this step is done; "
            f"request one: POST /api/v1/incidents/{incident.key}/approvals",
            details={
                "action": step.requires_approval,
                "may": [holders[IC]] if IC in holders else [],
            },
        )
    if step.state == state.value:
        return step
    step.state = state.value
    pending = state is StepState.PENDING
    step.done_by = None if pending else actor.actor
    step.done_at = None if pending else now
    step.note = note
    verb = {"done": "Done", "skipped": "Skipped", "pending": "Reopened"}[state.value]
    text = f"Checklist ({step.phase}): {verb}: {step.text}"
    incidents.record(
        session,
        incident=incident,
        type=EventType.ACTION,
        description=f"{text}. {note}" if note else text,
        now=now,
        actor=actor.actor,
        details={"step": step.key, "state": state.value, "runbook": step.runbook, "note": note},
    )
    return step


# --- reminders -------------------------------------------------------------------------


@handles(STEP_DUE)
def _step_due(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    incident = session.get(Incident, timer.incident_id) if timer.incident_id else None
    if incident is None or not bookkeeping.is_open(incident):
        return
    key = str((timer.payload or {}).get("step", ""))
    step = session.scalar(
        select(ChecklistStep).where(
            ChecklistStep.incident_id == incident.id, ChecklistStep.key == key
        )
    )
    if step is None or step.state != StepState.PENDING:
        return
    planned_for = (timer.payload or {}).get("due")
    if step.due_at is None or (planned_for and planned_for != step.due_at.isoformat()):
        return  # re-planned for another level (see _on_severity)
    holders = {r.role: r.user for r in incident.roles}
    person = holders.get(step.role or IC) or holders.get(IC)
    text = f"Checklist step overdue ({step.phase}, SLA {step.sla}): {step.text}"
    wrote = bookkeeping.note(
        session,
        incident,
        key=timer.key,
        description=text + (f"; reminded {person}" if person else "; nobody to remind"),
        now=now,
        type=EventType.NOTE,
        timestamp=timer.due_at,
        details={"step": step.key, "overdue": True, "reminded": person},
    )
    if wrote and person:
        context = delivery.message_context(
            ctx.settings, incident, kind=MessageKind.REMINDER, reason=text
        )
        delivery.deliver(
            ctx,
            session,
            incident=incident,
            recipient=delivery.Recipient(person, user=person),
            delivery=PLAN,
            context=context,
            reason="checklist",
            key=timer.key,
            now=now,
            urgency="low",
            with_ack_link=False,
        )


@events.subscribe(events.IncidentDeclared)
def _on_declared(session: Session, event: events.IncidentDeclared) -> None:
    incident = session.get(Incident, event.incident_id)
    config = bookkeeping.config_of(session)
    if incident is not None and config.runbooks:
        rows = ensure_checklist(session, config=config, incident=incident, now=event.at)
        if any(r.due_at is not None for r in rows):
            notify(session)


def replan(session: Session, *, config: WarroomConfig, incident: Incident, now: datetime) -> int:
    """Move the pending steps' SLAs to the incident's level now; return how many moved."""
    attached = match(config.runbooks, facts_of(incident), named=_named(config, incident))
    planned = {
        (p.runbook, p.key): p
        for p in plan(attached, severity=incident.severity, declared_at=incident.declared_at)
    }
    moved = 0
    for row in steps_of(session, incident):
        fresh = planned.get((row.runbook, row.key))
        if row.state != StepState.PENDING or fresh is None or fresh.due_at == row.due_at:
            continue
        row.sla, row.due_at = fresh.sla, fresh.due_at
        moved += 1
        if row.due_at is not None:
            timers.schedule(
                session,
                kind=STEP_DUE,
                key=f"step:{incident.id}:{row.key}:{incident.severity}:{row.due_at.isoformat()}",
                due_at=max(row.due_at, now),
                now=now,
                incident_id=incident.id,
                payload={"step": row.key, "due": row.due_at.isoformat()},
            )
    return moved


@events.subscribe(events.SeverityChanged)
def _on_severity(session: Session, event: events.SeverityChanged) -> None:
    incident = session.get(Incident, event.incident_id)
    config = bookkeeping.config_of(session)
    if (
        incident is not None
        and config.runbooks
        and steps_of(session, incident)
        and replan(session, config=config, incident=incident, now=event.at)
    ):
        notify(session)


@events.subscribe(events.StatusChanged)
def _on_status(session: Session, event: events.StatusChanged) -> None:
    if event.current in (Status.RESOLVED, Status.CLOSED):
        timers.cancel(session, now=event.at, incident_id=event.incident_id, kinds=(STEP_DUE,))
