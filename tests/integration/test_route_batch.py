"""Routing alerts in batches agrees with routing them one by one, row for row.

The same random alert traffic (triggers of the example auto-declare rules' alerts with
random values, repeats, acknowledgements and resolutions, across four integrations and
services, over half an hour, one service in maintenance for ten minutes of it) is routed
once one alert per transaction and once in batches of up to 500 alerts per transaction;
every alert, incident, timeline event, timer, notification and rule state must come out
the same.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.batch_twins import wipe
from warroom.alerts.logic import Action, AlertEvent, AlertSeverity
from warroom.alerts.models import Alert
from warroom.alerts.routing import evaluate_rules, route_alerts
from warroom.alerts.rule_models import RuleState
from warroom.alerts.service import Source, apply_event
from warroom.auth.logic import SYSTEM
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Base, Database
from warroom.engine.models import Notification, Timer
from warroom.incidents.models import Incident
from warroom.integrations.models import Integration
from warroom.maintenance import service as maintenance
from warroom.settings import Settings
from warroom.timeline.models import TimelineEvent

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
SOURCES = [
    Source(1, "api-gateway"),
    Source(2, "auth-service"),
    Source(3, "payment-service"),
    Source(4, "database"),
]
ALERTNAMES = [
    "HighErrorRate",
    "HighLatencyP95",
    "AvailabilityLow",
    "AuthFailureRate",
    "PaymentFailureRate",
    "DatabaseConnectionFailures",
    "DiskFilling",
]


def _event(rnd: random.Random, at: datetime) -> AlertEvent:
    action = rnd.choice([Action.TRIGGER] * 6 + [Action.ACKNOWLEDGE, Action.RESOLVE])
    name = rnd.choice(ALERTNAMES)
    return AlertEvent(
        action=action,
        dedup_key=f"k{rnd.randint(1, 14)}",
        summary=f"{name} firing",
        source="host-1",
        severity=rnd.choice(list(AlertSeverity)),
        timestamp=at - timedelta(seconds=rnd.randint(0, 120)),
        labels={"alertname": name, "service": rnd.choice(SOURCES).service},
        details={"value": rnd.choice([0.5, 1.5, 6, 7, 12.5, 93, 99])},
        payload={},
        group_key=rnd.choice([None, None, "g1", "g2"]),
        instance=None,
    )


def _scenario(ctx: AppContext, clock: FakeClock, *, limit: int, seed: int) -> None:
    with ctx.db.unit_of_work() as uow:
        for source in SOURCES:
            uow.session.add(
                Integration(
                    id=source.integration_id,
                    name=f"i{source.integration_id}",
                    type="pagerduty",
                    service=source.service,
                    key=f"{source.integration_id:032d}",
                    settings={},
                    created_at=T0,
                )
            )
        maintenance.create(
            uow.session,
            config=ctx.config,
            service="database",
            starts_at=T0 + timedelta(minutes=10),
            ends_at=T0 + timedelta(minutes=20),
            reason="twin",
            actor=SYSTEM,
            now=T0,
        )
        uow.commit()
    rnd = random.Random(seed)
    for step in range(60):
        clock.set(T0 + timedelta(seconds=30 * step))
        now = clock.now()
        with ctx.db.unit_of_work() as uow:
            for _ in range(rnd.randint(0, 10)):
                apply_event(
                    uow.session, source=rnd.choice(SOURCES), event=_event(rnd, now), now=now
                )
            uow.commit()
        for _ in range(1_000):
            if route_alerts(ctx, limit=limit) is None:
                break
        evaluate_rules(ctx)


def _snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables routing writes. Alerts and incidents keep their ids (both
    runs create them in the same order); the rows that domain events' subscribers write
    are compared without theirs: a batch runs the subscribers when it commits, after all
    its alerts, so their rows are numbered in another order."""
    out = {}
    for model in (Alert, Incident, TimelineEvent, Timer, Notification, RuleState):
        table = Base.metadata.tables[model.__tablename__]
        keep_id = model in (Alert, Incident)
        columns = [c for c in table.columns if keep_id or c.name != "id"]
        with db.engine.connect() as conn:
            out[table.name] = sorted((tuple(r) for r in conn.execute(select(*columns))), key=repr)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_batches_route_like_one_by_one(db: Database, config: WarroomConfig, seed: int) -> None:
    # The example rules that need Prometheus are left out: alert rules only.
    rules = [r for r in config.auto_declare if r.when.kind == "alert"]
    variant = config.model_copy(update={"auto_declare": rules})
    snapshots = []
    for limit in (1, 500):
        wipe(db)
        clock = FakeClock(T0)
        settings = Settings(
            database_url=db.url, auto_migrate=False, engine=False, base_url="http://warroom.test"
        )
        ctx = AppContext(settings=settings, db=db, config=variant, clock=clock)
        _scenario(ctx, clock, limit=limit, seed=seed)
        snapshots.append(_snapshot(db))
    one_by_one, batches = snapshots
    assert len(one_by_one["alerts"]) > 20
    assert len(one_by_one["incidents"]) >= 2
    incident = [c.name for c in Alert.__table__.columns].index("incident_id")
    assert sum(1 for a in one_by_one["alerts"] if a[incident] is not None) > 10
    suppressed = [c.name for c in Alert.__table__.columns].index("suppressed")
    assert sum(1 for a in one_by_one["alerts"] if a[suppressed]) > 0
    for name in one_by_one:
        assert batches[name] == one_by_one[name], name
