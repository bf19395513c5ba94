"""Durable timers: schedule, cancel, claim what is due.

Claiming takes a lease: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL so that several
engines never take the same row, then `lease_owner/lease_until` are written and committed.
A timer whose lease ran out (its engine died mid-handler) is due again. Handlers must be
idempotent per timer: they run at least once, and their effects (notifications, timeline
events) carry keys that make a second run a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from warroom.db import insert_ignoring_conflict
from warroom.engine.models import Timer

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"
DEFAULT_LEASE = timedelta(seconds=60)


def schedule(
    session: Session,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
    incident_id: int | None = None,
) -> bool:
    """Schedule a timer unless one with this key exists; return whether it was created."""
    values = {
        "kind": kind,
        "key": key,
        "due_at": due_at,
        "payload": payload or {},
        "status": PENDING,
        "incident_id": incident_id,
        "attempts": 0,
        "created_at": now,
    }
    stmt = insert_ignoring_conflict(session, Timer, values, conflict=["key"])
    return session.execute(stmt).first() is not None


def cancel(
    session: Session,
    *,
    now: datetime,
    incident_id: int | None = None,
    kinds: Sequence[str] = (),
    key_prefix: str | None = None,
) -> int:
    """Cancel pending timers matching every given filter; return how many."""
    conditions = [Timer.status == PENDING]
    if incident_id is not None:
        conditions.append(Timer.incident_id == incident_id)
    if kinds:
        conditions.append(Timer.kind.in_(list(kinds)))
    if key_prefix is not None:
        conditions.append(Timer.key.startswith(key_prefix, autoescape=True))
    result = session.execute(
        update(Timer).where(and_(*conditions)).values(status=CANCELLED, finished_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_due(
    session: Session,
    *,
    now: datetime,
    owner: str,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
) -> list[Timer]:
    """Claim up to `limit` due timers for `owner`; the caller commits to publish the lease."""
    query = (
        select(Timer)
        .where(
            Timer.status == PENDING,
            Timer.due_at <= now,
            or_(Timer.lease_until.is_(None), Timer.lease_until < now),
        )
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    timers = list(session.scalars(query))
    for timer in timers:
        timer.lease_owner = owner
        timer.lease_until = now + lease
        timer.attempts += 1
    return timers


def finish(session: Session, *, timer_id: int, owner: str, now: datetime) -> bool:
    """Mark a claimed timer done, if this owner still holds it (fencing a stale worker)."""
    result = session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.lease_owner == owner, Timer.status == PENDING)
        .values(status=DONE, finished_at=now, lease_until=None)
    )
    return bool(getattr(result, "rowcount", 0))


def finish_many(session: Session, timer_ids: Sequence[int], *, owner: str, now: datetime) -> int:
    """Mark claimed timers done, those this owner still holds; return how many."""
    done = 0
    for start in range(0, len(timer_ids), 500):
        result = session.execute(
            update(Timer)
            .where(
                Timer.id.in_(timer_ids[start : start + 500]),
                Timer.lease_owner == owner,
                Timer.status == PENDING,
            )
            .values(status=DONE, finished_at=now, lease_until=None)
            # The session holds the batch's timers; matching them in Python is needless.
            .execution_options(synchronize_session=False)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


def next_due(session: Session, *, now: datetime) -> datetime | None:
    """When the next timer nobody holds a lease on is due (a timer under a live lease is
    someone's work already: its engine finishes it, or the lease runs out and a poll finds
    it; counting it would make an idle engine spin until then)."""
    return session.scalar(
        select(Timer.due_at)
        .where(
            Timer.status == PENDING,
            or_(Timer.lease_until.is_(None), Timer.lease_until < now),
        )
        .order_by(Timer.due_at)
        .limit(1)
    )
