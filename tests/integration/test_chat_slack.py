"""The incident channel against a local Slack Web API, with requests signed as Slack signs.

GoAlert-style: each step lists exactly the Slack calls it must cause, and no others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from warroom.app import create_app
from warroom.chat.adapters import SlackChat
from warroom.chat.job import ChatRunner
from warroom.chat.models import ChatAction, ChatChannel
from warroom.clock import FakeClock
from warroom.config.chat import ChatConfig, SlackChannelConfig
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.incidents.models import Incident
from warroom.settings import Settings
from warroom.testing.slack_api import FakeSlackWorkspace
from warroom.timeline.models import TimelineEvent

SECRET = "e2b9c0d4a1f64f7f9c1d2e3f4a5b6c7d"
JANE, BOB, STRANGER = "U0JANE00001", "U0BOB000001", "U0NOBODY001"
BASE = "/api/v1/integrations/slack"


@pytest.fixture
def slack() -> Iterator[FakeSlackWorkspace]:
    users = [
        {"id": JANE, "name": "jane.smith", "email": "jane@example.com"},
        {"id": BOB, "name": "bob.wilson", "email": "bob@example.com"},
    ]
    with FakeSlackWorkspace(users=users, lifetime=60) as fake:
        yield fake


@pytest.fixture
def chat_config(config: WarroomConfig) -> WarroomConfig:
    ids = {"jane.smith": JANE, "bob.wilson": BOB}
    users = [u.model_copy(update={"slack": ids.get(u.handle, u.slack)}) for u in config.users]
    chat = ChatConfig(slack=SlackChannelConfig(enabled=True))
    return config.model_copy(update={"users": users, "chat": chat})


@pytest.fixture
def ctx(
    db: Database, chat_config: WarroomConfig, clock: FakeClock, slack: FakeSlackWorkspace
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
    return AppContext(settings=settings, db=db, config=chat_config, clock=clock)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


@pytest.fixture
def runner(slack: FakeSlackWorkspace) -> ChatRunner:
    return ChatRunner(SlackChat(token=slack.token, base_url=slack.url), owner="test-engine")


def signed(clock: FakeClock, body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(clock.now().timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def command(
    client: TestClient, clock: FakeClock, text: str, *, user: str = JANE, channel: str = "C0GENERAL"
) -> dict[str, str]:
    name = {JANE: "jane.smith", BOB: "bob.wilson"}.get(user, "stranger")
    body = urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": user,
            "user_name": name,
            "channel_id": channel,
            "team_id": "T0FAKE",
        }
    ).encode()
    headers = {**signed(clock, body), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(f"{BASE}/commands", content=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def press(client: TestClient, clock: FakeClock, action_id: str, value: str, user: str) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "x"},
        "channel": {"id": "C0X"},
        "actions": [{"action_id": action_id, "value": value}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**signed(clock, body), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(f"{BASE}/interactions", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["response_type"] == "in_channel", response.json()


def event(client: TestClient, clock: FakeClock, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    headers = {**signed(clock, body), "Content-Type": "application/json"}
    response = client.post(f"{BASE}/events", content=body, headers=headers)
    assert response.status_code == 200, response.text


def drain(ctx: AppContext, runner: ChatRunner, slack: FakeSlackWorkspace) -> list[str]:
    """Run the chat job until it has nothing due; return the Slack methods it called."""
    slack.clear()
    for _ in range(20):
        if runner(ctx) != 0.0:
            break
    return slack.methods()


def test_declare_claim_pin_resolve_from_slack(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    answer = command(client, clock, "declare SEV1 Payment processing failing")
    assert answer["response_type"] == "in_channel"
    assert "INC-1 declared at SEV1" in answer["text"]

    assert drain(ctx, runner, slack) == [
        "conversations.create",
        "conversations.invite",
        "conversations.setTopic",
        "chat.postMessage",
        "pins.add",
    ]
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None and not channel.private
    assert JANE in channel.members
    assert channel.topic.startswith("SEV1 - Payment processing failing - IC:")
    opening = channel.messages[channel.pins[0]]
    assert "INC-1: Payment processing failing" in json.dumps(opening["blocks"])

    press(client, clock, "warroom_claim_ic", "INC-1", JANE)
    after_a_role = ["chat.postMessage", "conversations.setTopic", "chat.update"]
    # Jane is in the channel since it opened: her role asks Slack for no invitation.
    assert drain(ctx, runner, slack) == after_a_role
    command(client, clock, "assign INC-1 scribe <@U0BOB000001|bob.wilson>", channel=channel.id)
    # Bob joins with his role: invited once, then the role is announced.
    assert drain(ctx, runner, slack) == ["conversations.invite", *after_a_role]
    assert ("conversations.invite", {"channel": channel.id, "users": BOB}) in slack.calls()
    assert BOB in channel.members
    assert "IC: Jane" in channel.topic

    clock.advance(minutes=3)
    said = slack.say(channel.id, BOB, "Rolled back payments to v2.3.0")
    reaction = {
        "type": "reaction_added",
        "user": JANE,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": said},
        "event_ts": "1710495300.000200",
    }
    envelope = {"type": "event_callback", "team_id": "T0FAKE", "event": reaction}
    event(client, clock, envelope)
    event(client, clock, envelope)  # Slack retries deliveries: the message lands once
    assert drain(ctx, runner, slack) == ["conversations.history", "chat.getPermalink"]
    with db.unit_of_work() as uow:
        notes = list(
            uow.session.scalars(
                select(TimelineEvent).where(
                    TimelineEvent.description == "Rolled back payments to v2.3.0"
                )
            )
        )
        assert len(notes) == 1
        assert notes[0].actor == "bob.wilson"
        assert notes[0].details["slack"]["permalink"].startswith("https://fake.slack.com/")

    clock.advance(minutes=10)
    answer = command(client, clock, "resolve Rolled back", channel=channel.id)
    assert "INC-1 is now resolved" in answer["text"]
    assert drain(ctx, runner, slack) == [
        "chat.postMessage",
        "conversations.setTopic",
        "chat.update",
        "chat.postMessage",
        "conversations.setTopic",
        "chat.update",
        "conversations.archive",
    ]
    assert channel.archived
    summary = [m for m in channel.messages.values() if "resolved*" in m["text"]]
    assert len(summary) == 1 and "Duration: 0 h 13 min" in summary[0]["text"]


def test_bad_missing_or_replayed_signatures_are_401_and_change_nothing(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    body = urlencode({"text": "declare SEV2 Forged", "user_id": JANE}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = signed(clock, body, secret="not-the-secret-at-all")
    replay = signed(clock, body)
    clock.advance(minutes=6)
    for headers in ({}, wrong, replay):
        response = client.post(f"{BASE}/commands", content=body, headers={**form, **headers})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    with db.unit_of_work() as uow:
        assert uow.session.scalar(select(Incident.id)) is None


def test_url_verification_answers_the_challenge(client: TestClient, clock: FakeClock) -> None:
    ssl_check = b"ssl_check=1&token=x"
    headers = {**signed(clock, ssl_check), "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(f"{BASE}/commands", content=ssl_check, headers=headers).status_code == 200
    no_user = b"text=ack"
    headers = {**signed(clock, no_user), "Content-Type": "application/x-www-form-urlencoded"}
    refused = client.post(f"{BASE}/commands", content=no_user, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["field"] == "user_id"
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"}).encode()
    response = client.post(f"{BASE}/events", content=body, headers=signed(clock, body))
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
    response = client.post(f"{BASE}/events", content=body)
    assert response.status_code == 401


def test_unknown_slack_user_is_told_and_nothing_changes(
    client: TestClient, clock: FakeClock, db: Database
) -> None:
    answer = command(client, clock, "declare SEV2 Search slow", user=STRANGER)
    assert answer["response_type"] == "ephemeral"
    assert "not mapped to a warroom user" in answer["text"] and STRANGER in answer["text"]
    with db.unit_of_work() as uow:
        assert uow.session.scalar(select(Incident.id)) is None


def test_refusals_are_ephemeral_and_name_who_may(client: TestClient, clock: FakeClock) -> None:
    command(client, clock, "declare SEV2 Checkout errors")
    assert "Incident commander" in command(client, clock, "claim INC-1 ic")["text"]
    answer = command(client, clock, "severity INC-1 SEV1 worse", user=BOB)
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Refused:") and "jane.smith" in answer["text"]
    assert "usage" in command(client, clock, "assign INC-1 ic")["text"]
    assert "`/incident` commands" in command(client, clock, "help")["text"]


def test_rate_limits_and_name_collisions_are_survived_without_a_second_channel(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    slack.add_channel("incident-20240315-1")
    with slack.outage():
        command(client, clock, "declare SEV2 Database down")  # Slack down: declaring works
    slack.fail_next(status=429, retry_after=30)
    assert drain(ctx, runner, slack) == ["conversations.create"]
    with db.unit_of_work() as uow:
        action = uow.session.scalars(select(ChatAction)).one()
        assert action.status == "pending" and "ratelimited" in (action.last_error or "")
        assert action.due_at >= clock.now() + timedelta(seconds=30)
    assert drain(ctx, runner, slack) == []  # not before Slack's Retry-After
    clock.advance(seconds=31)
    assert drain(ctx, runner, slack) == [
        "conversations.create",
        "conversations.create",
        "conversations.invite",
        "conversations.setTopic",
        "chat.postMessage",
        "pins.add",
    ]
    assert slack.channel_named("incident-20240315-1-2") is not None
    clock.advance(minutes=5)
    assert drain(ctx, runner, slack) == []
    with db.unit_of_work() as uow:
        assert len(list(uow.session.scalars(select(ChatChannel)))) == 1


def test_api_declarations_open_channels_and_changes_post(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: object,
) -> None:
    token = api_tokens.jane  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/incidents",
        json={"title": "Login broken", "severity": "SEV3", "restricted": True},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    drain(ctx, runner, slack)
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None and channel.private
    response = client.post(
        "/api/v1/incidents/INC-1/status",
        json={"status": "identified", "message": "Bad cert"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert drain(ctx, runner, slack) == [
        "chat.postMessage",
        "conversations.setTopic",
        "chat.update",
    ]
    assert any(
        "identified" in m["text"] and "Bad cert" in m["text"] for m in channel.messages.values()
    )


@pytest.fixture
def handle_config(config: WarroomConfig) -> WarroomConfig:
    """The example users as they are (`slack: "@jane.smith"`), SEV1 inviting bob."""
    chat = ChatConfig(
        slack=SlackChannelConfig(
            enabled=True,
            channel_name="inc-{number}-{title}",  # the pattern is configurable
            invite={"SEV1": ["bob.wilson"]},
            bridge_url="https://meet.example.com/warroom",
        )
    )
    return config.model_copy(update={"chat": chat})


def test_sev1_invites_by_handle_and_posts_the_bridge(
    db: Database,
    handle_config: WarroomConfig,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: object,
) -> None:
    settings = Settings(
        database_url=db.url,
        auto_migrate=False,
        engine=False,
        slack_signing_secret=SecretStr(SECRET),
    )
    ctx = AppContext(settings=settings, db=db, config=handle_config, clock=clock)
    with TestClient(create_app(ctx)) as client:
        created = client.post(
            "/api/v1/incidents",
            json={"title": "Everything down", "severity": "SEV1"},
            headers={"Authorization": f"Bearer {api_tokens.jane}"},  # type: ignore[attr-defined]
        )
        assert created.status_code == 201, created.text
    assert drain(ctx, runner, slack) == [
        "conversations.create",
        "users.list",
        "conversations.invite",
        "conversations.setTopic",
        "chat.postMessage",
        "pins.add",
    ]
    channel = slack.channel_named("inc-1-everything-down")
    assert channel is not None
    assert sorted(channel.members) == sorted([JANE, BOB])
    opening = channel.messages[channel.pins[0]]
    assert "https://meet.example.com/warroom" in json.dumps(opening["blocks"])

    said = slack.say(channel.id, BOB, "Failing over to the standby region")
    item = {"type": "message", "channel": channel.id, "ts": said}
    reaction = {"type": "reaction_added", "user": JANE, "reaction": "pushpin", "item": item}
    with TestClient(create_app(ctx)) as client:
        event(client, clock, {"type": "event_callback", "event": reaction})
    assert drain(ctx, runner, slack) == ["conversations.history", "chat.getPermalink"]
    with db.unit_of_work() as uow:
        note = uow.session.scalars(
            select(TimelineEvent).where(TimelineEvent.description.startswith("Failing over"))
        ).one()
        assert note.actor == "bob.wilson"  # the member behind "@bob.wilson"


def test_unmarking_is_recorded_and_removes_nothing(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    command(client, clock, "declare SEV3 Flaky tests")
    drain(ctx, runner, slack)
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None
    said = slack.say(channel.id, JANE, "Disabled the flaky suite")
    item = {"type": "message", "channel": channel.id, "ts": said}
    for kind, stamp in (("reaction_added", "1.1"), ("reaction_removed", "1.2")):
        reaction = {
            "type": kind,
            "user": JANE,
            "reaction": "pushpin",
            "item": item,
            "event_ts": stamp,
        }
        event(client, clock, {"type": "event_callback", "event": reaction})
    other = {"type": "reaction_added", "user": JANE, "reaction": "eyes", "item": item}
    event(client, clock, {"type": "event_callback", "event": other})  # not the marker
    assert drain(ctx, runner, slack) == ["conversations.history", "chat.getPermalink"]
    with db.unit_of_work() as uow:
        texts = [e.description for e in uow.session.scalars(select(TimelineEvent))]
    assert texts.count("Disabled the flaky suite") == 1
    assert any("unmarked by jane.smith" in t for t in texts)


def test_notes_and_the_chat_outbox_listing(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    api_tokens: object,
) -> None:
    command(client, clock, "declare SEV3 Cache misses")
    answer = command(client, clock, "note INC-1 Hit rate back at 92%")
    assert "Note added to INC-1" in answer["text"]
    slack.fail_next_with("internal_error")
    drain(ctx, runner, slack)
    jane = {"Authorization": f"Bearer {api_tokens.jane}"}  # type: ignore[attr-defined]
    bob = {"Authorization": f"Bearer {api_tokens.bob}"}  # type: ignore[attr-defined]
    listed = client.get(f"{BASE}/actions", headers=jane).json()
    assert [(a["kind"], a["incident"], a["status"]) for a in listed] == [
        ("open", "INC-1", "pending")
    ]
    assert "internal_error" in listed[0]["last_error"]
    assert client.get(f"{BASE}/actions").status_code == 401
    timeline = client.get("/api/v1/incidents/INC-1/timeline", headers=jane).json()
    assert any(e["description"] == "Hit rate back at 92%" for e in timeline["events"])

    secret = client.post(
        "/api/v1/incidents",
        json={"title": "Breach", "severity": "SEV2", "restricted": True},
        headers=jane,
    )
    assert secret.status_code == 201
    assert len(client.get(f"{BASE}/actions", headers=jane).json()) == 2
    assert [a["incident"] for a in client.get(f"{BASE}/actions", headers=bob).json()] == ["INC-1"]


def test_without_a_signing_secret_every_request_is_refused(
    db: Database, chat_config: WarroomConfig, clock: FakeClock
) -> None:
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    ctx = AppContext(settings=settings, db=db, config=chat_config, clock=clock)
    body = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    with TestClient(create_app(ctx)) as client:
        response = client.post(f"{BASE}/events", content=body, headers=signed(clock, body))
    assert response.status_code == 401
    assert "WARROOM_SLACK_SIGNING_SECRET" in response.json()["error"]["message"]


def _interaction(client: TestClient, clock: FakeClock, payload: dict[str, object]) -> object:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**signed(clock, body), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(f"{BASE}/interactions", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json() if response.content else None


def test_declare_without_a_title_opens_the_form_and_its_submission_declares(
    client: TestClient, clock: FakeClock, slack: FakeSlackWorkspace, db: Database
) -> None:
    body = urlencode(
        {
            "command": "/incident",
            "text": "declare",
            "user_id": JANE,
            "user_name": "jane.smith",
            "channel_id": "C0GENERAL",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    ).encode()
    headers = {**signed(clock, body), "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(f"{BASE}/commands", content=body, headers=headers)
    assert response.status_code == 200 and not response.content
    assert slack.methods() == ["views.open"]
    (modal,) = slack.views
    options = modal["blocks"][1]["element"]["options"]
    assert [o["value"] for o in options] == ["SEV1", "SEV2", "SEV3", "SEV4"]

    def submission(title: str, severity: str | None) -> dict[str, object]:
        chosen = {"selected_option": {"value": severity}} if severity else {}
        values = {
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "severity": {"value": {"type": "static_select", **chosen}},
        }
        return {
            "type": "view_submission",
            "user": {"id": JANE, "username": "jane.smith"},
            "view": {
                "callback_id": "warroom_declare",
                "private_metadata": "C0GENERAL",
                "state": {"values": values},
            },
        }

    answer = _interaction(client, clock, submission("", None))
    assert answer == {
        "response_action": "errors",
        "errors": {"title": "Say what is happening", "severity": "Choose a severity"},
    }
    assert _interaction(client, clock, submission("Checkout 500s", "SEV2")) is None
    with db.unit_of_work() as uow:
        incident = uow.session.scalars(select(Incident)).one()
        assert (incident.title, incident.severity, incident.created_by) == (
            "Checkout 500s",
            "SEV2",
            "jane.smith",
        )


def test_a_pinned_message_lands_once_and_warroom_pinning_its_own_is_ignored(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    command(client, clock, "declare SEV2 Disk full")
    drain(ctx, runner, slack)
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None
    said = slack.say(channel.id, BOB, "Deleted 40 GB of old logs")
    for ts in (channel.pins[0], said):
        message = {"type": "message", "ts": ts, "text": "..."}
        pin = {
            "type": "pin_added",
            "user": BOB,
            "channel_id": channel.id,
            "item": {"type": "message", "channel": channel.id, "message": message},
        }
        event(client, clock, {"type": "event_callback", "event": pin})
    reaction = {
        "type": "reaction_added",
        "user": JANE,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel.id, "ts": said},
    }
    event(client, clock, {"type": "event_callback", "event": reaction})  # pinned and marked
    assert drain(ctx, runner, slack) == ["conversations.history", "chat.getPermalink"]
    with db.unit_of_work() as uow:
        texts = [e.description for e in uow.session.scalars(select(TimelineEvent))]
    assert texts.count("Deleted 40 GB of old logs") == 1


def test_messages_wait_for_the_channel_and_a_permanent_error_stops(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    command(client, clock, "declare SEV2 Webhooks delayed")
    command(client, clock, "ack INC-1")
    slack.fail_next(status=503)
    assert drain(ctx, runner, slack) == ["conversations.create"]  # the post waits, unsent
    clock.advance(seconds=11)
    assert drain(ctx, runner, slack) == [
        "conversations.create",
        "conversations.invite",
        "conversations.setTopic",
        "chat.postMessage",
        "pins.add",
        "chat.postMessage",
        "conversations.setTopic",
        "chat.update",
    ]
    with db.unit_of_work() as uow:
        post = uow.session.scalars(select(ChatAction).where(ChatAction.kind == "post")).one()
        assert (post.status, post.attempts) == ("done", 1)

    command(client, clock, "declare SEV3 Second one")
    slack.fail_next_with("restricted_action")
    assert drain(ctx, runner, slack) == ["conversations.create"]
    clock.advance(hours=1)
    assert drain(ctx, runner, slack) == []  # permanent: not retried
    with db.unit_of_work() as uow:
        failed = uow.session.scalars(select(ChatAction).where(ChatAction.status == "failed")).one()
        assert "restricted_action" in (failed.last_error or "")
        assert uow.session.get(Incident, 2) is not None


def test_the_engine_runs_the_chat_job_only_when_chat_is_configured(
    ctx: AppContext, config: WarroomConfig, caplog: pytest.LogCaptureFixture
) -> None:
    from warroom.chat.job import chat_jobs

    assert [job.name for job in chat_jobs(ctx, timedelta(seconds=60))] == ["chat"]
    off = AppContext(settings=ctx.settings, db=ctx.db, config=config, clock=ctx.clock)
    assert chat_jobs(off, timedelta(seconds=60)) == []
    no_token = Settings(database_url=ctx.db.url, auto_migrate=False, engine=False)
    tokenless = AppContext(settings=no_token, db=ctx.db, config=ctx.config, clock=ctx.clock)
    assert chat_jobs(tokenless, timedelta(seconds=60)) == []
    assert "WARROOM_SLACK_TOKEN is not set" in caplog.text


def test_titles_cannot_ping_the_channel(
    client: TestClient,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
) -> None:
    answer = command(client, clock, "declare SEV3 <!channel> down & out")
    assert (
        "&lt;!channel&gt; down &amp; out" in answer["text"] and "<!channel>" not in answer["text"]
    )
    drain(ctx, runner, slack)
    command(client, clock, "claim INC-1 ic")
    command(client, clock, "resolve INC-1 fixed <!here>")
    drain(ctx, runner, slack)
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None
    posted = [m["text"] for m in channel.messages.values()]
    assert not any("<!channel>" in t or "<!here>" in t for t in posted), posted
    assert any("&lt;!here&gt;" in t for t in posted)


def test_resolve_without_a_message_opens_the_form_and_the_rules_still_apply(
    client: TestClient, clock: FakeClock, slack: FakeSlackWorkspace, db: Database
) -> None:
    command(client, clock, "declare SEV2 Payments slow")
    command(client, clock, "claim INC-1 ic")
    slack.clear()
    body = urlencode(
        {
            "command": "/incident",
            "text": "resolve INC-1",
            "user_id": JANE,
            "user_name": "jane.smith",
            "channel_id": "C0GENERAL",
            "trigger_id": "1337.42.abcdef",
        }
    ).encode()
    headers = {**signed(clock, body), "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(f"{BASE}/commands", content=body, headers=headers).status_code == 200
    assert slack.methods() == ["views.open"]
    assert slack.views[-1]["private_metadata"] == "INC-1"

    def submission(user: str, message: str) -> dict[str, object]:
        values = {"message": {"value": {"type": "plain_text_input", "value": message}}}
        return {
            "type": "view_submission",
            "user": {"id": user, "username": "x"},
            "view": {
                "callback_id": "warroom_resolve",
                "private_metadata": "INC-1",
                "state": {"values": values},
            },
        }

    assert _interaction(client, clock, submission(JANE, " ")) == {
        "response_action": "errors",
        "errors": {"message": "Say how it was resolved"},
    }
    refused = _interaction(client, clock, submission(BOB, "I think it is fine"))
    assert isinstance(refused, dict) and "jane.smith" in refused["errors"]["message"]
    assert _interaction(client, clock, submission(JANE, "Scaled the pool")) is None
    with db.unit_of_work() as uow:
        assert uow.session.get(Incident, 1).status == "resolved"  # type: ignore[union-attr]


def test_a_hanging_slack_never_holds_up_the_engine_loop(ctx: AppContext) -> None:
    import threading
    import time as clock_time

    from warroom.chat.job import InBackground

    release = threading.Event()
    passes: list[float] = []

    def slow_pass(_: AppContext) -> float | None:
        passes.append(clock_time.monotonic())
        release.wait(5)  # Slack not answering
        return None

    job = InBackground(slow_pass)
    started = clock_time.monotonic()
    for _ in range(5):
        assert job(ctx) is None
    assert clock_time.monotonic() - started < 0.5  # the loop went on at once
    release.set()
    job.close()
    assert len(passes) == 1  # one pass at a time, never a pile of them
