"""A transaction that declares an incident answers the incident's timer questions from
what it wrote itself (`engine/timers.py`, `ledger`), with the answers the database gives.

Twins: the same declarations and changes in one transaction each — SLA clocks, update
reminders, staffing, escalation, the escalation matrix (time and impact rules), re-armed by
a severity change, stopped by an acknowledgement and a resolution — once with the ledger
and once with every question put to the database. Every timer row must come out the same.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from warroom import events
from warroom.auth.logic import SYSTEM
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine import timers
from warroom.engine.models import Timer
from warroom.escalation import bookkeeping
from warroom.incidents import service as incidents
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.settings import Settings

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _context(db: Database, config: WarroomConfig) -> AppContext:
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    return AppContext(settings=settings, db=db, config=config, clock=FakeClock(T0))


def _declare(session: Session, config: WarroomConfig, **fields: Any) -> Incident:
    data = IncidentCreate(title="checkout down", **fields)
    return incidents.declare(session, config=config, data=data, actor=SYSTEM, now=T0)


def _scenario(db: Database, config: WarroomConfig) -> None:
    with db.unit_of_work() as uow:
        session = uow.session
        first = _declare(session, config, severity="SEV1", services=["payment-service"])
        events.dispatch(session)  # the subscribers, as a commit runs them
        incidents.change_severity(
            session, config=config, incident=first, severity="SEV2", reason="smaller",
            actor=SYSTEM, now=T0 + timedelta(seconds=5),
        )  # fmt: skip
        events.dispatch(session)
        incidents.change_severity(
            session, config=config, incident=first, severity="SEV1", reason="worse again",
            actor=SYSTEM, now=T0 + timedelta(seconds=8),
        )  # fmt: skip
        events.dispatch(session)
        incidents.acknowledge(session, incident=first, actor=SYSTEM, now=T0 + timedelta(seconds=9))
        second = _declare(
            session,
            config,
            severity="SEV1",
            services=["auth-service"],
            impact={"customer_data_exposed": True, "third_party_failure": True},
        )
        events.dispatch(session)
        incidents.update_impact(
            session, incident=second, impact={"revenue_loss": 90_000}, actor=SYSTEM,
            now=T0 + timedelta(seconds=10),
        )  # fmt: skip
        events.dispatch(session)
        incidents.change_status(
            session, incident=second, status=Status.RESOLVED, message=None, public=False,
            actor=SYSTEM, now=T0 + timedelta(seconds=12),
        )  # fmt: skip
        uow.commit()


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.unit_of_work(read_only=True) as uow:
        return [
            (t.incident_id, t.kind, t.key, t.due_at, t.status, t.payload, t.finished_at)
            for t in uow.session.scalars(select(Timer).order_by(Timer.key))
        ]


def _wipe(db: Database) -> None:
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("TRUNCATE timers, incidents RESTART IDENTITY CASCADE"))
        else:
            for table in ("timers", "timeline_events", "incident_roles", "incident_services",
                          "incident_participants", "notifications", "incidents"):  # fmt: skip
                conn.execute(text(f"DELETE FROM {table}"))  # ids start again at 1


def _timer_questions(db: Database) -> Callable[[], int]:
    """Count the statements that ask about or cancel timers (not those that write them)."""
    seen = [0]

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split()).upper()
        if (words.startswith("SELECT") and "FROM TIMERS" in words) or words.startswith(
            "UPDATE TIMERS"
        ):
            seen[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    return lambda: seen[0]


def test_the_ledger_answers_as_the_database_does(
    db: Database, config: WarroomConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _context(db, config)  # binds the configuration the subscribers read
    asked = _timer_questions(db)
    _scenario(db, config)
    with_ledger, questions = _rows(db), asked()
    _wipe(db)

    monkeypatch.setattr(events, "declared_here", lambda *_: False)
    before = asked()
    _scenario(db, config)
    without, questions_without = _rows(db), asked() - before

    assert with_ledger == without
    kinds = {row[1] for row in with_ledger}
    # The scenario reaches every kind a declaration arms, and cancels some of them.
    assert {"sla_warning", "sla_breach", "update_due", "escalate", "matrix"} <= kinds
    assert any(row[4] == timers.CANCELLED for row in with_ledger)
    assert questions < questions_without / 2, (questions, questions_without)


def test_a_declaration_asks_the_database_nothing_about_its_timers(
    db: Database, config: WarroomConfig
) -> None:
    _context(db, config)
    asked = _timer_questions(db)
    reloads = [0]

    def reload(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        reloads[0] += words.startswith("SELECT incidents.id") and "FROM incidents" in words

    with db.unit_of_work() as uow:
        _declare(uow.session, config, severity="SEV1", services=["payment-service"])
        gc.collect()  # nothing but the session holds the new incident now
        event.listen(db.engine, "before_cursor_execute", reload)
        events.dispatch(uow.session)
        event.remove(db.engine, "before_cursor_execute", reload)
        assert asked() == 0
        # Each subscriber finds the incident in the session (it loaded it again before).
        assert reloads[0] == 0
        uow.commit()


def test_a_rolled_back_savepoint_sends_the_questions_to_the_database(
    db: Database, config: WarroomConfig
) -> None:
    _context(db, config)
    with db.unit_of_work() as uow:
        session = uow.session
        incident = _declare(session, config, severity="SEV3", services=["payment-service"])
        prefix = f"probe:{incident.id}:"
        timers.schedule(
            session, kind="probe", key=f"{prefix}0", due_at=T0, now=T0, incident_id=incident.id
        )
        with session.begin_nested() as savepoint:
            timers.schedule(
                session, kind="probe", key=f"{prefix}1", due_at=T0, now=T0,
                incident_id=incident.id,
            )  # fmt: skip
            assert bookkeeping.generation(session, incident.id, prefix) == 2
            savepoint.rollback()
        # The second row is gone; a ledger that kept it would say 2.
        assert timers.ledger(session, incident.id) is None
        assert bookkeeping.generation(session, incident.id, prefix) == 1
        assert bookkeeping.has_pending(session, incident.id, "probe", f"{prefix}1") is False
        assert timers.cancel(session, now=T0, incident_id=incident.id, kinds=("probe",)) == 1
        uow.commit()
    with db.unit_of_work() as uow:
        # Committed, the incident's timers can come from anywhere: the database answers.
        assert timers.ledger(uow.session, incident.id) is None
