"""The set-based batch apply agrees with applying events one by one, event for event.

Random batches (triggers, acknowledges, resolves, Alertmanager-style firings with
instances, repeats within a batch) go once through `apply_event` for integrations 1 and 2 and
once through `apply_batch` for integrations 3 and 4 of the same database; every outcome and
every resulting row must match.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
from warroom.alerts.models import Alert
from warroom.alerts.service import Source, apply_batch, apply_event
from warroom.db import Database
from warroom.integrations.models import Integration

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _random_event(rnd: random.Random) -> AlertEvent:
    return AlertEvent(
        action=rnd.choice([Action.TRIGGER] * 4 + [Action.ACKNOWLEDGE, Action.RESOLVE]),
        dedup_key=f"k{rnd.randint(1, 6)}",
        summary=rnd.choice(["", "disk full", "cpu high"]),
        source=rnd.choice([None, "host-1"]),
        severity=rnd.choice(list(AlertSeverity)),
        timestamp=rnd.choice([None, T0 - timedelta(minutes=rnd.randint(1, 9))]),
        labels={"n": rnd.randint(1, 3)},
        details={"d": rnd.randint(1, 3)},
        payload={"p": rnd.randint(1, 3)},
        instance=rnd.choice([None, None, "s1", "s2"]),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_apply_matches_one_by_one(db: Database, seed: int) -> None:
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
    one_by_one = [Source(1, "payment-service"), Source(2, "payment-service")]
    batched = [Source(3, "payment-service"), Source(4, "payment-service")]
    rnd = random.Random(seed)
    ids: dict[int, int] = {}
    for b in range(120):
        now = T0 + timedelta(seconds=b)
        picks = [(rnd.randrange(2), _random_event(rnd)) for _ in range(rnd.randint(1, 12))]
        with db.unit_of_work() as uow:
            want = [
                apply_event(uow.session, source=one_by_one[i], event=e, now=now) for i, e in picks
            ]
            got = apply_batch(uow.session, [(batched[i], e) for i, e in picks], now)
            uow.commit()
        for w, g in zip(want, got, strict=True):
            assert (w.dedup_key, w.outcome) == (g.dedup_key, g.outcome), (b, w, g)
            assert (w.alert_id is None) == (g.alert_id is None), (b, w, g)
            if w.alert_id is not None and g.alert_id is not None:
                assert ids.setdefault(w.alert_id, g.alert_id) == g.alert_id, (b, w, g)
    compared = [
        "dedup_key", "status", "summary", "source", "severity", "labels", "details", "payload",
        "occurrences", "started_at", "first_seen", "last_seen", "acknowledged_at",
        "resolved_at", "instance",
    ]  # fmt: skip
    with db.unit_of_work() as uow:
        rows = {a.id: a for a in uow.session.scalars(select(Alert))}
        reference = [a for a in rows.values() if a.integration_id in (1, 2)]
        assert len(reference) == len(rows) - len(reference)
        for alert in reference:
            twin = rows[ids[alert.id]]
            assert twin.integration_id == alert.integration_id + 2
            for name in compared:
                assert getattr(twin, name) == getattr(alert, name), (alert.id, name)
