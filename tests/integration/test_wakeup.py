"""Engines are woken once per committed transaction that asks for it (PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from warroom.alerts.logic import Action, AlertEvent
from warroom.alerts.pg_ingest import PgBatchApplier
from warroom.alerts.service import Outcome, Source
from warroom.chat import service as chat
from warroom.db import Database
from warroom.engine import outbox, timers, wakeup
from warroom.engine.outbox import NewNotification
from warroom.engine.wakeup import ALERTS, CHANNEL, WORK, Listener, Wakeups, notify
from warroom.escalation.bookkeeping import once
from warroom.heartbeats import service as heartbeats
from warroom.integrations.models import Integration


def _received(conn: psycopg.Connection[object]) -> int:
    return sum(1 for _ in conn.notifies(timeout=0.5, stop_after=10))


def test_a_transaction_wakes_engines_once_and_a_rolled_back_savepoint_not_at_all(
    pg_database: str,
) -> None:
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        statements: list[str] = []
        with db.unit_of_work() as uow:
            conn = uow.session.connection()
            conn.exec_driver_sql("SELECT 1")

            def count(*args: object) -> None:
                statements.append(str(args[2]))

            event.listen(conn, "before_cursor_execute", count)
            for _ in range(50):
                notify(uow.session)
            uow.commit()
        assert sum(s.startswith("NOTIFY") for s in statements) == 1
        assert _received(listener) == 1

        # The flag does not outlive its transaction: the next one notifies again.
        with db.unit_of_work() as uow:
            notify(uow.session)
            uow.commit()
        assert _received(listener) == 1

        # A savepoint that rolls back takes its NOTIFY along; a later notify() sends again.
        with db.unit_of_work() as uow:
            savepoint = uow.session.begin_nested()
            notify(uow.session)
            savepoint.rollback()
            uow.session.execute(text("SELECT 1"))
            notify(uow.session)
            uow.commit()
        assert _received(listener) == 1

        # Nothing committed, nothing sent.
        with db.unit_of_work() as uow:
            notify(uow.session)
            uow.rollback()
        assert _received(listener) == 0
    db.dispose()


class _CountingWakeups(Wakeups):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self, kind: str = WORK) -> None:
        self.sets += 1
        super().set(kind)


def test_the_listener_folds_a_burst_of_notifications_into_few_wake_ups(
    pg_database: str,
) -> None:
    """A storm sends a NOTIFY per ingest batch: the listener wakes the engine for the
    burst, a few times, not once per notification, and the last one is never lost."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    woken = _CountingWakeups()
    listener = Listener(db.url, woken)
    listener.start()
    try:
        with psycopg.connect(dsn, autocommit=True) as sender:
            time.sleep(0.5)  # the listener has connected and LISTENs
            for _ in range(200):
                sender.execute(f"NOTIFY {CHANNEL}")  # each its own transaction
            deadline = time.monotonic() + 5
            while woken.sets == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            assert 1 <= woken.sets <= 40, woken.sets
            # Woken again by the next one, whenever it comes.
            woken.take()
            sender.execute(f"NOTIFY {CHANNEL}")
            assert woken.wait(5)
    finally:
        listener.stop()
        db.dispose()


def _listening(db: Database, wakeups: Wakeups, dsn: str) -> Listener:
    """A started listener, once it has heard a notification from outside this process's
    sessions (a plain connection nobody noted), with that wake-up taken."""
    listener = Listener(db.url, wakeups)
    listener.start()
    with psycopg.connect(dsn, autocommit=True) as outsider:
        deadline = time.monotonic() + 10
        while not wakeups.wait(0.2):
            assert time.monotonic() < deadline, "the listener never connected"
            outsider.execute(f"NOTIFY {CHANNEL}")
    time.sleep(0.5)  # any probe still on its way has arrived
    wakeups.take()
    return listener


def test_a_notification_names_its_kind_and_the_listener_wakes_for_it(pg_database: str) -> None:
    """Ingest notifies ALERTS (routing only); anything else, and a notification from a
    sender that names no kind, is WORK (every job)."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        # What notify() sends, read by a plain LISTEN, and the commit's own local wake-up.
        with psycopg.connect(dsn, autocommit=True) as listening:
            listening.execute(f"LISTEN {CHANNEL}")
            for sent, payloads in (
                ([ALERTS], {ALERTS}),
                ([WORK], {""}),
                ([ALERTS, WORK], {ALERTS, ""}),
            ):
                local = Wakeups()
                with db.unit_of_work() as uow:
                    for kind in sent:
                        notify(uow.session, kind)
                    uow.commit()
                assert local.take() == set(sent)
                notes = listening.notifies(timeout=5, stop_after=len(payloads))
                assert {n.payload for n in notes} == payloads

        # The listener maps payloads to kinds: only names it knows; the rest is WORK.
        wakeups = Wakeups()
        listener = _listening(db, wakeups, dsn)
        try:
            with psycopg.connect(dsn, autocommit=True) as sender:
                for payload, kind in (("alerts", ALERTS), ("", WORK), ("something new", WORK)):
                    wakeups.take()
                    sender.execute(f"NOTIFY {CHANNEL}, '{payload}'")
                    assert wakeups.wait(5)
                    time.sleep(0.05)
                    assert wakeups.take() == {kind}
        finally:
            listener.stop()
    finally:
        db.dispose()


def test_a_commit_that_notified_wakes_the_engines_of_this_process(db: Database) -> None:
    """On SQLite there is no NOTIFY at all: the commit wakes this process's engines."""
    wakeups = Wakeups()
    with db.unit_of_work() as uow:
        notify(uow.session, ALERTS)
        assert not wakeups.is_set()  # not before it commits
        uow.commit()
    assert wakeups.take() == {ALERTS}
    with db.unit_of_work() as uow:
        notify(uow.session)
        uow.rollback()
    assert not wakeups.is_set()


def test_queued_work_wakes_the_jobs_that_send_it(db: Database) -> None:
    """A notification or a chat action written anywhere (a declaration, a status update)
    wakes the deliveries and chat jobs at its commit, not at their next poll."""
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    wakeups = Wakeups()
    item = NewNotification(
        idempotency_key="wake-test",
        channel="email",
        address="ops@example.com",
        reason="update",
        subject="s",
        body="b",
        due_at=now,
    )
    with db.unit_of_work() as uow:
        assert outbox.enqueue(uow.session, item, now=now) is not None
        uow.commit()
    assert wakeups.take() == {WORK}
    with db.unit_of_work() as uow:
        assert outbox.enqueue(uow.session, item, now=now) is None  # already queued
        uow.commit()
    assert not wakeups.is_set()
    with db.unit_of_work() as uow:
        assert chat.queue(uow.session, key="wake-test", kind="post", now=now)
        uow.commit()
    assert wakeups.take() == {WORK}


def test_a_timer_due_when_written_wakes_the_timers_job(db: Database) -> None:
    """Not a timer due later, nor a once-marker (written done): those are no work now."""
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    wakeups = Wakeups()
    with db.unit_of_work() as uow:
        timers.schedule(
            uow.session, kind="k", key="later", due_at=now + timedelta(hours=1), now=now
        )
        once(uow.session, "marker", now=now)
        uow.commit()
    assert not wakeups.is_set()
    with db.unit_of_work() as uow:
        timers.schedule(uow.session, kind="k", key="due", due_at=now, now=now)
        uow.commit()
    assert wakeups.take() == {WORK}
    with db.unit_of_work() as uow:
        timers.schedule_many(uow.session, [{"kind": "k", "key": "many", "due_at": now}], now=now)
        uow.commit()
    assert wakeups.take() == {WORK}


def test_the_listener_passes_over_what_this_process_sent(pg_database: str) -> None:
    """A commit of this process that notified woke its engines at once; the listener does
    not wake them again when the same notification comes back. One from any other
    session still wakes them."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    wakeups = Wakeups()
    listener = _listening(db, wakeups, dsn)
    try:
        for kind in (ALERTS, WORK):
            with db.unit_of_work() as uow:
                notify(uow.session, kind)
                uow.commit()
            assert wakeups.take() == {kind}  # the commit's own wake-up, at once
            time.sleep(0.5)  # the notification has come back to the listener meanwhile
            assert not wakeups.is_set()

        with psycopg.connect(dsn, autocommit=True) as outsider:
            outsider.execute(f"NOTIFY {CHANNEL}, 'alerts'")
            assert wakeups.wait(5)
            time.sleep(0.05)
            assert wakeups.take() == {ALERTS}

        # A pooled session that has closed is this process's no more.
        with db.engine.connect() as conn:
            pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        assert pid in wakeup._OWN
        db.dispose()
        assert pid not in wakeup._OWN
    finally:
        listener.stop()
        db.dispose()


def test_the_ingest_writers_notifications_are_this_processs_own(pg_database: str) -> None:
    """The batch writer's own connection notifies ALERTS with each batch; its caller wakes
    this process's engines (`on_commit`), so the listener passes over it too."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with db.unit_of_work() as uow:
        uow.session.add(
            Integration(
                name="pd", type="pagerduty", service="payments", key="p" * 32, settings={},
                created_at=datetime(2024, 3, 1, tzinfo=UTC),
            )
        )  # fmt: skip
        uow.commit()
        source = Source(uow.session.scalars(select(Integration.id)).one(), "payments")
    wakeups = Wakeups()
    listener = _listening(db, wakeups, dsn)
    applier = PgBatchApplier(db.url)
    try:
        with psycopg.connect(dsn, autocommit=True) as spy:
            spy.execute(f"LISTEN {CHANNEL}")
            event = AlertEvent(action=Action.TRIGGER, dedup_key="k1", summary="disk full")
            done = asyncio.run(applier.apply([(source, event)], datetime.now(UTC)))
            assert done is not None and done[0].outcome is Outcome.CREATED
            notes = list(spy.notifies(timeout=5, stop_after=1))
            assert [n.payload for n in notes] == [ALERTS]
        time.sleep(0.5)
        assert not wakeups.is_set()
        writer = notes[0].pid
        assert writer in wakeup._OWN
        asyncio.run(applier.close())
        assert writer not in wakeup._OWN  # its backend is gone; the pid may be another's
    finally:
        asyncio.run(applier.close())
        listener.stop()
        db.dispose()


def test_alerts_stored_outside_the_ingest_writer_wake_other_processes(pg_database: str) -> None:
    """A missed heartbeat's alert and a check-in's resolution (as a report or a drill's
    alert) are left for routing: their commits notify ALERTS, so an engine in another
    process (`serve --engine-process`, `warroom engine`) routes them at once, not at its
    next poll. What leaves nothing to route (a repeated occurrence, a check-in with no
    alert open) notifies nothing."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    start = datetime(2024, 3, 15, 9, 0, tzinfo=UTC)
    try:
        with db.unit_of_work() as uow:
            integration = Integration(
                name="nightly", type="heartbeat", service="database", key="h" * 32,
                settings={"interval": "5m", "grace": "1m"}, created_at=start,
            )  # fmt: skip
            uow.session.add(integration)
            uow.session.flush()
            heartbeats.register(uow.session, integration=integration, now=start)
            uow.commit()
        with psycopg.connect(dsn, autocommit=True) as spy:
            spy.execute(f"LISTEN {CHANNEL}")

            def committed(step: Callable[[Session], object]) -> list[str]:
                with db.unit_of_work() as uow:
                    step(uow.session)
                    uow.commit()
                return [n.payload for n in spy.notifies(timeout=0.5, stop_after=1)]

            late = start + timedelta(minutes=7)
            assert committed(lambda s: heartbeats.raise_missed(s, now=late)) == [ALERTS]
            again = late + timedelta(minutes=10)
            assert committed(lambda s: heartbeats.raise_missed(s, now=again)) == []
            assert committed(lambda s: heartbeats.check_in(s, key="h" * 32, now=again)) == [ALERTS]
            assert committed(lambda s: heartbeats.check_in(s, key="h" * 32, now=again)) == []
    finally:
        db.dispose()


def test_a_released_savepoint_wakes_nobody_before_its_transaction_commits(db: Database) -> None:
    """SQLAlchemy reports a savepoint's release as a commit; the engines of this process are
    woken at the transaction's own commit, when what they are woken for can be read."""
    wakeups = Wakeups()
    with db.unit_of_work() as uow:
        with uow.session.begin_nested():
            notify(uow.session, ALERTS)
        assert not wakeups.is_set()
        uow.session.execute(text("SELECT 1"))
        assert not wakeups.is_set()
        uow.commit()
    assert wakeups.take() == {ALERTS}


def test_a_rolled_back_savepoint_forgets_only_its_own_notifications(db: Database) -> None:
    wakeups = Wakeups()
    with db.unit_of_work() as uow:
        notify(uow.session)  # the transaction's own: it stands
        outer = uow.session.begin_nested()
        with uow.session.begin_nested():
            notify(uow.session, ALERTS)  # released into `outer`, which rolls back
        outer.rollback()
        uow.commit()
    assert wakeups.take() == {WORK}

    with db.unit_of_work() as uow:
        savepoint = uow.session.begin_nested()
        notify(uow.session, ALERTS)
        savepoint.rollback()
        notify(uow.session, ALERTS)  # sent again: the first went with its savepoint
        uow.commit()
    assert wakeups.take() == {ALERTS}


def test_a_notification_before_a_rolled_back_savepoint_is_not_sent_twice(
    pg_database: str,
) -> None:
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn, autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            statements: list[str] = []
            with db.unit_of_work() as uow:
                conn = uow.session.connection()
                event.listen(conn, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
                notify(uow.session)
                savepoint = uow.session.begin_nested()
                notify(uow.session)  # already sent by the transaction: nothing more
                savepoint.rollback()
                notify(uow.session)
                uow.commit()
            assert sum(s.startswith("NOTIFY") for s in statements) == 1
            assert _received(listener) == 1
    finally:
        db.dispose()
