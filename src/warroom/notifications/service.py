"""Turning "tell this person about that" into outbox rows, in the caller's transaction.

A person is reached through their contact plan (notification rules: e-mail now, SMS in a
minute, a call in three…); each planned contact is one outbox row with a due time and an
idempotency key derived from `key`, so the same page written twice is one page. The
render inputs travel with the row, so a fallback to another channel re-renders for it.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom import drillmarks as drills
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine import outbox
from warroom.engine.models import Notification
from warroom.notifications.logic import Urgency, contact_plan, fallback_order
from warroom.notifications.render import MessageContext, MessageKind, TimelineLine, render


def _context_to_json(context: MessageContext) -> dict[str, Any]:
    data = asdict(context)
    for name in ("started_at", "shift_start", "shift_end"):
        if data[name] is not None:
            data[name] = data[name].isoformat()
    data["timeline"] = [{"at": line.at.isoformat(), "text": line.text} for line in context.timeline]
    data["services"] = list(context.services)
    return data


def _context_from_json(data: dict[str, Any]) -> MessageContext:
    values = dict(data)
    for name in ("started_at", "shift_start", "shift_end"):
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    values["timeline"] = tuple(
        TimelineLine(datetime.fromisoformat(line["at"]), line["text"])
        for line in values.get("timeline", ())
    )
    values["services"] = tuple(values.get("services", ()))
    values["kind"] = MessageKind(values["kind"])
    return MessageContext(**values)


def _drill_label(
    session: Session, context: MessageContext, incident_id: int | None
) -> MessageContext:
    """Every message about a drill's incident says so: `[DRILL] <title>`."""
    if incident_id is None or not drills.is_drill(session, incident_id):
        return context
    return replace(context, title=drills.labelled(context.title))


def _row(
    *,
    key: str,
    channel: str,
    address: str,
    context: MessageContext,
    reason: str,
    due_at: datetime,
    recipient: str | None,
    incident_id: int | None,
    fallback_of: int | None = None,
    alert_id: int | None = None,
) -> outbox.NewNotification:
    rendered = render(channel, context)
    payload = {
        **rendered.payload,
        "ack_url": context.ack_url,
        "incident": context.incident,
        "context": _context_to_json(context),
    }
    return outbox.NewNotification(
        idempotency_key=key,
        channel=channel,
        address=address,
        reason=reason,
        subject=rendered.subject,
        body=rendered.body,
        due_at=due_at,
        recipient=recipient,
        incident_id=incident_id,
        alert_id=alert_id,
        payload=payload,
        fallback_of=fallback_of,
    )


def notify_user(
    session: Session,
    *,
    config: WarroomConfig,
    user: str,
    context: MessageContext,
    reason: str,
    key: str,
    now: datetime,
    urgency: Urgency = "high",
    incident_id: int | None = None,
    alert_id: int | None = None,
) -> list[int]:
    """Queue `user`'s contact plan for this message; return the ids of new rows."""
    person = config.user(user)
    if person is None:
        return []
    context = replace(_drill_label(session, context, incident_id), timezone=person.timezone)
    written: list[int] = []
    for i, contact in enumerate(contact_plan(person, urgency)):
        row = _row(
            key=f"{key}:{user}:{i}:{contact.channel}",
            channel=contact.channel,
            address=contact.address,
            context=context,
            reason=reason,
            due_at=now + contact.after,
            recipient=user,
            incident_id=incident_id,
            alert_id=alert_id,
        )
        new_id = outbox.enqueue(session, row, now=now)
        if new_id is not None:
            written.append(new_id)
    return written


def notify_address(
    session: Session,
    *,
    channel: str,
    address: str,
    context: MessageContext,
    reason: str,
    key: str,
    now: datetime,
    incident_id: int | None = None,
    alert_id: int | None = None,
) -> int | None:
    """Queue one message to a destination that is not a person (a Slack channel, a webhook)."""
    context = _drill_label(session, context, incident_id)
    row = _row(
        key=f"{key}:{channel}:{address}",
        channel=channel,
        address=address,
        context=context,
        reason=reason,
        due_at=now,
        recipient=None,
        incident_id=incident_id,
        alert_id=alert_id,
    )
    return outbox.enqueue(session, row, now=now)


def plan_fallback(
    ctx: AppContext, failed: Notification, now: datetime
) -> outbox.NewNotification | None:
    """After `failed` failed for good, the same message through the person's next method."""
    if failed.recipient is None:
        return None
    person = ctx.config.user(failed.recipient)
    context_data = (failed.payload or {}).get("context")
    if person is None or not context_data:
        return None
    tried = tuple((failed.payload or {}).get("tried", ()))
    options = fallback_order(person, failed.channel, tried=tried)
    if not options:
        return None
    chosen = options[0]
    row = _row(
        key=f"{failed.idempotency_key}>{chosen.channel}",
        channel=chosen.channel,
        address=chosen.address,
        context=_context_from_json(context_data),
        reason=failed.reason,
        due_at=now,
        recipient=failed.recipient,
        incident_id=failed.incident_id,
        alert_id=failed.alert_id,
        fallback_of=failed.id,
    )
    row.payload["tried"] = [*tried, failed.channel]  # type: ignore[index]
    return row
