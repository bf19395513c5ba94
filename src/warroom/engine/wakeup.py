"""Immediate wake-ups for engines: PostgreSQL LISTEN/NOTIFY, and in-process signals.

Polling stays as the safety net; a wake-up only makes the next pass start now instead of
at the next poll, so a page leaves within a second of the alert.

A wake-up says what kind of work was committed. `ALERTS`: alerts were stored or changed,
and only routing has work (routing, in turn, notifies `WORK` when it declares or pages).
`WORK`: anything else engines act on (timers, notifications, outboxes) — and any wake-up
that does not say, so that a sender that does not know the kinds wakes every job. In a
storm, ingest wakes engines hundreds of times a second: the jobs that cannot have work
from new alerts (timers, deliveries) need not run for them.

A commit that notified has already woken every engine of its own process (`wake_local`),
so the listener passes over what this process's own sessions sent (`own_session`, by
backend pid): in a storm that was a notification per ingest batch, each waking the
engine again for work it had been woken for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import psycopg
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from warroom.context import ALERTS, EVERY, WORK, WORK_ONLY, Wakeups, wake_local

__all__ = [
    "ALERTS",
    "CHANNEL",
    "EVERY",
    "WORK",
    "WORK_ONLY",
    "Listener",
    "Wakeups",
    "forget_session",
    "notify",
    "own_session",
]

log = logging.getLogger("warroom.wakeup")

CHANNEL = "warroom_engine"
# How long the listener lets notifications gather after it has woken the engine.
COALESCE_SECONDS = 0.01

# A notification's payload names its kind; an empty one (or one this version does not
# know) is WORK, which runs every job.
_PAYLOADS = {ALERTS: ALERTS}

# The kinds this session's transaction has notified, each with the transaction level (the
# transaction, or the savepoint) that sent it.
_NOTIFIED = "warroom_notified"


def notify(session: Session, kind: str = WORK) -> None:
    """Wake engines once this transaction commits (PostgreSQL delivers NOTIFY on commit;
    engines of this process are woken by the commit itself).

    Once per transaction and kind: PostgreSQL folds identical notifications of one
    transaction into one anyway, and a batch that pages for a thousand alerts should not
    pay a thousand round trips for it. A notification sent inside a savepoint lasts as
    long as the savepoint: one rolled back takes it along, and the next notify() sends it
    again; one released hands it to the enclosing transaction."""
    notified: dict[str, SessionTransaction | None] = session.info.setdefault(_NOTIFIED, {})
    if kind in notified:
        return
    if session.get_bind().dialect.name == "postgresql":
        payload = "" if kind == WORK else kind
        session.execute(text(f"NOTIFY {CHANNEL}, '{payload}'"))
    notified[kind] = session.get_nested_transaction()  # None: the transaction itself


@sa_event.listens_for(Session, "after_commit")
def _wake_local(session: Session) -> None:
    # SQLAlchemy calls this for a released savepoint too: nothing is committed yet, so its
    # notifications pass to the enclosing level, and this process's engines are woken at
    # the transaction's own commit, when what they were woken for can be read.
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        notified = session.info.get(_NOTIFIED, {})
        parent = savepoint.parent
        enclosing = parent if parent is not None and parent.nested else None
        for kind, level in notified.items():
            if level is savepoint:
                notified[kind] = enclosing
        return
    for kind in session.info.pop(_NOTIFIED, {}):
        wake_local(kind)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_notified(session: Session, previous: SessionTransaction) -> None:
    # A rolled-back savepoint takes its NOTIFY with it (and only its own): the next
    # notify() of that kind sends one again. (The transaction's own end: `_end`.)
    if not previous.nested:
        return
    notified = session.info.get(_NOTIFIED, {})
    for kind in [k for k, level in notified.items() if level is previous]:
        del notified[kind]


@sa_event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    # The transaction is over: committed (`_wake_local` woke the engines), rolled back, or
    # closed without either; nothing it notified carries over to the next.
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)


# The backend pids of this process's open PostgreSQL sessions: the pools' connections
# (noted as they connect, forgotten as they close) and the batch writer's own.
_OWN: set[int] = set()
_PID = "warroom_backend_pid"


def own_session(pid: int) -> None:
    """Note a session of this process whose notifications the listener passes over: each
    commit of it that notifies must wake this process's engines itself (`wake_local`)."""
    _OWN.add(pid)


def forget_session(pid: int) -> None:
    _OWN.discard(pid)


@sa_event.listens_for(Pool, "connect")
def _note_pooled(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
    if isinstance(pid, int):  # psycopg; SQLite has no backend
        record.info[_PID] = pid
        own_session(pid)


@sa_event.listens_for(Pool, "close")
@sa_event.listens_for(Pool, "detach")  # no longer the pool's: closed by whoever holds it
def _forget_pooled(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    pid = record.info.pop(_PID, None)
    if pid is not None:
        forget_session(pid)


class Listener:
    """A thread holding one PostgreSQL connection that LISTENs and sets `wakeups` to the
    kinds the notifications name."""

    def __init__(self, database_url: str, wakeups: Wakeups) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wakeups = wakeups
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="warroom-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        if not self._wake(conn.notifies(timeout=1.0, stop_after=1)):
                            continue
                        # A storm sends a NOTIFY per ingest batch, hundreds a second: those
                        # that arrive in the next moment make one wake-up (set again: the
                        # pass just woken may have started before them). Each notifies()
                        # holds the connection until it ends, so they run one after another.
                        self._stop.wait(COALESCE_SECONDS)
                        self._wake(conn.notifies(timeout=0.001))
            except psycopg.Error:
                log.warning("LISTEN connection lost; polling until it is back", exc_info=True)
                self._stop.wait(2.0)

    def _wake(self, notifications: Iterable[psycopg.Notify]) -> bool:
        """Set the kinds that notifications from other processes name, once each; whether
        any notification arrived (this process's own are folded like the rest)."""
        arrived, kinds = False, set()
        for n in notifications:
            arrived = True
            if n.pid not in _OWN:
                kinds.add(_PAYLOADS.get(n.payload, WORK))
        for kind in kinds:
            self._wakeups.set(kind)
        return arrived
