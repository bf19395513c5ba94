"""Mirroring to Atlassian Statuspage, against a local server speaking its REST API:
the first public update creates the incident, later ones update it, components set by
hand follow, a 5xx is retried and a refusal is not, and the key never reaches the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.config.statuspage import StatuspageIoConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.timer_job import TimerRunner
from warroom.settings import Settings
from warroom.testing.statuspage_io import FakeStatuspageIo

KEY = "statuspage-api-key-for-tests"


@pytest.fixture
def remote() -> Iterator[FakeStatuspageIo]:
    with FakeStatuspageIo(api_key=KEY, component_ids=("cmpapi01", "cmpweb01")) as server:
        yield server


@pytest.fixture
def mirrored(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    remote: FakeStatuspageIo,
    tmp_path: Path,
) -> Iterator[tuple[AppContext, TestClient]]:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        status_dir=tmp_path / "status",
        statuspage_api_key=KEY,  # type: ignore[arg-type]
        statuspage_base_url=remote.url,
    )
    mirror = StatuspageIoConfig(
        page_id=remote.page_id, components={"API": "cmpapi01", "Website": "cmpweb01"}
    )
    page = config.status_page.model_copy(update={"statuspage_io": mirror})
    ctx = AppContext(
        settings=settings, db=db, config=config.model_copy(update={"status_page": page}),
        clock=clock,
    )  # fmt: skip
    with TestClient(create_app(ctx)) as client:
        yield ctx, client


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_public_updates_and_components_are_mirrored(
    mirrored: tuple[AppContext, TestClient],
    api_tokens: Tokens,
    remote: FakeStatuspageIo,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx, client = mirrored
    timers = TimerRunner(lease=timedelta(seconds=30))
    key = client.post(
        "/api/v1/incidents",
        json={"title": "internal words", "severity": "SEV1"},
        headers=_as(api_tokens.responder),
    ).json()["id"]
    client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "public": True, "message": "API errors; fixing.",
              "components": {"API": "major_outage", "Search": "degraded_performance"}},
        headers=_as(api_tokens.responder),
    )  # fmt: skip
    timers(ctx)
    [incident] = remote.incidents.values()
    assert incident["name"] == "Investigating issues with API, Search"
    assert incident["status"] == "identified" and incident["body"] == "API errors; fixing."
    assert remote.components == {"cmpapi01": "major_outage", "cmpweb01": "operational"}

    # A 503 is retried after the lease; nothing is sent twice.
    remote.fail_next(1, status=503)
    client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "resolved", "public": True, "message": "Fixed."},
        headers=_as(api_tokens.responder),
    )
    with caplog.at_level(logging.ERROR):
        timers(ctx)
    assert incident["status"] == "identified"
    clock.advance(seconds=31)
    timers(ctx)
    assert incident["status"] == "resolved" and incident["body"] == "Fixed."
    assert len(remote.incidents) == 1
    assert [u["status"] for u in incident["incident_updates"]] == ["resolved", "identified"]

    # A component set by hand follows; one warroom does not map stays local.
    client.patch(
        "/api/v1/status-page/components/Website",
        json={"status": "partial_outage"},
        headers=_as(api_tokens.responder),
    )
    client.patch(
        "/api/v1/status-page/components/Payments",
        json={"status": "partial_outage"},
        headers=_as(api_tokens.responder),
    )
    timers(ctx)
    assert remote.components["cmpweb01"] == "partial_outage"
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert all(r.header("authorization") == f"OAuth {KEY}" for r in remote.requests)


def test_a_refusal_is_logged_once_and_dropped(
    mirrored: tuple[AppContext, TestClient],
    api_tokens: Tokens,
    remote: FakeStatuspageIo,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx, client = mirrored
    remote.fail_next(1, status=401, body={"error": "Could not authenticate"})
    key = client.post(
        "/api/v1/incidents",
        json={"title": "t", "severity": "SEV2"},
        headers=_as(api_tokens.responder),
    ).json()["id"]
    client.post(
        f"/api/v1/status-page/incidents/{key}",
        json={"status": "investigating", "message": "Looking."},
        headers=_as(api_tokens.responder),
    )
    with caplog.at_level(logging.ERROR, logger="warroom.statuspage"):
        TimerRunner()(ctx)
        clock.advance(minutes=5)
        TimerRunner()(ctx)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert remote.incidents == {}
    assert len(remote.requests) == 1
