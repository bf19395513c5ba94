"""Rows written in bulk (`warroom.bulk`) are the rows, ids and audit entries the ORM and
one-row inserts would have written, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import StatementError

import warroom.security.audit  # noqa: F401  (its listeners: timeline notes are audited)
from tests.integration.batch_twins import wipe
from warroom import bulk
from warroom.db import Database
from warroom.engine import timers
from warroom.engine.models import Timer
from warroom.escalation import bookkeeping
from warroom.incidents.models import Incident
from warroom.security.models import AuditEntry
from warroom.timeline.logic import EventType
from warroom.timeline.models import TimelineEvent

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _incident(db: Database) -> int:
    with db.unit_of_work() as uow:
        incident = Incident(
            title="bulk", severity="SEV1", status="investigating", declared_at=T0, updated_at=T0
        )
        uow.session.add(incident)
        uow.commit()
        return incident.id


def test_timer_rows_skip_taken_keys_and_say_which_were_written(db: Database) -> None:
    incident_id = _incident(db)
    with db.unit_of_work() as uow:
        timers.schedule(uow.session, kind="k", key="taken", due_at=T0, now=T0)
        rows = [
            {"kind": "k", "key": key, "due_at": T0 + timedelta(minutes=n), "now": T0}
            for n, key in enumerate(["a", "taken", "b", "a", 'o\'brien "quoted" ünï'])
        ]
        wrote = timers.schedule_many(
            uow.session,
            [{**r, "payload": {"n": n, "at": "x"}, "incident_id": incident_id} for n, r in
             enumerate(rows)],
            now=T0,
        )  # fmt: skip
        uow.commit()
    assert wrote == [True, False, True, False, True]
    with db.unit_of_work() as uow:
        got = {
            t.key: (t.due_at, t.payload, t.incident_id, t.status)
            for t in uow.session.scalars(select(Timer))
        }
    assert got["a"] == (T0, {"n": 0, "at": "x"}, incident_id, timers.PENDING)
    assert got["b"] == (T0 + timedelta(minutes=2), {"n": 2, "at": "x"}, incident_id, "pending")
    assert got['o\'brien "quoted" ünï'][0] == T0 + timedelta(minutes=4)
    assert got["taken"][2] is None  # the first one stays


def test_a_naive_time_is_refused(db: Database) -> None:
    table: Table = Timer.__table__  # type: ignore[assignment]
    with db.unit_of_work() as uow, pytest.raises((ValueError, StatementError), match="naive"):
        row = {"kind": "k", "key": "n", "due_at": datetime(2024, 1, 1), "payload": {}}
        bulk.insert_rows(uow.session, table, [{**row, "status": "pending", "attempts": 0,
                                               "created_at": T0}])  # fmt: skip


def _audit(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    with db.unit_of_work() as uow:
        return [
            (e.action, e.target, e.details)
            for e in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            if e.action.startswith("timeline_events")
        ]


def _timeline(db: Database) -> list[tuple[object, ...]]:
    with db.unit_of_work() as uow:
        return [
            (e.id, e.incident_id, e.timestamp, e.type, e.source, e.description, e.actor,
             e.details, e.recorded_at)
            for e in uow.session.scalars(select(TimelineEvent).order_by(TimelineEvent.id))
        ]  # fmt: skip


def test_notes_in_bulk_are_the_notes_and_audit_entries_of_one_by_one(db: Database) -> None:
    """The same notes through `note` (ORM, one by one) and `note_many` (bulk): the same
    timeline rows with the same ids, and the same audit entries."""
    notes = [
        ("n1", "first", EventType.NOTE, T0 - timedelta(minutes=5), {"since": T0.isoformat()}),
        ("n2", "second; reminded jane", EventType.ESCALATION, None, None),
        ("n1", "a repeat: not written", EventType.NOTE, None, None),
        ("n3", "third ünïcode 'q'", EventType.NOTE, T0, {"reminded": None, "k": [1, 2]}),
    ]
    results = []
    for many in (False, True):
        wipe(db)
        _incident(db)
        with db.unit_of_work() as uow:
            incident = uow.session.scalars(select(Incident)).one()
            items = [
                bookkeeping.Note(incident=incident, key=k, description=d, type=t, timestamp=ts,
                                 details=det)
                for k, d, t, ts, det in notes
            ]  # fmt: skip
            if many:
                wrote = bookkeeping.note_many(uow.session, items, now=T0)
            else:
                wrote = [
                    bookkeeping.note(uow.session, n.incident, key=n.key, description=n.description,
                                     now=T0, type=n.type, timestamp=n.timestamp, details=n.details)
                    for n in items
                ]  # fmt: skip
            uow.commit()
        assert wrote == [True, True, False, True]
        timeline, audit = _timeline(db), _audit(db)
        first = timeline[0][0]
        relative_audit = []
        for action, target, details in audit:
            table, row_id = target.rsplit(":", 1)
            fields = dict(details["fields"])  # type: ignore[call-overload]
            fields["id"] -= first  # the row's id, as the first note's id may differ
            relative_audit.append((action, table, int(row_id) - first, fields))
        results.append(([(row[0] - first, *row[1:]) for row in timeline], relative_audit))
    (timeline_one, audit_one), (timeline_bulk, audit_bulk) = results
    assert len(timeline_one) == 3 and len(audit_one) == 3
    assert timeline_bulk == timeline_one
    assert audit_bulk == audit_one
    assert audit_one[2][3]["description"] == "third ünïcode 'q'"
