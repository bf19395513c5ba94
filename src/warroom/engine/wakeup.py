"""Immediate wake-ups for engines: PostgreSQL LISTEN/NOTIFY, or an in-process event.

Polling stays as the safety net; a wake-up only makes the next pass start now instead of
at the next poll, so a page leaves within a second of the alert.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger("warroom.wakeup")

CHANNEL = "warroom_engine"
# How long the listener lets notifications gather after it has woken the engine.
COALESCE_SECONDS = 0.01


_NOTIFIED = "warroom_notified"


def notify(session: Session) -> None:
    """Wake engines once this transaction commits (PostgreSQL delivers NOTIFY on commit).

    Once per transaction: PostgreSQL folds identical notifications of one transaction into
    one anyway, and a batch that pages for a thousand alerts should not pay a thousand
    round trips for it."""
    if session.info.get(_NOTIFIED) or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text(f"NOTIFY {CHANNEL}"))
    session.info[_NOTIFIED] = True


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_notified(session: Session, *_: object) -> None:
    # A rolled-back savepoint takes its NOTIFY with it: the next notify() sends one again.
    session.info.pop(_NOTIFIED, None)


class Listener:
    """A thread holding one PostgreSQL connection that LISTENs and sets `event` on NOTIFY."""

    def __init__(self, database_url: str, event: threading.Event) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._event = event
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
                        if not any(True for _ in conn.notifies(timeout=1.0, stop_after=1)):
                            continue
                        self._event.set()
                        # A storm sends a NOTIFY per ingest batch, hundreds a second: those
                        # that arrive in the next moment make one wake-up (set again: the
                        # pass just woken may have started before them). Each notifies()
                        # holds the connection until it ends, so they run one after another.
                        self._stop.wait(COALESCE_SECONDS)
                        if any(True for _ in conn.notifies(timeout=0.001)):
                            self._event.set()
            except psycopg.Error:
                log.warning("LISTEN connection lost; polling until it is back", exc_info=True)
                self._stop.wait(2.0)
