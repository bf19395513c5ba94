"""The chat outbox as `GET /api/v1/notifications` lists it, next to the notifications.

A chat action (`ChatAction`) is shown in the notifications' own words: its channel
(`slack` or `mattermost`; Teams goes through the notification outbox already), its state
(`pending`, `sent` for done, `failed`), attempts, last error and next attempt. The URL of a
Mattermost webhook is its secret and never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from warroom.chat.models import ChatAction, ChatChannel
from warroom.notifications.views import LEDGER_SOURCES, LedgerFilter, NotificationRead

#: The notifications' state → the chat outbox's (a chat action is never sending/throttled).
STATES = {"pending": "pending", "sent": "done", "failed": "failed"}
SHOWN_STATE = {chat: shown for shown, chat in STATES.items()}
WEBHOOK_KINDS = ("mattermost",)
CHANNELS = ("slack", *WEBHOOK_KINDS)


@dataclass(frozen=True)
class ChatDelivery:
    """One chat action, described like a notification."""

    id: int
    incident_id: int | None
    recipient: str | None
    channel: str
    address: str
    subject: str
    status: str
    attempts: int
    due_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


def channel_of_kind(kind: str) -> str:
    return kind if kind in WEBHOOK_KINDS else "slack"


def _subject(action: ChatAction) -> str:
    payload = action.payload or {}
    text = str(payload.get("text") or "").strip().splitlines()
    described = {
        "open": "open the incident channel",
        "archive": "archive the incident channel",
        "invite": f"invite {payload.get('user') or '?'} to the incident channel",
        "capture": f"add message {payload.get('ts') or '?'} to the timeline",
        "uncapture": f"record message {payload.get('ts') or '?'} unmarked",
    }
    subject = described.get(action.kind) or (text[0] if text else action.kind)
    return subject[:200]


def query(
    *,
    hidden: Select[int] | None,
    incident_id: int | None,
    status: str | None,
    recipient: str | None,
    channel: str | None,
    limit: int,
) -> Select[ChatAction] | None:
    """The chat actions the listing's filters select, newest first; None when none can be."""
    stmt = select(ChatAction)
    if hidden is not None:
        stmt = stmt.where(ChatAction.incident_id.is_(None) | ChatAction.incident_id.not_in(hidden))
    if incident_id is not None:
        stmt = stmt.where(ChatAction.incident_id == incident_id)
    if status is not None:
        if status not in STATES:
            return None
        stmt = stmt.where(ChatAction.status == STATES[status])
    if recipient is not None:
        # Only an invitation is to someone.
        stmt = stmt.where(
            ChatAction.kind == "invite", ChatAction.key.endswith(f":{recipient}", autoescape=True)
        )
    if channel is not None:
        if channel not in CHANNELS:
            return None
        if channel in WEBHOOK_KINDS:
            stmt = stmt.where(ChatAction.kind == channel)
        else:
            stmt = stmt.where(ChatAction.kind.not_in(WEBHOOK_KINDS))
    return stmt.order_by(ChatAction.created_at.desc(), ChatAction.id.desc()).limit(limit)


def deliveries(session: Session, stmt: Select[ChatAction]) -> list[ChatDelivery]:
    """The rows of `stmt` as deliveries, each Slack one addressed to its channel's name."""
    actions = list(session.scalars(stmt))
    incidents = {a.incident_id for a in actions if a.incident_id is not None}
    names = (
        {
            c.incident_id: f"#{c.name}"
            for c in session.scalars(
                select(ChatChannel).where(ChatChannel.incident_id.in_(incidents))
            )
        }
        if incidents
        else {}
    )
    shown = []
    for action in actions:
        channel = channel_of_kind(action.kind)
        if channel == "slack":
            address = names.get(action.incident_id or 0, "")
        else:
            address = f"{channel} webhook"  # its URL is a secret
        status = SHOWN_STATE.get(action.status, action.status)
        recipient = (action.payload or {}).get("user") if action.kind == "invite" else None
        shown.append(
            ChatDelivery(
                id=action.id,
                incident_id=action.incident_id,
                recipient=str(recipient) if recipient else None,
                channel=channel,
                address=address,
                subject=_subject(action),
                status=status,
                attempts=action.attempts,
                due_at=action.due_at,
                next_attempt_at=action.due_at if action.status == "pending" else None,
                sent_at=action.finished_at if action.status == "done" else None,
                last_error=action.last_error,
                created_at=action.created_at,
            )
        )
    return shown


def ledger_rows(session: Session, wanted: LedgerFilter) -> list[tuple[datetime, NotificationRead]]:
    """The chat actions `GET /api/v1/notifications` lists, as its rows."""
    stmt = query(
        hidden=wanted.hidden,
        incident_id=wanted.incident_id,
        status=wanted.status,
        recipient=wanted.recipient,
        channel=wanted.channel,
        limit=wanted.limit,
    )
    if stmt is None:
        return []
    return [
        (
            row.created_at,
            NotificationRead(
                id=row.id,
                source="chat",
                incident=f"INC-{row.incident_id}" if row.incident_id else None,
                alert_id=None,
                recipient=row.recipient,
                channel=row.channel,
                address=row.address,
                reason="chat",
                subject=row.subject,
                status=row.status,
                attempts=row.attempts,
                due_at=row.due_at,
                sent_at=row.sent_at,
                provider_id=None,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at,
            ),
        )
        for row in deliveries(session, stmt)
    ]


LEDGER_SOURCES.append(ledger_rows)
