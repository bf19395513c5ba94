"""Engines are woken once per committed transaction that asks for it (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from warroom.db import Database
from warroom.engine.wakeup import CHANNEL, Listener, notify


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


class _CountingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


def test_the_listener_folds_a_burst_of_notifications_into_few_wake_ups(
    pg_database: str,
) -> None:
    """A storm sends a NOTIFY per ingest batch: the listener wakes the engine for the
    burst, a few times, not once per notification, and the last one is never lost."""
    db = Database(pg_database)
    dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    woken = _CountingEvent()
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
            woken.clear()
            sender.execute(f"NOTIFY {CHANNEL}")
            assert woken.wait(5)
    finally:
        listener.stop()
        db.dispose()
