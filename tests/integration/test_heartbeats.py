"""Heartbeat monitors: check in, miss the deadline, exactly one alert, resolve on check-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens, _truncate
from warroom.alerts.models import Alert
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.wakeup import ALERTS
from warroom.heartbeats.job import MAX_SLEEP_SECONDS, check_heartbeats
from warroom.heartbeats.models import Heartbeat
from warroom.heartbeats.service import register
from warroom.integrations import service as integrations
from warroom.integrations.service import IntegrationType
from warroom.settings import Settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_heartbeat(
    client: TestClient, admin: str, settings: dict[str, Any], name: str = "nightly-backup"
) -> Any:
    return client.post(
        "/api/v1/integrations",
        json={"name": name, "type": "heartbeat", "service": "database", "settings": settings},
        headers=auth(admin),
    )


@pytest.fixture
def heartbeat(client: TestClient, api_tokens: Tokens) -> dict[str, Any]:
    r = create_heartbeat(client, api_tokens.admin, {"interval": "5m", "grace": "1m"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def alerts(client: TestClient, token: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/alerts", headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_creating_a_heartbeat_integration_creates_the_heartbeat(
    ctx: AppContext, heartbeat: dict[str, Any], clock: FakeClock
) -> None:
    assert heartbeat["url"] == f"http://127.0.0.1:8080/api/v1/heartbeats/{heartbeat['key']}"
    with ctx.db.unit_of_work() as uow:
        row = uow.session.get(Heartbeat, heartbeat["id"])
        assert row is not None
        assert (row.interval_seconds, row.grace_seconds, row.alerting) == (300, 60, False)
        assert row.last_checkin_at is None
        assert row.deadline_at == clock.now().replace(minute=36)  # 09:30 + 5m + 1m


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "settings.interval"),
        ({"interval": "5 parsecs"}, "settings.interval"),
        ({"interval": "9s"}, "settings.interval"),
        ({"interval": "tomorrow"}, "settings.interval"),
        ({"interval": -60}, "settings.interval"),
        ({"interval": True}, "settings.interval"),
        ({"interval": "5m", "grace": "a bit"}, "settings.grace"),
    ],
)
def test_bad_settings_are_422_naming_the_field(
    client: TestClient, api_tokens: Tokens, settings: dict[str, Any], field: str
) -> None:
    r = create_heartbeat(client, api_tokens.admin, settings)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["field"] == field
    # Nothing half-written: no integration without its heartbeat.
    assert client.get("/api/v1/integrations", headers=auth(api_tokens.admin)).json() == []


def test_interval_boundary_and_default_grace(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    r = create_heartbeat(client, api_tokens.admin, {"interval": "10s"})
    assert r.status_code == 201, r.text
    with ctx.db.unit_of_work() as uow:
        row = uow.session.get(Heartbeat, r.json()["id"])
        assert row is not None and (row.interval_seconds, row.grace_seconds) == (10, 60)


def test_check_in_by_get_or_post(
    client: TestClient, heartbeat: dict[str, Any], clock: FakeClock
) -> None:
    clock.advance(minutes=2)
    r = client.get(f"/api/v1/heartbeats/{heartbeat['key']}")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "next_deadline": "2024-03-15T09:38:00Z",
        "resolved_alert_id": None,
    }
    clock.advance(minutes=1)
    r = client.post(f"/api/v1/heartbeats/{heartbeat['key']}")
    assert r.status_code == 200 and r.json()["next_deadline"] == "2024-03-15T09:39:00Z"


def test_unknown_or_wrong_kind_of_key_is_404(client: TestClient, api_tokens: Tokens) -> None:
    assert client.get("/api/v1/heartbeats/" + "0" * 32).status_code == 404
    other = client.post(
        "/api/v1/integrations",
        json={"name": "am", "type": "alertmanager", "service": "database"},
        headers=auth(api_tokens.admin),
    ).json()
    r = client.post(f"/api/v1/heartbeats/{other['key']}")
    assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "key"
    assert client.get("/api/v1/heartbeats/" + "x" * 65).status_code == 422


def test_missed_heartbeat_raises_exactly_one_alert_and_a_check_in_resolves_it(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    heartbeat: dict[str, Any],
    clock: FakeClock,
) -> None:
    key = heartbeat["key"]
    client.post(f"/api/v1/heartbeats/{key}")  # 09:30, due by 09:36

    clock.advance(minutes=6)  # exactly at the deadline: still in time
    assert check_heartbeats(ctx) == pytest.approx(0.01)
    assert alerts(client, api_tokens.viewer) == []
    assert not ctx.wakeups.is_set()

    clock.advance(seconds=1)
    assert check_heartbeats(ctx) == MAX_SLEEP_SECONDS  # nothing else is due
    assert ctx.wakeups.pending() == {ALERTS}  # routing is woken
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["status"] == "triggered"
    assert alert["severity"] == "critical"
    assert alert["dedup_key"] == "heartbeat"
    assert alert["service"] == "database"
    assert alert["summary"] == (
        "Heartbeat nightly-backup missed: no check-in since 2024-03-15T09:30:00Z"
    )

    # The engine runs again and again: still one alert, one occurrence.
    for _ in range(3):
        clock.advance(minutes=10)
        check_heartbeats(ctx)
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["occurrences"] == 1

    r = client.get(f"/api/v1/heartbeats/{key}")
    assert r.status_code == 200
    assert r.json()["resolved_alert_id"] == alert["id"]
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["status"] == "resolved"
    assert r.json()["next_deadline"] == "2024-03-15T10:12:01Z"  # 10:06:01 + 6m

    # Missing again later is a new alert.
    clock.advance(minutes=7)
    check_heartbeats(ctx)
    listed = alerts(client, api_tokens.viewer)
    assert [a["status"] for a in listed] == ["triggered", "resolved"]
    assert listed[0]["summary"].endswith("since 2024-03-15T10:06:01Z")


def test_a_heartbeat_that_never_checks_in_alerts_from_its_creation(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    heartbeat: dict[str, Any],
    clock: FakeClock,
) -> None:
    clock.advance(minutes=5)
    assert check_heartbeats(ctx) == MAX_SLEEP_SECONDS  # due in 60 s; the cap is 30 s
    assert alerts(client, api_tokens.viewer) == []
    clock.advance(minutes=1, seconds=1)
    check_heartbeats(ctx)
    [alert] = alerts(client, api_tokens.viewer)
    assert "no check-in since 2024-03-15T09:30:00Z" in alert["summary"]


def test_job_sleeps_until_the_next_deadline(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    assert check_heartbeats(ctx) == MAX_SLEEP_SECONDS  # no heartbeats at all
    r = create_heartbeat(client, api_tokens.admin, {"interval": "10s", "grace": "0s"})
    assert r.status_code == 201
    assert check_heartbeats(ctx) == pytest.approx(10.01)
    clock.advance(seconds=4)
    assert check_heartbeats(ctx) == pytest.approx(6.01)


def test_disabled_heartbeats_never_alert(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    heartbeat: dict[str, Any],
    clock: FakeClock,
) -> None:
    with ctx.db.unit_of_work() as uow:
        integrations.get(uow.session, integration_id=heartbeat["id"]).disabled_at = clock.now()
        uow.commit()
    clock.advance(hours=1)
    check_heartbeats(ctx)
    assert alerts(client, api_tokens.viewer) == []
    assert client.get(f"/api/v1/heartbeats/{heartbeat['key']}").status_code == 404


# --- several engines on PostgreSQL ----------------------------------------------------------


@pytest.fixture
def pg_ctx(pg_database: str, config: WarroomConfig, clock: FakeClock) -> Iterator[AppContext]:
    db = Database(pg_database)
    _truncate(db)
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    yield AppContext(settings=settings, db=db, config=config, clock=clock)
    db.dispose()


@pytest.mark.postgres
def test_a_heartbeat_locked_by_a_check_in_is_skipped_not_waited_for(
    pg_ctx: AppContext, clock: FakeClock
) -> None:
    with pg_ctx.db.unit_of_work() as uow:
        row = integrations.create(
            uow.session,
            config=pg_ctx.config,
            name="hb",
            type=IntegrationType.HEARTBEAT,
            service="database",
            now=clock.now(),
            settings={"interval": "1m", "grace": "0s"},
        )
        register(uow.session, integration=row, now=clock.now())
        uow.commit()
    clock.advance(minutes=2)
    with pg_ctx.db.unit_of_work() as other_engine:
        # Another worker holds the row (a check-in, or another engine mid-pass).
        other_engine.session.execute(select(Heartbeat).with_for_update())
        check_heartbeats(pg_ctx)  # returns at once instead of blocking
        with pg_ctx.db.unit_of_work() as uow:
            assert uow.session.scalars(select(Alert)).all() == []
    check_heartbeats(pg_ctx)
    with pg_ctx.db.unit_of_work() as uow:
        assert [a.dedup_key for a in uow.session.scalars(select(Alert))] == ["heartbeat"]
