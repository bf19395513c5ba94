"""The notification outbox: rows written with the change that caused them, delivered by
workers that claim with a lease, retry temporary failures with backoff, and fall back to
the next contact method when one fails for good.

Exactly-once towards a provider needs the provider's help: a worker killed after the
provider accepted a message but before the outcome was committed leaves the row in
`sending` with a lease that runs out; the next worker sends it again with the same
idempotency key (HTTP `Idempotency-Key`, SMTP `Message-ID`), so a provider that honours
keys drops the copy. The window is the time between the provider's answer and our commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from warroom.db import insert_ignoring_conflict
from warroom.engine.models import DeliveryAttempt, Notification
from warroom.engine.wakeup import notify

PENDING, SENDING, SENT, FAILED, CANCELLED, THROTTLED = (
    "pending",
    "sending",
    "sent",
    "failed",
    "cancelled",
    "throttled",
)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class NewNotification:
    idempotency_key: str
    channel: str
    address: str
    reason: str
    subject: str
    body: str
    due_at: datetime
    recipient: str | None = None
    incident_id: int | None = None
    alert_id: int | None = None
    payload: dict[str, Any] | None = None
    fallback_of: int | None = None


def enqueue(session: Session, item: NewNotification, *, now: datetime) -> int | None:
    """Write a notification unless its idempotency key exists; return its id when written."""
    values = {
        "idempotency_key": item.idempotency_key,
        "incident_id": item.incident_id,
        "alert_id": item.alert_id,
        "recipient": item.recipient,
        "channel": item.channel,
        "address": item.address,
        "reason": item.reason,
        "subject": item.subject,
        "body": item.body,
        "payload": item.payload or {},
        "status": PENDING,
        "due_at": item.due_at,
        "next_attempt_at": item.due_at,
        "attempts": 0,
        "fallback_of": item.fallback_of,
        "created_at": now,
    }
    stmt = insert_ignoring_conflict(session, Notification, values, conflict=["idempotency_key"])
    row = session.execute(stmt).first()
    if row is None:
        return None
    notify(session)  # the deliveries job runs once this commits, not at its next poll
    return int(row[0])


def cancel_pending(
    session: Session,
    *,
    incident_id: int | None = None,
    now: datetime,
    reasons: tuple[str, ...] = ("page",),
    alert_id: int | None = None,
) -> int:
    """Cancel notifications not yet handed to a provider (acknowledged: stop the paging),
    of an incident or of an alert."""
    if (incident_id is None) == (alert_id is None):
        raise ValueError("cancel the notifications of an incident or of an alert")
    subject = (
        Notification.incident_id == incident_id
        if alert_id is None
        else Notification.alert_id == alert_id
    )
    result = session.execute(
        update(Notification)
        .where(
            subject,
            Notification.status == PENDING,
            Notification.reason.in_(reasons),
        )
        .values(status=CANCELLED, last_error="cancelled: acknowledged")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_ready(
    session: Session, *, now: datetime, owner: str, limit: int = 50, lease: timedelta = LEASE
) -> list[Notification]:
    """Claim due notifications (and ones whose sender died mid-send) for `owner`."""
    query = (
        select(Notification)
        .where(
            or_(
                and_(Notification.status == PENDING, Notification.next_attempt_at <= now),
                and_(Notification.status == SENDING, Notification.lease_until < now),
            )
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        row.status = SENDING
        row.lease_owner = owner
        row.lease_until = now + lease
        row.attempts += 1
        session.add(
            DeliveryAttempt(
                notification_id=row.id, attempt=row.attempts, worker=owner, started_at=now
            )
        )
    return rows


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """10 s, 20 s, 40 s … capped at 15 minutes; a provider's Retry-After wins when longer."""
    delay = min(10 * 2 ** max(attempt - 1, 0), 900)
    if retry_after is not None:
        delay = max(delay, int(retry_after))
    return timedelta(seconds=delay)


def _finish_attempt(
    session: Session,
    *,
    notification_id: int,
    attempt: int,
    now: datetime,
    outcome: str,
    **fields: Any,
) -> None:
    session.execute(
        update(DeliveryAttempt)
        .where(
            DeliveryAttempt.notification_id == notification_id, DeliveryAttempt.attempt == attempt
        )
        .values(finished_at=now, outcome=outcome, **fields)
    )


def record_sent(
    session: Session,
    *,
    notification_id: int,
    owner: str,
    attempt: int,
    provider_id: str | None,
    now: datetime,
) -> bool:
    result = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.lease_owner == owner,
            Notification.status == SENDING,
        )
        .values(
            status=SENT, sent_at=now, provider_id=provider_id, lease_until=None, last_error=None
        )
    )
    _finish_attempt(
        session,
        notification_id=notification_id,
        attempt=attempt,
        now=now,
        outcome="sent",
        provider_id=provider_id,
    )
    return bool(getattr(result, "rowcount", 0))


def record_temporary_failure(
    session: Session,
    *,
    notification_id: int,
    owner: str,
    attempt: int,
    error: str,
    retry_after: float | None,
    now: datetime,
) -> bool:
    """Schedule a retry; return False when the attempts are used up (the caller falls back)."""
    _finish_attempt(
        session,
        notification_id=notification_id,
        attempt=attempt,
        now=now,
        outcome="temporary_failure",
        error=error,
    )
    if attempt >= MAX_ATTEMPTS:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.lease_owner == owner)
            .values(
                status=FAILED,
                last_error=f"gave up after {attempt} attempts: {error}",
                lease_until=None,
            )
        )
        return False
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.lease_owner == owner)
        .values(
            status=PENDING,
            next_attempt_at=now + backoff(attempt, retry_after),
            last_error=error,
            lease_until=None,
        )
    )
    return True


def record_permanent_failure(
    session: Session, *, notification_id: int, owner: str, attempt: int, error: str, now: datetime
) -> None:
    _finish_attempt(
        session,
        notification_id=notification_id,
        attempt=attempt,
        now=now,
        outcome="permanent_failure",
        error=error,
    )
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.lease_owner == owner)
        .values(status=FAILED, last_error=error, lease_until=None)
    )


def record_throttled(
    session: Session, *, notification_id: int, owner: str, attempt: int, now: datetime
) -> None:
    _finish_attempt(
        session, notification_id=notification_id, attempt=attempt, now=now, outcome="throttled"
    )
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.lease_owner == owner)
        .values(status=THROTTLED, last_error="throttled", lease_until=None)
    )


def sent_recently(session: Session, *, recipient: str, channel: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.recipient == recipient,
            Notification.channel == channel,
            Notification.status == SENT,
            Notification.sent_at >= since,
        )
    )
    return int(count or 0)


def next_ready(session: Session) -> datetime | None:
    return session.scalar(
        select(Notification.next_attempt_at)
        .where(Notification.status == PENDING)
        .order_by(Notification.next_attempt_at)
        .limit(1)
    )
