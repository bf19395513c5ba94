"""`GET /api/v1/notifications`: what was sent, to whom, how — and what was throttled or failed."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from warroom.api import UowDep, Viewer
from warroom.auth.logic import Principal, Role
from warroom.engine.models import Notification
from warroom.incidents.models import Incident, IncidentParticipant
from warroom.incidents.service import parse_key

router = APIRouter(prefix="/api/v1", tags=["notifications"])


class NotificationRead(BaseModel):
    id: int
    # `notification`, or `chat` for an action of the chat outbox (Slack, Mattermost):
    # ids are unique within a source.
    source: Literal["notification", "chat"] = "notification"
    incident: str | None
    alert_id: int | None
    recipient: str | None
    channel: str
    address: str
    reason: str
    subject: str
    status: str
    attempts: int
    due_at: datetime
    sent_at: datetime | None
    provider_id: str | None
    last_error: str | None
    next_attempt_at: datetime | None = None  # while pending


def _mask(address: str) -> str:
    """Phone numbers and e-mail addresses are for admins; others see enough to recognise."""
    if len(address) <= 4:
        return "…"
    return "…" + address[-4:]


def _read(row: Notification, viewer: Principal) -> NotificationRead:
    return NotificationRead(
        id=row.id,
        incident=f"INC-{row.incident_id}" if row.incident_id else None,
        alert_id=row.alert_id,
        recipient=row.recipient,
        channel=row.channel,
        address=row.address if viewer.role is Role.ADMIN else _mask(row.address),
        reason=row.reason,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        due_at=row.due_at,
        sent_at=row.sent_at,
        provider_id=row.provider_id,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at if row.status in ("pending", "sending") else None,
    )


@dataclass(frozen=True)
class LedgerFilter:
    """What the listing asks of every source: hidden incidents and the query's filters."""

    hidden: Select[int] | None
    incident_id: int | None
    status: str | None
    recipient: str | None
    channel: str | None
    limit: int


#: Other outboxes listed beside the notifications, each newest first as (created, row).
#: They register themselves (the chat outbox: `warroom.chat.outbox`), so this module
#: imports none of them.
LedgerSource = Callable[[Session, LedgerFilter], list[tuple[datetime, NotificationRead]]]
LEDGER_SOURCES: list[LedgerSource] = []


def hidden_incidents(who: Principal) -> Select[int] | None:
    """The restricted incidents `who` may not see (None: they see every incident)."""
    if who.can_see(restricted=True, participants=set()):
        return None
    return select(Incident.id).where(
        Incident.restricted.is_(True),
        Incident.id.not_in(
            select(IncidentParticipant.incident_id).where(
                IncidentParticipant.user == (who.user or "")
            )
        ),
    )


def visible_query(who: Principal) -> Select[Notification]:
    """Every notification `who` may see: those of restricted incidents only for admins and
    the incident's participants (the API's list and the console's pages read this)."""
    query = select(Notification)
    hidden = hidden_incidents(who)
    if hidden is not None:
        query = query.where(
            or_(Notification.incident_id.is_(None), Notification.incident_id.not_in(hidden))
        )
    return query


def visible_notifications(
    session: Session,
    who: Principal,
    *,
    incident_id: int | None = None,
    status: str | None = None,
    recipient: str | None = None,
    channel: str | None = None,
    limit: int = 100,
) -> list[Notification]:
    """The notifications `who` may see, newest first, filtered."""
    query = visible_query(who)
    if incident_id is not None:
        query = query.where(Notification.incident_id == incident_id)
    if status is not None:
        query = query.where(Notification.status == status)
    if recipient is not None:
        query = query.where(Notification.recipient == recipient)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


@router.get("/notifications", response_model=list[NotificationRead])
def list_notifications(
    uow: UowDep,
    who: Viewer,
    incident: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    recipient: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationRead]:
    """Notifications and the chat outbox's actions, newest first; restricted incidents'
    ones only for those who may see them."""
    incident_id = parse_key(incident) if incident is not None else None
    rows = visible_notifications(
        uow.session,
        who,
        incident_id=incident_id,
        status=status,
        recipient=recipient,
        channel=channel,
        limit=limit,
    )
    listed = [(row.created_at, _read(row, who)) for row in rows]
    wanted = LedgerFilter(hidden_incidents(who), incident_id, status, recipient, channel, limit)
    for source in LEDGER_SOURCES:
        # Each list keeps its own order; they interleave by when each row was made.
        merged = heapq.merge(
            listed, source(uow.session, wanted), key=lambda pair: pair[0], reverse=True
        )
        listed = list(itertools.islice(merged, limit))
    return [read for _, read in listed]
