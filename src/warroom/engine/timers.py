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

from sqlalchemy import Integer, Table, and_, any_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from warroom import bulk, events
from warroom.engine.models import Timer
from warroom.engine.wakeup import notify

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"
DEFAULT_LEASE = timedelta(seconds=60)


def ids_in(
    session: Session, column: InstrumentedAttribute[int] | Any, ids: Sequence[int]
) -> ColumnElement[bool]:
    """`column IN ids`: on PostgreSQL `= ANY(:ids)`, one array parameter, so that the
    statement's text is the same whatever the number of ids (an `IN` list is new text for
    every length, which psycopg parses again each time: most of a batch's cost there)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


_INSERTS: dict[str, Any] = {}

# --- what a transaction wrote for the incidents it declared ------------------------------

_WRITTEN = "timers_written"


def ledger(session: Session, incident_id: int | None) -> dict[str, tuple[str, str]] | None:
    """Every timer of incident `incident_id` as key → (kind, status), when this transaction
    declared the incident (`events.declared_here`); else None: ask the database.

    Until the declaration commits no other transaction can give the incident a timer (the
    foreign key waits for it), and this one writes timers only through this module, which
    notes each row it writes for an incident (in `events.scratch`: forgotten at the end of
    the transaction and at any rollback, a savepoint's too); so the notes are every timer
    the incident has. `cancel` and the bookkeeping questions built on this (`generation`,
    `has_pending`, `marked`) answer from them: a declaration arms SLA clocks, an update
    reminder, staffing, escalation and rules, and each asked first what the incident
    already had — statements that could only answer "nothing". After a claim or a finish
    here (which this module does not note row by row) the database is asked again until
    the transaction ends."""
    if incident_id is None or not events.declared_here(session, incident_id):
        return None
    written: dict[int, dict[str, tuple[str, str]]] | None = events.scratch(session).get(
        _WRITTEN, {}
    )
    if written is None:
        return None
    return written.get(incident_id, {})


def _note_written(session: Session, row: dict[str, Any]) -> None:
    incident_id = row.get("incident_id")
    if incident_id is None:
        return
    written = events.scratch(session).setdefault(_WRITTEN, {})
    if written is not None:
        written.setdefault(incident_id, {})[row["key"]] = (row["kind"], row["status"])


def _untracked(session: Session) -> None:
    events.scratch(session)[_WRITTEN] = None  # until the transaction ends: see `ledger`


def _due_now(row: dict[str, Any]) -> bool:
    # A pending timer due when written is work for the timers job at once; once-markers
    # (written done) and later timers are not.
    return bool(row["status"] == PENDING and row["due_at"] <= row["created_at"])


def insert_timer_row(session: Session, values: dict[str, Any]) -> bool:
    """`INSERT INTO timers … ON CONFLICT (key) DO NOTHING RETURNING id` with `values`;
    return whether the row was written. The statement is built once per dialect and run
    with parameters: building one per call cost more than running it (handlers write
    two or three timer rows each: follow-ups and once-markers)."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS.get(dialect)
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table: Table = Timer.__table__  # type: ignore[assignment]
        stmt = insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
        _INSERTS[dialect] = stmt
    written = session.execute(stmt, values).first() is not None
    if written:
        _note_written(session, values)
    if written and _due_now(values):
        notify(session)  # due now: the timers job runs once this commits, not at its poll
    return written


def insert_timer_rows(session: Session, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Write many timer rows at once (`ON CONFLICT (key) DO NOTHING`); return for each
    whether it was written, as `insert_timer_row` one after another would (a key repeated
    in `rows`: only its first row counts). Every row has the same keys. On PostgreSQL one
    statement of fixed text (`warroom.bulk`), whatever the number of rows."""
    if not rows:
        return []
    table: Table = Timer.__table__  # type: ignore[assignment]
    written = set(bulk.insert_rows(session, table, rows, conflict=("key",), returning=("key",)))
    result: list[bool] = []
    due_now = False
    for row in rows:
        key = row["key"]
        result.append(key in written)
        if key in written:
            _note_written(session, row)
        due_now = due_now or (key in written and _due_now(row))
        written.discard(key)  # a repeat of a key in `rows` was not written
    if due_now:
        notify(session)  # the timers job runs once this commits, not at its poll
    return result


def schedule_many(session: Session, rows: Sequence[dict[str, Any]], *, now: datetime) -> list[bool]:
    """`schedule` for many timers at once: each row has kind, key, due_at and optional
    payload and incident_id. Return for each whether it was created."""
    return insert_timer_rows(
        session,
        [
            {
                "kind": row["kind"],
                "key": row["key"],
                "due_at": row["due_at"],
                "payload": row.get("payload") or {},
                "status": PENDING,
                "incident_id": row.get("incident_id"),
                "attempts": 0,
                "created_at": now,
            }
            for row in rows
        ],
    )


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
    return insert_timer_row(session, values)


def cancel(
    session: Session,
    *,
    now: datetime,
    incident_id: int | None = None,
    kinds: Sequence[str] = (),
    key_prefix: str | None = None,
) -> int:
    """Cancel pending timers matching every given filter; return how many."""
    rows = ledger(session, incident_id)
    if rows is not None:
        hits = [
            key
            for key, (kind, status) in rows.items()
            if status == PENDING
            and (not kinds or kind in kinds)
            and (key_prefix is None or key.startswith(key_prefix))
        ]
        if not hits:
            return 0  # nothing of this incident's is pending: no statement
        for key in hits:
            rows[key] = (rows[key][0], CANCELLED)  # the same dict as the notes
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
    _untracked(session)  # claimed or finished here: a note's status may be stale
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


def claim_due_ids(
    session: Session,
    *,
    now: datetime,
    owner: str,
    limit: int = 100,
    lease: timedelta = DEFAULT_LEASE,
) -> list[tuple[int, str]]:
    """Claim up to `limit` due timers for `owner` in one statement; return their (id, kind)
    in due order. The caller commits to publish the lease.

    `UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING`: one round
    trip whatever the batch, where loading the rows and writing each lease took one
    statement per timer. On PostgreSQL the inner `SKIP LOCKED` makes engines side by side
    take disjoint batches; SQLite has one writer at a time anyway."""
    _untracked(session)  # claimed or finished here: a note's status may be stale
    due = (
        select(Timer.id)
        .where(
            Timer.status == PENDING,
            Timer.due_at <= now,
            or_(Timer.lease_until.is_(None), Timer.lease_until < now),
        )
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(Timer)
        .where(Timer.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease, attempts=Timer.attempts + 1)
        .returning(Timer.id, Timer.kind, Timer.due_at)
        .execution_options(synchronize_session=False)
    ).all()
    # RETURNING gives no order: the subquery's is the one to keep.
    return [(row.id, row.kind) for row in sorted(rows, key=lambda r: (r.due_at, r.id))]


def finish(session: Session, *, timer_id: int, owner: str, now: datetime) -> bool:
    """Mark a claimed timer done, if this owner still holds it (fencing a stale worker)."""
    _untracked(session)  # claimed or finished here: a note's status may be stale
    result = session.execute(
        update(Timer)
        .where(Timer.id == timer_id, Timer.lease_owner == owner, Timer.status == PENDING)
        .values(status=DONE, finished_at=now, lease_until=None)
    )
    return bool(getattr(result, "rowcount", 0))


def finish_many(session: Session, timer_ids: Sequence[int], *, owner: str, now: datetime) -> int:
    """Mark claimed timers done, those this owner still holds; return how many."""
    _untracked(session)  # claimed or finished here: a note's status may be stale
    done = 0
    for start in range(0, len(timer_ids), 500):
        result = session.execute(
            update(Timer)
            .where(
                ids_in(session, Timer.id, timer_ids[start : start + 500]),
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
