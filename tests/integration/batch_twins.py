"""Shared by the batch-apply tests: the same random events go one by one (`apply_event`)
into integrations 1 and 2, and through a batch path into their twins 3 and 4; every outcome
and every resulting row must match."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

import warroom.models  # noqa: F401  (every table on the metadata)
from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
from warroom.alerts.models import Alert
from warroom.alerts.service import Applied, Source
from warroom.db import Base, Database
from warroom.integrations.models import Integration

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
ONE_BY_ONE = [Source(1, "payment-service"), Source(2, "payment-service")]
BATCHED = [Source(3, "payment-service"), Source(4, "payment-service")]
COMPARED = [
    "dedup_key", "status", "summary", "source", "severity", "labels", "details", "payload",
    "occurrences", "started_at", "first_seen", "last_seen", "acknowledged_at",
    "resolved_at", "instance", "group_key", "service", "suppressed", "routed_at",
]  # fmt: skip


def add_integrations(db: Database) -> None:
    with db.unit_of_work() as uow:
        for n in (1, 2, 3, 4):
            uow.session.add(
                Integration(
                    id=n,
                    name=f"i{n}",
                    type="pagerduty",
                    service="payment-service",
                    key=f"{n:032d}",
                    settings={},
                    created_at=T0,
                )
            )
        uow.commit()


def random_event(rnd: random.Random, *, triggers: int = 4, acks: bool = True) -> AlertEvent:
    """Triggers `triggers` times as often as each of acknowledge and resolve (if `acks`),
    on a few keys, with and without Alertmanager-style instances."""
    actions = [Action.TRIGGER] * triggers + ([Action.ACKNOWLEDGE, Action.RESOLVE] if acks else [])
    return AlertEvent(
        action=rnd.choice(actions),
        dedup_key=f"k{rnd.randint(1, 8)}",
        summary=rnd.choice(["", "disk full", "cpu high\x00"]),
        source=rnd.choice([None, "host-1"]),
        severity=rnd.choice(list(AlertSeverity)),
        timestamp=rnd.choice([None, T0 - timedelta(minutes=rnd.randint(1, 9))]),
        labels={"n": rnd.randint(1, 3)},
        details={"d": rnd.randint(1, 3), "text": "ünïcode"},
        payload={"p": rnd.randint(1, 3)},
        group_key=rnd.choice([None, "g"]),
        instance=rnd.choice([None, None, "s1", "s2"]),
    )


def check_results(
    want: Sequence[Applied], got: Sequence[Applied], ids: dict[int, int], where: object
) -> None:
    """Same outcomes; `ids` maps each reference alert to its twin, consistently."""
    for w, g in zip(want, got, strict=True):
        assert (w.dedup_key, w.outcome) == (g.dedup_key, g.outcome), (where, w, g)
        assert (w.alert_id is None) == (g.alert_id is None), (where, w, g)
        if w.alert_id is not None and g.alert_id is not None:
            assert ids.setdefault(w.alert_id, g.alert_id) == g.alert_id, (where, w, g)


def check_rows(db: Database, ids: dict[int, int]) -> None:
    """Every reference alert has a twin equal in every compared column."""
    with db.unit_of_work() as uow:
        rows = {a.id: a for a in uow.session.scalars(select(Alert))}
        reference = [a for a in rows.values() if a.integration_id in (1, 2)]
        assert len(reference) == len(rows) - len(reference)
        for alert in reference:
            twin = rows[ids[alert.id]]
            assert twin.integration_id == alert.integration_id + 2
            for name in COMPARED:
                assert getattr(twin, name) == getattr(alert, name), (alert.id, name)


def wipe(db: Database) -> None:
    """Empty every table and restart the ids, so that a second run numbers rows alike.

    Append-only tables (the audit log, evidence, custody) refuse DELETE by trigger on
    SQLite: their triggers are set aside while they are emptied, then put back."""
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        triggers = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name, _ in triggers:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.execute(
            text("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
        ).first():
            conn.execute(text("DELETE FROM sqlite_sequence"))
        for _, sql in triggers:
            conn.execute(text(sql))
