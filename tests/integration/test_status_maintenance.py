"""Scheduled maintenance on the status page: its services' windows, automatic transitions
driven by engine timers on a fake clock, a reminder an hour before, subscribers told at
every step (a real SMTP server), and the public documents at each stage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.adapters.registry import build_notifiers
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.timer_job import TimerRunner
from warroom.notifications.delivery import Deliverer
from warroom.notifications.service import plan_fallback
from warroom.settings import Settings
from warroom.statuspage.publish import publish
from warroom.testing.smtp import FakeSmtp


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def ctx(
    db: Database, config: WarroomConfig, clock: FakeClock, smtp: FakeSmtp, tmp_path: Path
) -> AppContext:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="http://warroom.test",
        status_dir=tmp_path / "status",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from="status@example.com",
        smtp_starttls=False,
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


@pytest.fixture
def engine(ctx: AppContext) -> Iterator[tuple[TimerRunner, Deliverer]]:
    notifiers = build_notifiers(ctx.settings, timeout=5.0)
    deliverer = Deliverer(notifiers, fallback=plan_fallback)
    yield TimerRunner(), deliverer
    deliverer.close()
    notifiers.close()


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_maintenance_moves_by_itself_reminds_and_tells_subscribers(
    client: TestClient,
    api_tokens: Tokens,
    ctx: AppContext,
    clock: FakeClock,
    smtp: FakeSmtp,
    engine: tuple[TimerRunner, Deliverer],
) -> None:
    timers, deliver = engine

    def run() -> None:
        timers(ctx)
        deliver(ctx)

    smtp.clear()
    client.post("/status/subscriptions", json={"email": "ops-fan@example.com"})
    run()
    [confirmation] = smtp.expect_exactly(("ops-fan@example.com", "Confirm"))
    link = re.search(r"/status/subscriptions/confirm/\S+", confirmation.text)
    assert link is not None and client.get(link.group(0)).status_code == 200

    start = clock.now() + timedelta(hours=2)
    made = client.post(
        "/api/v1/status-page/maintenances",
        json={
            "name": "Database upgrade",
            "body": "The API may answer slowly.",
            "components": ["API"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=2)).isoformat(),
        },
        headers=_as(api_tokens.responder),
    )
    assert made.status_code == 201, made.text
    maintenance = made.json()
    assert maintenance["status"] == "scheduled"
    # One concept: the services behind "API" are in maintenance windows for that time.
    windows = client.get("/api/v1/maintenance", headers=_as(api_tokens.viewer)).json()
    owned = [w for w in windows if w["id"] in maintenance["suppressing_windows"]]
    assert sorted(w["service"] for w in owned) == ["api-gateway", "api-service"]
    run()
    smtp.expect_exactly(("ops-fan@example.com", "Scheduled maintenance: Database upgrade"))
    publish(ctx)
    upcoming = client.get("/status/api/v2/scheduled-maintenances/upcoming.json").json()
    [shown] = upcoming["scheduled_maintenances"]
    assert (shown["name"], shown["status"], shown["impact"]) == (
        "Database upgrade",
        "scheduled",
        "maintenance",
    )
    assert "Database upgrade" in client.get("/status").text

    clock.advance(minutes=59)
    run()
    smtp.expect_none(settle=0.1)
    clock.advance(minutes=2)  # an hour before the start
    run()
    smtp.expect_exactly(("ops-fan@example.com", "Maintenance starts soon: Database upgrade"))

    clock.set(start)
    run()
    smtp.expect_exactly(("ops-fan@example.com", "Maintenance in progress"))
    publish(ctx)
    active = client.get("/status/api/v2/scheduled-maintenances/active.json").json()
    assert [m["status"] for m in active["scheduled_maintenances"]] == ["in_progress"]
    components = client.get("/status/api/v2/components.json").json()["components"]
    assert {c["name"]: c["status"] for c in components}["API"] == "under_maintenance"
    status = client.get("/status/api/v2/status.json").json()["status"]
    assert status == {"indicator": "none", "description": "Service Under Maintenance"}

    clock.set(start + timedelta(hours=2))
    run()
    smtp.expect_exactly(("ops-fan@example.com", "Maintenance completed"))
    publish(ctx)
    assert (
        client.get("/status/api/v2/scheduled-maintenances/active.json").json()[
            "scheduled_maintenances"
        ]
        == []
    )
    components = client.get("/status/api/v2/components.json").json()["components"]
    assert {c["name"]: c["status"] for c in components}["API"] == "operational"
    history = client.get("/status/api/v2/scheduled-maintenances.json").json()
    assert [m["status"] for m in history["scheduled_maintenances"]] == ["completed"]
    # Nothing more is due: no message twice.
    clock.advance(hours=1)
    run()
    smtp.expect_none(settle=0.2)


def test_completing_early_ends_the_windows(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    start = clock.now() + timedelta(minutes=10)
    made = client.post(
        "/api/v1/status-page/maintenances",
        json={
            "name": "Search reindex",
            "components": ["Search"],
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=3)).isoformat(),
        },
        headers=_as(api_tokens.responder),
    ).json()
    clock.advance(minutes=30)
    done = client.patch(
        f"/api/v1/status-page/maintenances/{made['id']}",
        json={"status": "completed"},
        headers=_as(api_tokens.responder),
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    [window] = made["suppressing_windows"]
    shown = client.get(f"/api/v1/maintenance/{window}", headers=_as(api_tokens.viewer)).json()
    assert shown["cancelled_at"] is not None
    again = client.patch(
        f"/api/v1/status-page/maintenances/{made['id']}",
        json={"status": "verifying"},
        headers=_as(api_tokens.responder),
    )
    assert again.status_code == 409


def test_bad_maintenances_name_the_field(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    start = clock.now() + timedelta(hours=1)
    base = {
        "name": "x",
        "components": ["API"],
        "scheduled_for": start.isoformat(),
        "scheduled_until": (start + timedelta(hours=1)).isoformat(),
    }
    for change, field in (
        ({"components": ["API", "Warp drive"]}, "components.1"),
        ({"scheduled_until": start.isoformat()}, "scheduled_until"),
        ({"scheduled_for": "2024-01-01T00:00:00"}, "scheduled_for"),
    ):
        answer = client.post(
            "/api/v1/status-page/maintenances",
            json=base | change,
            headers=_as(api_tokens.responder),
        )
        assert answer.status_code == 422, change
        error = answer.json()["error"]
        assert error["message"].startswith(field), error
    assert (
        client.get("/api/v1/status-page/maintenances", headers=_as(api_tokens.viewer)).json() == []
    )
