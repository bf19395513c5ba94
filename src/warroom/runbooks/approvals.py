"""Approval requests: an action that needs approval is asked for, then granted or refused.

Who may decide comes from the authority rules (`warroom.authority.logic`): what any role's
`requires_ic_approval` lists is the Incident Commander's alone; otherwise the `authorize`
rule and the roles whose `can_authorize` lists it. A refusal names who may decide.
The IC is told of each request, the requester of each decision.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.authority.check import authorize
from warroom.authority.logic import authorizing_roles
from warroom.config.authority import IC, Action, ActionRule
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.errors import Conflict, NotFound
from warroom.escalation import delivery
from warroom.escalation.matrix import PLAN
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.runbooks.models import Approval
from warroom.timeline.logic import EventType

PENDING, GRANTED, REFUSED = "pending", "granted", "refused"


def needs_ic(config: WarroomConfig, action: str) -> bool:
    """Whether a role's `requires_ic_approval` lists `action`."""
    rule = config.authority.actions.get(Action.AUTHORIZE) or ActionRule()
    return authorizing_roles(config, rule, action) == [IC]


def list_for(session: Session, incident: Incident) -> list[Approval]:
    query = select(Approval).where(Approval.incident_id == incident.id).order_by(Approval.id)
    return list(session.scalars(query))


def get(session: Session, incident: Incident, approval_id: int) -> Approval:
    found = session.get(Approval, approval_id)
    if found is None or found.incident_id != incident.id:
        raise NotFound(f"{incident.key} has no approval {approval_id}", field="aid")
    return found


def _tell(
    ctx: AppContext,
    session: Session,
    incident: Incident,
    person: str | None,
    text: str,
    key: str,
    now: datetime,
) -> None:
    if person is None or ctx.config.user(person) is None:
        return
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
        reason="approval",
        key=key,
        now=now,
        urgency="low",
        with_ack_link=False,
    )


def request(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    action: str,
    reason: str,
    actor: Principal,
    now: datetime,
) -> Approval:
    """Ask for approval of `action`; the timeline records it and the IC is told."""
    if incident.status == Status.CLOSED:
        raise Conflict(f"{incident.key} is closed; nothing is left to approve")
    approval = Approval(
        incident_id=incident.id,
        action=action,
        reason=reason,
        requested_by=actor.actor,
        requested_at=now,
        status=PENDING,
    )
    session.add(approval)
    session.flush()
    text = f"Approval requested by {actor.actor}: {action}: {reason}"
    incidents.record(
        session,
        incident=incident,
        type=EventType.DECISION,
        description=text,
        now=now,
        actor=actor.actor,
        details={"approval": approval.id, "action": action, "status": PENDING},
    )
    commander = next((r.user for r in incident.roles if r.role == IC), None)
    _tell(ctx, session, incident, commander, text, f"approval:{approval.id}:asked", now)
    return approval


def decide(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    approval: Approval,
    granted: bool,
    reason: str,
    actor: Principal,
    now: datetime,
) -> Approval:
    """Grant or refuse; 403 naming who may when the caller may not decide."""
    if approval.status != PENDING:
        raise Conflict(
            f"approval {approval.id} was already {approval.status} by {approval.decided_by}"
        )
    authorize(
        session,
        config=ctx.config,
        incident=incident,
        action=Action.AUTHORIZE,
        actor=actor,
        now=now,
        subject=approval.action,
    )
    approval.status = GRANTED if granted else REFUSED
    approval.decided_by = actor.actor
    approval.decided_at = now
    approval.decision_reason = reason
    text = f"Approval {approval.status} by {actor.actor}: {approval.action}: {reason}"
    incidents.record(
        session,
        incident=incident,
        type=EventType.DECISION,
        description=text,
        now=now,
        actor=actor.actor,
        details={"approval": approval.id, "action": approval.action, "status": approval.status},
    )
    _tell(
        ctx, session, incident, approval.requested_by, text, f"approval:{approval.id}:decided", now
    )
    return approval
