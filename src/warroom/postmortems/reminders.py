"""Reminders before a postmortem or action item is due, escalation once it is overdue.

An engine job looks at everything due within the reminder window. Each notice is written
once per deadline (a marker row with a unique key), so several engines, or one engine
running again, never send it twice; a new deadline (the due date moved) is a new notice.
The owner gets the reminder; the escalation goes to `escalate_to`, else to the incident
commander when the owner is someone else, and the owner hears of it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.clock import as_utc
from warroom.context import AppContext
from warroom.engine.wakeup import notify
from warroom.escalation import bookkeeping, delivery
from warroom.incidents.models import Incident
from warroom.notifications.render import MessageKind
from warroom.notifications.service import notify_user
from warroom.postmortems.logic import ActionStatus, Notice, PostmortemStatus, notices_due
from warroom.postmortems.models import ActionItem, Postmortem
from warroom.timeline.logic import EventType

EVERY = 60.0  # seconds between passes
BATCH = 500


def _recipients(
    owner: str | None, notice: Notice, escalate_to: list[str], incident: Incident
) -> list[str]:
    if notice is Notice.REMINDER:
        return [owner] if owner else []
    commander = bookkeeping.role_holder(incident, "incident_commander")
    named = [
        bookkeeping.role_holder(incident, name[5:]) if name.startswith("role:") else name
        for name in escalate_to
    ]
    above = [n for n in named if n] or ([commander] if commander and commander != owner else [])
    return list(dict.fromkeys([*above, *([owner] if owner else [])]))


def _send(
    ctx: AppContext,
    session: Session,
    *,
    incident: Incident,
    key: str,
    text: str,
    people: list[str],
    now: datetime,
    details: dict[str, object],
) -> int:
    if not bookkeeping.note(
        session, incident, key=key, description=text, now=now, type=EventType.NOTE,
        details={**details, "notified": people},
    ):  # fmt: skip
        return 0
    context = delivery.message_context(
        ctx.settings, incident, kind=MessageKind.REMINDER, reason=text
    )
    sent = 0
    for person in people:
        sent += len(
            notify_user(
                session, config=ctx.config, user=person, context=context, reason="follow_up",
                key=key, now=now, urgency="low", incident_id=incident.id,
            )
        )  # fmt: skip
    return sent


def run_pass(ctx: AppContext, session: Session, now: datetime) -> int:
    """Send every reminder and escalation due at `now`; return how many messages were queued."""
    learning = ctx.config.postmortems
    policy = learning.postmortem
    queued = 0
    postmortems = session.execute(
        select(Postmortem, Incident)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(
            Postmortem.status != PostmortemStatus.PUBLISHED.value,
            Postmortem.deadline_at.is_not(None),
            Postmortem.deadline_at <= now + policy.remind_before,
        )
        .order_by(Postmortem.deadline_at)
        .limit(BATCH)
    ).all()
    for pm, incident in postmortems:
        deadline = as_utc(pm.deadline_at) if pm.deadline_at else now
        for notice in notices_due(deadline, now, policy.remind_before):
            late = notice is Notice.ESCALATION
            text = (
                f"Postmortem for {incident.key} is overdue (was due {deadline:%Y-%m-%d %H:%M} UTC)"
                if late
                else f"Postmortem for {incident.key} is due {deadline:%Y-%m-%d %H:%M} UTC"
            ) + (f"; owner {pm.owner}" if pm.owner else "; no owner")
            queued += _send(
                ctx, session, incident=incident,
                key=f"pm:{pm.id}:{notice.value}:{deadline.isoformat()}", text=text,
                people=_recipients(pm.owner, notice, policy.escalate_to, incident),
                now=now, details={"postmortem": True, "notice": notice.value},
            )  # fmt: skip
    items_policy = learning.action_items
    items = session.execute(
        select(ActionItem, Incident)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(
            ActionItem.status.in_([ActionStatus.OPEN.value, ActionStatus.IN_PROGRESS.value]),
            ActionItem.due_at <= now + items_policy.remind_before,
        )
        .order_by(ActionItem.due_at)
        .limit(BATCH)
    ).all()
    for item, incident in items:
        due = as_utc(item.due_at)
        for notice in notices_due(due, now, items_policy.remind_before):
            late = notice is Notice.ESCALATION
            text = (
                f"Action item #{item.id} ({item.priority}) is overdue (was due {due:%Y-%m-%d}): "
                if late
                else f"Action item #{item.id} ({item.priority}) is due {due:%Y-%m-%d}: "
            ) + f"{item.title}; owner {item.owner}"
            queued += _send(
                ctx, session, incident=incident,
                key=f"ai:{item.id}:{notice.value}:{due.isoformat()}", text=text,
                people=_recipients(item.owner, notice, policy.escalate_to, incident),
                now=now, details={"action_item": item.id, "notice": notice.value},
            )  # fmt: skip
    return queued


def send_reminders(ctx: AppContext) -> float:
    """The engine job: one pass in its own transaction."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as uow:
        if run_pass(ctx, uow.session, now):
            notify(uow.session)
        uow.commit()
    return EVERY
