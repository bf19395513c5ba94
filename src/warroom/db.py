"""Database plumbing: engines for SQLite and PostgreSQL, the declarative base, the unit of work.

The unit of work is the single commit point (routes, CLI commands and engine jobs open one;
services never commit). Domain events recorded during the unit run after the commit.

A unit of work opened with `read_only=True` is for long reads (metrics, reports, exports).
On SQLite, where every other transaction begins `BEGIN IMMEDIATE` and so holds the single
write lock from its first statement, it begins a plain deferred `BEGIN` under
`PRAGMA query_only`: in WAL mode it reads a snapshot while ingest and the engine go on
writing. On PostgreSQL it is `SET TRANSACTION READ ONLY`. Either way a write is refused: a
flush raises `ReadOnlyViolation` naming what was about to be written, and a statement that
writes fails in the database.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from warroom import jsonbody

log = logging.getLogger("warroom.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which drops tzinfo) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_ignoring_conflict(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    *,
    conflict: list[str],
    where: ColumnElement[bool] | None = None,
) -> Any:
    """`INSERT … ON CONFLICT (conflict) [WHERE where] DO NOTHING RETURNING id` on SQLite
    and PostgreSQL: the one statement every idempotent write here needs."""
    table: Table = model.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=conflict, index_where=where)
        .returning(table.c.id)
    )


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# Every wait on the database (connecting, a pool slot, a statement, a lock) gives up after
# this many seconds by default, so that a database that is down or hung answers 503 in
# seconds (WARROOM_DB_TIMEOUT; docs/robustness.md).
DEFAULT_TIMEOUT = 5.0

#: The execution option (on the engine a read-only unit of work binds) that its transaction
#: begins read-only; the `begin` listeners below read it.
READ_ONLY = "warroom_read_only"


class ReadOnlyViolation(RuntimeError):
    """Code tried to write in a read-only unit of work: a programming error, never input's."""


def _sqlite_begin(conn: Connection) -> None:
    """pysqlite's own transaction handling defers BEGIN; take it over so that a write
    transaction starts with BEGIN IMMEDIATE and never fails half-way on a lock upgrade, and
    a read-only one with a deferred BEGIN that never takes the write lock at all."""
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    info = conn.connection.info
    # query_only lasts for the connection, not the transaction: set and unset it only when
    # the mode changes, so a run of write transactions pays no extra statement.
    if info.get(READ_ONLY, False) != read_only:
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
        info[READ_ONLY] = read_only
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _postgresql_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # JSON columns are read with orjson where it gives exactly the json module's value.
    kwargs.setdefault("json_deserializer", jsonbody.loads_stored)
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": timeout}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        else:
            kwargs.setdefault("pool_timeout", timeout)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        busy_ms = max(1, int(timeout * 1000))
        event.listen(engine, "connect", lambda conn, rec: _sqlite_pragmas(conn, rec, busy_ms))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", timeout)
    statement_ms = max(1, int(timeout * 1000))
    pg_args: dict[str, Any] = {
        # libpq's connect_timeout is whole seconds and at least 2.
        "connect_timeout": max(2, math.ceil(timeout)),
        "options": f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}",
        # A peer that stops acknowledging is dropped instead of waited on for minutes.
        "tcp_user_timeout": statement_ms,
        "keepalives": 1,
        "keepalives_idle": max(1, math.ceil(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        **kwargs.pop("connect_args", {}),
    }
    engine = create_engine(url, connect_args=pg_args, **kwargs)
    event.listen(engine, "begin", _postgresql_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_ms: int = 30000) -> None:
    dbapi_connection.isolation_level = None  # autocommit at the driver; BEGIN is ours
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit reaches the disk before it returns (NORMAL, in WAL mode, may lose the
    # last commits on power loss). A 2xx from an alert source means the alert is stored.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


class UnitOfWork:
    """One transaction. `commit()` commits, then runs the after-commit callbacks."""

    def __init__(self, session: Session, *, read_only: bool = False) -> None:
        self.session = session
        self.read_only = read_only
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def commit(self) -> None:
        self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self._after_commit.clear()
        self.session.rollback()


class Database:
    """An engine and its session factory; `unit_of_work()` opens one transaction."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.timeout = timeout
        self.engine = make_engine(self.url, timeout=timeout, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_only_engine = self.engine.execution_options(**{READ_ONLY: True})
        event.listen(self.sessions, "before_flush", _refuse_read_only_flush)

    def bind_context(self, **info: Any) -> None:
        """Make facts every session's event subscribers need (the configuration, the base
        URL) available as `session.info`."""
        self.sessions.configure(info=info)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        """Yield a unit of work; roll back whatever was not committed when the block ends.

        `read_only` for a long read: it does not hold SQLite's write lock, and it refuses to
        write (module docstring)."""
        if read_only:
            session = self.sessions(bind=self._read_only_engine)
            session.info[READ_ONLY] = True
        else:
            session = self.sessions()
        with session:
            uow = UnitOfWork(session, read_only=read_only)
            try:
                yield uow
            except BaseException:
                uow.rollback()
                raise
            else:
                if session.in_transaction():
                    uow.rollback()

    def ping(self) -> bool:
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """None when a `SELECT 1` answers; else a short reason (never the URL or a secret)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return None
        except Exception as exc:
            return describe_failure(exc)

    def dispose(self) -> None:
        self.engine.dispose()


def _refuse_read_only_flush(session: Session, _context: Any, _instances: Any) -> None:
    if not session.info.get(READ_ONLY):
        return
    pending = [*session.new, *session.dirty, *session.deleted]
    kinds = ", ".join(sorted({type(obj).__name__ for obj in pending}))
    raise ReadOnlyViolation(
        f"a read-only unit of work cannot write ({len(pending)} changed objects: {kinds}); "
        "open Database.unit_of_work() without read_only=True to change data"
    )


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log from a thread of its own.

    SQLite copies the WAL into the database file in the commit that fills it past 1,000
    pages, with two more disk flushes: under a steady write load (alert ingest) every few
    seconds one commit, and every request waiting on it, takes tens to hundreds of
    milliseconds longer. This thread runs a PASSIVE checkpoint (it never blocks a writer)
    every `interval` seconds, so that by the time a commit checkpoints there is little or
    nothing left to copy. Commits keep their own checkpoint as the bound on the WAL's
    size: with none, a WAL under constant writes is never restarted and grows without end.
    """

    WAL_LIMIT = 64 * 1024 * 1024

    def __init__(self, db: Database, interval: float = 0.2) -> None:
        self._db, self._interval = db, interval
        self._path = db.engine.url.database
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    @property
    def applies(self) -> bool:
        return self._db.dialect == "sqlite" and self._path not in (None, "", ":memory:")

    def start(self) -> None:
        if not self.applies:
            return
        event.listen(self._db.engine, "connect", _limit_wal)
        self._db.engine.dispose()  # pooled connections reopen with the limit
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout=30)
        if self.applies and event.contains(self._db.engine, "connect", _limit_wal):
            event.remove(self._db.engine, "connect", _limit_wal)

    def _run(self) -> None:
        assert self._path is not None
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        try:
            while True:
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("SQLite checkpoint failed; trying again", exc_info=True)
                if self._stop.wait(self._interval):
                    break
        finally:
            conn.close()


def _limit_wal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA journal_size_limit={WalCheckpointer.WAL_LIMIT}")


def describe_failure(exc: BaseException) -> str:
    """Name what went wrong with the database in a few words, for /readyz and the log."""
    text = str(exc).lower()
    if "timeout" in text or "timed out" in text or "canceling statement" in text:
        return "timed out"
    if "locked" in text or "busy" in text:
        return "locked"
    if "refused" in text:
        return "connection refused"
    if "closed" in text or "terminat" in text or "reset" in text or "eof" in text:
        return "connection lost"
    if "does not exist" in text or "no such" in text or "unable to open" in text:
        return "not found"
    return "unreachable"
