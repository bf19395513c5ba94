"""Teams and Mattermost get the opening message and changes through incoming webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from warroom.adapters.teams import TeamsNotifier
from warroom.app import create_app
from warroom.chat.job import ChatRunner
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.notifications.delivery import Deliverer
from warroom.settings import Settings
from warroom.testing import FakeTeams
from warroom.testing.mattermost import FakeMattermost


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


def test_mattermost_gets_the_same_messages_and_outages_are_retried(
    db: Database, config: WarroomConfig, clock: FakeClock, api_tokens: object
) -> None:
    with FakeMattermost(lifetime=60) as mattermost:
        chat = ChatConfig(mattermost_webhooks=[mattermost.url])
        ctx = AppContext(
            settings=Settings(database_url=db.url, auto_migrate=False, engine=False),
            db=db,
            config=config.model_copy(update={"chat": chat}),
            clock=clock,
        )
        runner = ChatRunner(None, owner="test-engine")
        headers = {"Authorization": f"Bearer {api_tokens.jane}"}  # type: ignore[attr-defined]
        with TestClient(create_app(ctx)) as client:
            with mattermost.outage():
                created = client.post(
                    "/api/v1/incidents",
                    json={"title": "Queue backlog", "severity": "SEV2"},
                    headers=headers,
                )
                assert created.status_code == 201, created.text  # never blocked by chat
                runner(ctx)
            mattermost.expect_none()
            runner(ctx)
            mattermost.expect_none()  # not before the backoff
            clock.advance(seconds=11)
            runner(ctx)
            mattermost.expect_exactly(
                (
                    mattermost.url,
                    "**INC-1** (SEV2, investigating)",
                    "Queue backlog",
                    "declared at SEV2",
                )
            )
            client.post(
                "/api/v1/incidents/INC-1/severity",
                json={"severity": "SEV1", "reason": "worse"},
                headers=headers,
            )
            runner(ctx)
            mattermost.expect_exactly((mattermost.url, "from SEV2 to SEV1"))
            actions = client.get("/api/v1/integrations/slack/actions", headers=headers).json()
            assert [(a["kind"], a["status"]) for a in actions] == [
                ("mattermost", "done"),
                ("mattermost", "done"),
            ]
            assert actions[1]["attempts"] == 2
            assert mattermost.url not in str(actions)  # the hook URL is a secret
