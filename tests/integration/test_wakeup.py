"""Engines are woken once per committed transaction that asks for it (PostgreSQL)."""

from __future__ import annotations

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from warroom.db import Database
from warroom.engine.wakeup import CHANNEL, notify


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
