"""An expired key-cache entry is read from the table by one lookup at a time: the others,
arriving while it reads, are answered with the entry that just expired instead of each
querying (a thundering herd every TTL under load). On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from warroom.alerts.service import Source
from warroom.clock import FakeMonotonic
from warroom.db import Database
from warroom.integrations.models import Integration
from warroom.integrations.service import IntegrationType, KeyCache

KEY = "c0ffee" * 5 + "00"
PD = IntegrationType.PAGERDUTY


def add_integration(db: Database) -> None:
    with db.unit_of_work() as uow:
        uow.session.add(
            Integration(
                name="pd",
                type="pagerduty",
                service="payments",
                key=KEY,
                settings={},
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        uow.commit()


def lookup(db: Database, keys: KeyCache, key: str = KEY) -> Source | None:
    with db.unit_of_work() as uow:
        return keys.lookup(uow.session, key, PD)


class HeldQueries:
    """Counts the key queries, and holds each one until `release` (a slow database)."""

    def __init__(self, db: Database) -> None:
        self.db, self.seen, self.release = db, 0, threading.Event()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM integrations" in statement:
            self.seen += 1
            self.release.wait(10)

    def __enter__(self) -> HeldQueries:
        event.listen(self.db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        event.remove(self.db.engine, "before_cursor_execute", self)


def _cached(db: Database) -> tuple[KeyCache, FakeMonotonic, Source]:
    """A cache (5 s, unknown keys 1 s) on a moved-by-hand clock, holding the key's entry."""
    add_integration(db)
    clock = FakeMonotonic()
    keys = KeyCache(ttl=5.0, negative_ttl=1.0, monotonic=clock)
    cached = lookup(db, keys)
    assert cached is not None
    return keys, clock, cached


def test_one_lookup_refreshes_an_expired_entry_while_the_others_are_answered(
    db: Database,
) -> None:
    keys, clock, cached = _cached(db)
    clock.now += 6.0  # expired
    answers: list[Source | None] = []
    with HeldQueries(db) as queries:
        first = threading.Thread(target=lambda: answers.append(lookup(db, keys)))
        first.start()
        deadline = time.monotonic() + 5
        while queries.seen == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        others = [
            threading.Thread(target=lambda: answers.append(lookup(db, keys))) for _ in range(8)
        ]
        for thread in others:
            thread.start()
        for thread in others:
            thread.join(2)
        answered_while_reading = len(answers)
        queries.release.set()
        first.join(5)
        for thread in others:
            thread.join(5)
    assert queries.seen == 1
    assert answered_while_reading == 8
    assert answers == [cached] * 9


def test_a_disabled_integration_stops_at_the_refresh_and_a_stuck_refresh_is_not_waited_on(
    db: Database,
) -> None:
    keys, clock, _ = _cached(db)
    with db.unit_of_work() as uow:
        uow.session.query(Integration).update({"disabled_at": datetime(2026, 1, 2, tzinfo=UTC)})
        uow.commit()
    assert lookup(db, keys) is not None  # cached for 5 s
    clock.now += 5.0
    with HeldQueries(db) as queries:
        stuck = threading.Thread(target=lambda: lookup(db, keys))
        stuck.start()
        deadline = time.monotonic() + 5
        while queries.seen == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert lookup(db, keys) is not None  # the expired entry, while the other reads
        clock.now += 1.0  # the refresh has taken as long as an unknown key is remembered
        queries.release.set()  # (from here on queries pass)
        assert lookup(db, keys) is None  # reads the table itself, and finds it disabled
        stuck.join(5)
    assert queries.seen == 2
    assert lookup(db, keys) is None


def test_an_unknown_key_is_read_once_per_negative_ttl(db: Database) -> None:
    clock = FakeMonotonic()
    keys = KeyCache(ttl=5.0, negative_ttl=1.0, monotonic=clock)
    unknown = "f" * 32
    with HeldQueries(db) as queries:
        queries.release.set()
        for _ in range(5):
            assert lookup(db, keys, unknown) is None
        clock.now += 1.0
        for _ in range(5):
            assert lookup(db, keys, unknown) is None
    assert queries.seen == 2
