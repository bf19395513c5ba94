"""The chat outbox in `GET /api/v1/notifications`, invitations of people paged later, and
`warroom doctor`'s chat lines, against the local Slack Web API (FakeSlackWorkspace)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from tests.conftest import EXAMPLES, Tokens
from tests.integration.test_chat_slack import BOB, JANE, SECRET, command, drain
from warroom.app import create_app
from warroom.chat.adapters import SlackChat
from warroom.chat.job import ChatRunner
from warroom.chat.models import ChatAction
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig, SlackChannelConfig
from warroom.config.escalation import EscalationPolicy
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.doctor import check
from warroom.engine.timer_job import TimerRunner
from warroom.escalation.logic import CHAIN_POLICY
from warroom.settings import Settings
from warroom.testing.slack_api import FakeSlackWorkspace

#: What every row of the listing had before chat actions joined it.
NOTIFICATION_FIELDS = {
    "id", "incident", "alert_id", "recipient", "channel", "address", "reason", "subject",
    "status", "attempts", "due_at", "sent_at", "provider_id", "last_error",
}  # fmt: skip


@pytest.fixture
def slack() -> Iterator[FakeSlackWorkspace]:
    users = [
        {"id": JANE, "name": "jane.smith", "email": "jane@example.com"},
        {"id": BOB, "name": "bob.wilson", "email": "bob@example.com"},
    ]
    with FakeSlackWorkspace(users=users, lifetime=60) as fake:
        yield fake


def with_chat(config: WarroomConfig, **updates: Any) -> WarroomConfig:
    ids = {"jane.smith": JANE, "bob.wilson": BOB}
    users = [u.model_copy(update={"slack": ids.get(u.handle, u.slack)}) for u in config.users]
    chat = ChatConfig(slack=SlackChannelConfig(enabled=True))
    return config.model_copy(update={"users": users, "chat": chat, **updates})


def make_ctx(
    db: Database, config: WarroomConfig, clock: FakeClock, slack: FakeSlackWorkspace
) -> AppContext:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        base_url="https://warroom.example.com",
        slack_token=SecretStr(slack.token),
        slack_signing_secret=SecretStr(SECRET),
        slack_base_url=slack.url,
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


@pytest.fixture
def ctx(
    db: Database, config: WarroomConfig, clock: FakeClock, slack: FakeSlackWorkspace
) -> AppContext:
    return make_ctx(db, with_chat(config), clock, slack)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


@pytest.fixture
def runner(slack: FakeSlackWorkspace) -> ChatRunner:
    return ChatRunner(SlackChat(token=slack.token, base_url=slack.url), owner="test-engine")


def listed(client: TestClient, token: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/notifications{query}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def chat_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["source"] == "chat"]


# --- the outbox in /api/v1/notifications ---------------------------------------------------


def test_a_slack_outage_shows_in_the_notifications_listing_and_clears(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: Tokens,
) -> None:
    command(client, clock, "declare SEV2 Database down")
    slack.fail_next(status=429, retry_after=30)
    assert drain(ctx, runner, slack) == ["conversations.create"]

    (row,) = listed(client, api_tokens.jane, "?channel=slack")
    assert set(row) >= NOTIFICATION_FIELDS  # the listing's shape is kept
    assert (row["source"], row["channel"], row["incident"], row["reason"]) == (
        "chat",
        "slack",
        "INC-1",
        "chat",
    )
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "ratelimited" in row["last_error"]
    retry_at = datetime.fromisoformat(row["next_attempt_at"])
    assert retry_at >= clock.now() + timedelta(seconds=30)  # Slack's Retry-After
    assert row["subject"] == "open the incident channel"

    clock.advance(seconds=31)
    slack.fail_next(status=500)
    assert drain(ctx, runner, slack) == ["conversations.create"]
    (row,) = chat_rows(listed(client, api_tokens.jane, "?incident=INC-1&status=pending"))
    assert row["attempts"] == 2 and "HTTP 500" in row["last_error"]

    clock.advance(minutes=1)
    assert drain(ctx, runner, slack)[0] == "conversations.create"
    assert chat_rows(listed(client, api_tokens.jane, "?status=pending")) == []
    (done,) = chat_rows(listed(client, api_tokens.jane, "?status=sent"))
    assert done["sent_at"] is not None and done["next_attempt_at"] is None
    assert done["last_error"] is None and done["address"] == "#incident-20240315-1"
    # Only an invitation is addressed to a person; other channels hold no chat action.
    assert chat_rows(listed(client, api_tokens.jane, "?recipient=jane.smith")) == []
    assert chat_rows(listed(client, api_tokens.jane, "?channel=sms")) == []


def test_outsiders_do_not_see_a_restricted_incidents_chat_actions(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: Tokens,
) -> None:
    jane = {"Authorization": f"Bearer {api_tokens.jane}"}
    for restricted in (False, True):
        created = client.post(
            "/api/v1/incidents",
            json={"title": "Breach?", "severity": "SEV2", "restricted": restricted},
            headers=jane,
        )
        assert created.status_code == 201, created.text
    slack.fail_next_with("internal_error", count=2)
    drain(ctx, runner, slack)
    seen = {r["incident"] for r in chat_rows(listed(client, api_tokens.jane))}
    assert seen == {"INC-1", "INC-2"}
    outsider = chat_rows(listed(client, api_tokens.bob))
    assert {r["incident"] for r in outsider} == {"INC-1"}
    assert chat_rows(listed(client, api_tokens.bob, "?incident=INC-2")) == []
    # The old route is still there and still hides it too.
    old = client.get(
        "/api/v1/integrations/slack/actions",
        headers={"Authorization": f"Bearer {api_tokens.bob}"},
    )
    assert [a["incident"] for a in old.json()] == ["INC-1"]


def test_a_mattermost_webhook_is_listed_without_its_url(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    api_tokens: Tokens,
) -> None:
    url = "http://127.0.0.1:9/hooks/secret-hook-id"  # nothing listens: the post fails
    chat = ChatConfig(mattermost_webhooks=[url])
    ctx = make_ctx(db, config.model_copy(update={"chat": chat}), clock, slack)
    with TestClient(create_app(ctx)) as client:
        created = client.post(
            "/api/v1/incidents",
            json={"title": "Queue backlog", "severity": "SEV3"},
            headers={"Authorization": f"Bearer {api_tokens.jane}"},
        )
        assert created.status_code == 201, created.text
        ChatRunner(None, owner="test-engine")(ctx)
        rows = listed(client, api_tokens.admin, "?channel=mattermost")
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [
        ("mattermost", "pending", 1)
    ]
    assert "cannot reach Mattermost" in rows[0]["last_error"]
    assert "secret-hook-id" not in str(rows)


# --- invitations of people paged later -----------------------------------------------------


def test_a_later_escalation_step_invites_whom_it_pages_once(
    db: Database,
    config: WarroomConfig,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: Tokens,
) -> None:
    steps = [
        {"delay": "5 minutes", "targets": [{"type": "user", "name": "jane.smith"}]},
        {"delay": "5 minutes", "targets": [{"type": "user", "name": "bob.wilson"}]},
    ]
    chain = EscalationPolicy.model_validate({"name": CHAIN_POLICY, "steps": steps, "repeat": 1})
    quiet = config.model_copy(
        update={"escalation_policies": [chain], "escalation_matrix": None, "runbooks": []}
    )
    ctx = make_ctx(db, with_chat(quiet), clock, slack)
    timers = TimerRunner()
    with TestClient(create_app(ctx)) as client:
        created = client.post(
            "/api/v1/incidents",
            json={"title": "Search is slow", "severity": "SEV3"},
            headers={"Authorization": f"Bearer {api_tokens.jane}"},
        )
        assert created.status_code == 201, created.text
    timers(ctx)  # step 1 pages jane
    opened = drain(ctx, runner, slack)
    assert opened[:2] == ["conversations.create", "conversations.invite"]
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None and channel.members == [JANE]

    clock.advance(minutes=5, seconds=1)
    timers(ctx)  # step 2 pages bob: he is invited, with his Slack id
    assert drain(ctx, runner, slack) == ["conversations.invite"]
    assert slack.calls() == [("conversations.invite", {"channel": channel.id, "users": BOB})]
    assert BOB in channel.members

    for _ in range(2):  # the second pass pages jane, then bob, again: no more invitations
        clock.advance(minutes=5, seconds=1)
        timers(ctx)
        assert drain(ctx, runner, slack) == []
    with db.unit_of_work() as uow:
        invites = [
            (a.payload["user"], a.status)
            for a in uow.session.scalars(select(ChatAction).where(ChatAction.kind == "invite"))
        ]
    # Jane's page asked for one too; she was in the channel since it opened.
    assert sorted(invites) == [("bob.wilson", "done"), ("jane.smith", "done")]


# --- warroom doctor ------------------------------------------------------------------------


def chat_lines(settings: Settings, clock: FakeClock, **more: Any) -> list[tuple[str, str]]:
    return [
        (f.level, f.message) for f in check(settings, now=clock.now(), **more) if f.area == "chat"
    ]


def test_doctor_tells_slack_settings_and_asks_slack_when_told(
    db: Database, clock: FakeClock, slack: FakeSlackWorkspace
) -> None:
    plain = Settings(database_url=db.url, config=EXAMPLES, auto_migrate=False)
    lines = chat_lines(plain, clock, ask_slack=True)
    assert lines[0][0] == "ok" and lines[0][1].startswith("Slack: not configured")
    assert lines[1] == ("ok", "Teams: none; Mattermost: none")

    token = Settings(
        database_url=db.url,
        config=EXAMPLES,
        auto_migrate=False,
        slack_token=SecretStr(slack.token),
        slack_base_url=slack.url,
    )
    (told, _) = chat_lines(token, clock)  # no Slack call unless asked
    assert "bot token set" in told[1] and "WARROOM_SLACK_SIGNING_SECRET not set" in told[1]
    assert slack.methods() == []
    lines = chat_lines(token, clock, ask_slack=True)
    assert ("ok", "Slack auth.test: the token works, as warroom in Fake Workspace") in lines
    assert slack.methods() == ["auth.test"]
    assert slack.token not in str(lines)

    wrong = token.model_copy(update={"slack_token": SecretStr("xoxb-not-the-token")})
    refused = [line for line in chat_lines(wrong, clock, ask_slack=True) if "auth.test" in line[1]]
    assert refused == [("fail", "Slack auth.test: invalid_auth")]
    assert "xoxb-not-the-token" not in str(refused)
