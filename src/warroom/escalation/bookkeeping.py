"""Escalation's bookkeeping: timer kinds, once-markers, paging generations, timeline notes.

A once-marker is a finished timer row of kind `once`: the timers' unique key turns "only
once" into one INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from warroom import bulk
from warroom.config.schema import WarroomConfig
from warroom.engine import timers
from warroom.engine.models import Timer
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.timeline.logic import EventSource, EventType
from warroom.timeline.models import TimelineEvent

log = logging.getLogger("warroom.escalation")

ESCALATE, ACK_TIMEOUT, MATRIX, ONCE = "escalate", "ack_timeout", "matrix", "once"
#: Every kind escalation schedules (resolving an incident cancels them all).
KINDS = (ESCALATE, ACK_TIMEOUT, MATRIX)
ACTOR = "warroom"
FINISHED = ("resolved", "closed")


def config_of(session: Session) -> WarroomConfig:
    config: WarroomConfig = session.info["config"]
    return config


def is_open(incident: Incident) -> bool:
    return incident.status not in FINISHED


def _fit(key: str) -> str:
    """Keys are at most 255 characters; a longer one keeps its start and a digest."""
    if len(key) <= 200:
        return key
    return key[:150] + ":" + hashlib.sha256(key.encode()).hexdigest()[:32]


def once(session: Session, key: str, *, now: datetime, incident_id: int | None = None) -> bool:
    """Record that `key` happened; True only the first time (see the module docstring)."""
    values = {
        "kind": ONCE,
        "key": _fit(key),
        "due_at": now,
        "payload": {},
        "status": timers.DONE,
        "incident_id": incident_id,
        "attempts": 0,
        "created_at": now,
        "finished_at": now,
    }
    return timers.insert_timer_row(session, values)


def once_many(
    session: Session, items: list[tuple[str, int | None]], *, now: datetime
) -> list[bool]:
    """`once` for many (key, incident id) pairs in one statement, with the same answers
    as calling it on each in turn."""
    return timers.insert_timer_rows(
        session,
        [
            {
                "kind": ONCE,
                "key": _fit(key),
                "due_at": now,
                "payload": {},
                "status": timers.DONE,
                "incident_id": incident_id,
                "attempts": 0,
                "created_at": now,
                "finished_at": now,
            }
            for key, incident_id in items
        ],
    )


def marked(session: Session, key: str, *, incident_id: int | None = None) -> bool:
    """Whether `key` was recorded (`once`). With `incident_id`, the incident the marker
    was recorded for: an incident this transaction created is answered from memory."""
    rows = timers.ledger(session, incident_id)
    if rows is not None:
        return _fit(key) in rows
    return session.scalar(select(Timer.id).where(Timer.key == _fit(key))) is not None


def generation(session: Session, incident_id: int, prefix: str) -> int:
    """A number not yet used in keys starting with `prefix` (timers that were cancelled
    keep their keys, so a re-armed timer needs a new one)."""
    rows = timers.ledger(session, incident_id)
    if rows is not None:
        return sum(1 for key in rows if key.startswith(prefix))
    count = session.scalar(
        select(func.count())
        .select_from(Timer)
        .where(Timer.incident_id == incident_id, Timer.key.startswith(prefix, autoescape=True))
    )
    return int(count or 0)


def has_pending(session: Session, incident_id: int, kind: str, prefix: str | None = None) -> bool:
    rows = timers.ledger(session, incident_id)
    if rows is not None:
        return any(
            k == kind and status == timers.PENDING and (prefix is None or key.startswith(prefix))
            for key, (k, status) in rows.items()
        )
    query = select(Timer.id).where(
        Timer.incident_id == incident_id, Timer.kind == kind, Timer.status == timers.PENDING
    )
    if prefix is not None:
        query = query.where(Timer.key.startswith(prefix, autoescape=True))
    return session.scalar(query.limit(1)) is not None


def note(
    session: Session,
    incident: Incident,
    *,
    key: str,
    description: str,
    now: datetime,
    type: EventType = EventType.ESCALATION,
    timestamp: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Write an automation timeline event once per `key`; return whether it was written."""
    if not once(session, f"tl:{key}", now=now, incident_id=incident.id):
        return False
    incidents.record(
        session,
        incident=incident,
        type=type,
        description=description,
        now=now,
        actor=ACTOR,
        source=EventSource.AUTOMATION,
        timestamp=timestamp,
        details=details,
    )
    return True


@dataclass(frozen=True)
class Note:
    """One timeline note for `note_many`."""

    incident: Incident
    key: str
    description: str
    type: EventType = EventType.ESCALATION
    timestamp: datetime | None = None
    details: dict[str, Any] | None = None


def note_many(session: Session, notes: list[Note], *, now: datetime) -> list[bool]:
    """`note` for many notes: their once-markers in one statement, then the notes that
    were new in another (`warroom.bulk`, told to the audit log as the ORM's would be)."""
    wrote = once_many(session, [(f"tl:{n.key}", n.incident.id) for n in notes], now=now)
    rows = [
        {
            "incident_id": item.incident.id,
            "timestamp": item.timestamp or now,
            "type": str(item.type),
            "source": str(EventSource.AUTOMATION),
            "description": item.description,
            "actor": ACTOR,
            "details": item.details or {},
            "recorded_at": now,
        }
        for item, written in zip(notes, wrote, strict=True)
        if written
    ]
    if rows:
        session.flush()  # timeline events added before these keep their order of ids
        table: Table = TimelineEvent.__table__  # type: ignore[assignment]
        ids = sorted(bulk.insert_rows(session, table, rows, returning=("id",)))
        # Inserted in the order given (see `warroom.bulk`): the n-th id is the n-th row's.
        bulk.told_inserted(
            session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)]
        )
    return wrote


def role_holder(incident: Incident, role: str) -> str | None:
    return next((r.user for r in incident.roles if r.role == role), None)


def iso_time(value: datetime) -> str:
    return value.isoformat()


def parse_time(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return default
        return parsed
    return default
