"""A Slack member maps to a warroom user by the e-mail address in configuration (the
`slack:` field or the user's `email:`), found through `users.lookupByEmail`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.test_chat_slack import BOB, JANE, STRANGER, client, command, ctx
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig, SlackChannelConfig
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.testing.slack_api import FakeSlackWorkspace
from warroom.timeline.models import TimelineEvent

__all__ = ["client", "ctx"]  # the shared fixtures

SARAH, TOM = "U0SARAH0001", "U0TOM000001"


@pytest.fixture
def slack() -> Iterator[FakeSlackWorkspace]:
    users = [
        {"id": JANE, "name": "jane.smith", "email": "jane@example.com"},
        {"id": BOB, "name": "bob.wilson", "email": "bob@example.com"},
        # Slack names that match no warroom handle: only the e-mail can tell who they are.
        {"id": SARAH, "name": "schen", "email": "sarah.chen@example.com"},
        {"id": TOM, "name": "tnguyen", "email": "tom@elsewhere.example"},
        {"id": STRANGER, "name": "stranger", "email": "nobody@example.com"},
    ]
    with FakeSlackWorkspace(users=users, lifetime=60) as fake:
        yield fake


@pytest.fixture
def chat_config(config: WarroomConfig) -> WarroomConfig:
    slack = {
        "jane.smith": JANE,
        "bob.wilson": BOB,
        "sarah.chen": None,  # mapped by her `email:`
        "tom.nguyen": "tom@elsewhere.example",  # mapped by an e-mail in `slack:`
    }
    users = [u.model_copy(update={"slack": slack.get(u.handle, u.slack)}) for u in config.users]
    chat = ChatConfig(slack=SlackChannelConfig(enabled=True))
    return config.model_copy(update={"users": users, "chat": chat})


def test_members_are_found_by_their_configured_email(
    client: TestClient, ctx: AppContext, clock: FakeClock, slack: FakeSlackWorkspace
) -> None:
    answer = command(client, clock, "declare SEV3 Search is slow", user=SARAH)
    assert answer["response_type"] == "in_channel", answer
    answer = command(client, clock, "note INC-1 Looking at the index", user=TOM)
    assert answer["response_type"] == "in_channel", answer
    with ctx.db.unit_of_work() as uow:
        actors = uow.session.execute(
            select(TimelineEvent.actor, TimelineEvent.description).order_by(TimelineEvent.id)
        ).all()
    assert any(actor == "sarah.chen" for actor, _ in actors)
    assert any(actor == "tom.nguyen" and "Looking at the index" in text for actor, text in actors)
    looked_up = [args for method, args in slack.calls() if method == "users.info"]
    assert looked_up, "the e-mail addresses were asked of Slack"


def test_a_member_whose_email_is_not_configured_is_refused(
    client: TestClient, clock: FakeClock
) -> None:
    answer = command(client, clock, "declare SEV3 Search is slow", user=STRANGER)
    assert answer["response_type"] == "ephemeral" and "not mapped" in answer["text"]
