"""Teams gets the opening message and status changes through its incoming webhook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from warroom.adapters.teams import TeamsNotifier
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.engine.delivery import Deliverer
from warroom.settings import Settings
from warroom.testing import FakeTeams


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams(lifetime=60) as fake:
        yield fake


def test_declaration_and_status_changes_reach_teams(
    db: Database, config: WarroomConfig, clock: FakeClock, teams: FakeTeams, api_tokens: object
) -> None:
    chat = ChatConfig(teams_webhooks=[teams.url])
    ctx = AppContext(
        settings=Settings(database_url=db.url, auto_migrate=False, engine=False),
        db=db,
        config=config.model_copy(update={"chat": chat}),
        clock=clock,
    )
    headers = {"Authorization": f"Bearer {api_tokens.jane}"}  # type: ignore[attr-defined]
    deliverer = Deliverer({"teams": TeamsNotifier(timeout=5.0)}, parallel=1)
    try:
        with TestClient(create_app(ctx)) as client:
            created = client.post(
                "/api/v1/incidents",
                json={"title": "Search down", "severity": "SEV3"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            deliverer(ctx)
            teams.expect_exactly((teams.url, "INC-1", "Search down", "declared at SEV3"))
            clock.advance(minutes=2)
            changed = client.post(
                "/api/v1/incidents/INC-1/status", json={"status": "identified"}, headers=headers
            )
            assert changed.status_code == 200, changed.text
            deliverer(ctx)
            teams.expect_exactly((teams.url, "INC-1", "from investigating to identified"))
            listed = client.get("/api/v1/notifications", headers=headers)
            assert listed.status_code == 200
            assert sum(n["channel"] == "teams" for n in listed.json()) == 2
    finally:
        deliverer.close()
