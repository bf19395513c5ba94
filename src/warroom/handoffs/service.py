"""Handoff use cases: draft from the incident, edit, confirm (moving the IC role), cancel.

The role moves only when the incoming IC confirms, in the same transaction as the
confirmation, so the incident is never without a commander in between.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.auth.logic import Principal, Role
from warroom.authority.check import authorize
from warroom.config.authority import IC, Action
from warroom.config.durations import format_duration
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import timers
from warroom.engine.handlers import handles
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.escalation import bookkeeping, delivery
from warroom.escalation.matrix import PLAN
from warroom.handoffs.logic import HandoffStatus, Snapshot, draft, edit, sign
from warroom.handoffs.models import Handoff
from warroom.handoffs.schemas import HandoffUpdate
from warroom.incidents import checks
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.maintenance import service as maintenance
from warroom.notifications.render import MessageKind
from warroom.runbooks import approvals
from warroom.runbooks import service as checklists
from warroom.runbooks.logic import StepState, current_phase
from warroom.sla import service as sla
from warroom.timeline.logic import EventType

UNCONFIRMED = "handoff_unconfirmed"
#: The most silenced alerts a handoff document lists.
MAX_SILENCED = 50


def commander(incident: Incident) -> str | None:
    return next((r.user for r in incident.roles if r.role == IC), None)


def list_for(session: Session, incident: Incident) -> list[Handoff]:
    query = select(Handoff).where(Handoff.incident_id == incident.id).order_by(Handoff.id)
    return list(session.scalars(query))


def get(session: Session, incident: Incident, handoff_id: int) -> Handoff:
    found = session.get(Handoff, handoff_id)
    if found is None or found.incident_id != incident.id:
        raise NotFound(f"{incident.key} has no handoff {handoff_id}", field="hid")
    return found


def pending(session: Session, incident: Incident) -> Handoff | None:
    return next((h for h in list_for(session, incident) if h.status == HandoffStatus.DRAFT), None)


def snapshot(
    session: Session, *, config: WarroomConfig, incident: Incident, to: str, now: datetime
) -> Snapshot:
    """Gather what the handoff document is prefilled from."""
    steps = checklists.ensure_checklist(session, config=config, incident=incident, now=now)
    phase = current_phase([(s.phase, s.state) for s in steps])
    holders = {r.role: r.user for r in incident.roles}
    open_steps = [s for s in steps if s.state == StepState.PENDING and s.phase == phase]
    services = sorted({s.service for s in incident.services})
    windows = [
        w
        for w in maintenance.list_windows(session, config=config, now=now, active=True)
        if w.service in services
    ]
    silenced = session.execute(
        select(Alert.summary, Alert.service)
        .where(
            Alert.service.in_(services),
            Alert.suppressed.is_(True),
            Alert.resolved_at.is_(None),
        )
        .order_by(Alert.id)
        .limit(MAX_SILENCED)
    )
    return Snapshot(
        key=incident.key,
        severity=incident.severity,
        status=incident.status,
        summary=incident.description,
        declared_at=incident.declared_at,
        outgoing=holders.get(IC),
        incoming=to,
        roles=holders,
        events=[
            (e.timestamp, e.type, e.description)
            for e in incidents.timeline(session, incident=incident)
        ],
        pending=[(s.text, holders.get(s.role or "", s.role), s.due_at) for s in open_steps],
        done=[s.text for s in steps if s.state == StepState.DONE],
        approvals=[
            f"{a.action} (requested by {a.requested_by})"
            for a in approvals.list_for(session, incident)
            if a.status == approvals.PENDING
        ],
        next_update_due=sla.next_update_due(session, config, incident, now=now),
        windows=[(w.service, w.reason, w.ends_at) for w in windows],
        silenced=[(summary, service) for summary, service in silenced],
        contact=next((holders[r] for r in sla.COMMUNICATORS if holders.get(r)), None),
    )


def create(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    to: str,
    actor: Principal,
    now: datetime,
) -> Handoff:
    """Draft a handoff of the IC role to `to`, prefilled from the incident."""
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; there is nothing to hand off")
    checks.check_user(config, to, "to")
    outgoing = commander(incident)
    if outgoing == to:
        raise ValidationFailed(f"{to} already commands {incident.key}", field="to")
    waiting = pending(session, incident)
    if waiting is not None:
        raise Conflict(
            f"a handoff of {incident.key} to {waiting.to_user} is waiting (handoff {waiting.id}); "
            "confirm or cancel it first"
        )
    if actor.user is None or actor.user != outgoing:
        authorize(
            session,
            config=config,
            incident=incident,
            action=Action.ASSIGN_ROLES,
            actor=actor,
            now=now,
        )
    document = draft(snapshot(session, config=config, incident=incident, to=to, now=now), now=now)
    handoff = Handoff(
        incident_id=incident.id,
        from_user=outgoing,
        to_user=to,
        status=HandoffStatus.DRAFT.value,
        document=document,
        created_by=actor.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(handoff)
    session.flush()
    timers.schedule(
        session,
        kind=UNCONFIRMED,
        key=f"handoff:{handoff.id}",
        due_at=now + config.handoffs.confirm_within,
        now=now,
        incident_id=incident.id,
        payload={"handoff": handoff.id},
    )
    notify(session)
    incidents.record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"Handoff of command drafted: {outgoing or 'nobody'} to {to}",
        now=now,
        actor=actor.actor,
        details={"handoff": handoff.id, "from": outgoing, "to": to},
    )
    return handoff


def _editable(handoff: Handoff) -> None:
    if handoff.status != HandoffStatus.DRAFT:
        raise Conflict(f"handoff {handoff.id} is {handoff.status}; it can no longer change")


def update(
    session: Session,
    *,
    incident: Incident,
    handoff: Handoff,
    data: HandoffUpdate,
    actor: Principal,
    now: datetime,
) -> Handoff:
    """Edit the draft: the outgoing IC, its author or an admin."""
    _editable(handoff)
    allowed = {handoff.from_user, handoff.created_by} - {None}
    if actor.role is not Role.ADMIN and actor.actor not in allowed:
        may = sorted(str(a) for a in allowed)
        raise Forbidden(
            f"only {' or '.join(may)} (or an admin) may edit this handoff", details={"may": may}
        )
    changes = data.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    if changes:
        handoff.document = edit(dict(handoff.document), changes)
        handoff.updated_at = now
    return handoff


def confirm(
    session: Session,
    *,
    config: WarroomConfig,
    incident: Incident,
    handoff: Handoff,
    actor: Principal,
    now: datetime,
) -> Handoff:
    """The incoming IC confirms: the role moves to them in this same transaction."""
    _editable(handoff)
    if actor.user != handoff.to_user:
        raise Forbidden(
            f"only the incoming Incident Commander ({handoff.to_user}) may confirm this handoff",
            details={"may": [handoff.to_user]},
        )
    outgoing = commander(incident)
    incidents.assign_role(
        session,
        config=config,
        incident=incident,
        role=IC,
        user=handoff.to_user,
        actor=actor,
        now=now,
        check=False,
    )
    handoff.document = sign(
        dict(handoff.document), outgoing=outgoing, incoming=handoff.to_user, at=now
    )
    handoff.status = HandoffStatus.CONFIRMED.value
    handoff.confirmed_at = now
    handoff.updated_at = now
    incidents.record(
        session,
        incident=incident,
        type=EventType.DECISION,
        description=(
            f"Command handed off: {handoff.to_user} confirmed taking over as Incident Commander"
            f" from {outgoing or 'nobody'}"
        ),
        now=now,
        actor=actor.actor,
        details={
            "handoff": handoff.id,
            "from": outgoing,
            "to": handoff.to_user,
            "document": handoff.document,
        },
    )
    return handoff


def cancel(
    session: Session, *, incident: Incident, handoff: Handoff, actor: Principal, now: datetime
) -> Handoff:
    """Withdraw a draft (its author, either IC, or an admin)."""
    _editable(handoff)
    allowed = {handoff.from_user, handoff.created_by, handoff.to_user} - {None}
    if actor.role is not Role.ADMIN and actor.actor not in allowed:
        raise Forbidden("only the people of this handoff (or an admin) may cancel it")
    handoff.status = HandoffStatus.CANCELLED.value
    handoff.updated_at = now
    incidents.record(
        session,
        incident=incident,
        type=EventType.NOTE,
        description=f"Handoff of command to {handoff.to_user} cancelled",
        now=now,
        actor=actor.actor,
        details={"handoff": handoff.id},
    )
    return handoff


@handles(UNCONFIRMED)
def _unconfirmed(ctx: AppContext, session: Session, timer: Timer, now: datetime) -> None:
    handoff = session.get(Handoff, int((timer.payload or {}).get("handoff", 0)))
    if handoff is None or handoff.status != HandoffStatus.DRAFT:
        return
    incident = session.get(Incident, handoff.incident_id)
    if incident is None or not bookkeeping.is_open(incident):
        return
    waited = ctx.config.handoffs.confirm_within
    people = [p for p in dict.fromkeys([handoff.to_user, handoff.from_user]) if p]
    text = (
        f"Handoff of command to {handoff.to_user} not confirmed after "
        f"{format_duration(waited)}; {handoff.from_user or 'nobody'} still commands"
    )
    wrote = bookkeeping.note(
        session,
        incident,
        key=timer.key,
        description=f"{text}; told {', '.join(people)}",
        now=now,
        timestamp=timer.due_at,
        details={"handoff": handoff.id, "unconfirmed": True, "told": people},
    )
    if not wrote:
        return
    context = delivery.message_context(
        ctx.settings,
        incident,
        kind=MessageKind.ESCALATION,
        reason=f"{text}. Confirm: warroom handoff confirm {incident.key}",
    )
    for person in people:
        delivery.deliver(
            ctx,
            session,
            incident=incident,
            recipient=delivery.Recipient(person, user=person),
            delivery=PLAN,
            context=context,
            reason="handoff",
            key=timer.key,
            now=now,
            urgency="high",
            with_ack_link=False,
        )
