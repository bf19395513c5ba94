"""`/incident update`, `/incident handoff` and the opening message's *Update status*
button, against the local Slack Web API, signed as Slack signs; each step lists exactly
the Slack calls it causes and what lands on the timeline."""

from __future__ import annotations

from sqlalchemy import select

from tests.integration.test_chat_slack import (
    BOB,
    JANE,
    STRANGER,
    _interaction,
    chat_config,
    client,
    command,
    ctx,
    drain,
    runner,
    slack,
)
from warroom.chat.job import ChatRunner
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.db import Database
from warroom.handoffs.models import Handoff
from warroom.incidents.models import Incident
from warroom.testing.slack_api import FakeSlackWorkspace
from warroom.timeline.models import TimelineEvent

__all__ = ["chat_config", "client", "ctx", "runner", "slack"]  # the shared fixtures

AFTER_A_ROLE = ["conversations.invite", "chat.postMessage", "conversations.setTopic", "chat.update"]


def _timeline(db: Database) -> list[str]:
    with db.unit_of_work() as uow:
        query = select(TimelineEvent.description).order_by(TimelineEvent.id)
        return list(uow.session.scalars(query))


def _commander(db: Database) -> str | None:
    with db.unit_of_work() as uow:
        incident = uow.session.scalars(select(Incident)).one()
        return next((r.user for r in incident.roles if r.role == "incident_commander"), None)


def _declared_with_jane_commanding(
    client: object, ctx: AppContext, clock: FakeClock, slack: FakeSlackWorkspace, runner: ChatRunner
) -> str:
    command(client, clock, "declare SEV2 Checkout errors")  # type: ignore[arg-type]
    command(client, clock, "claim INC-1 ic")  # type: ignore[arg-type]
    drain(ctx, runner, slack)
    channel = slack.channel_named("incident-20240315-1")
    assert channel is not None
    return channel.id


def test_handoff_is_drafted_by_the_commander_and_confirmed_by_the_incoming(
    client: object,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    channel = _declared_with_jane_commanding(client, ctx, clock, slack, runner)
    before = _timeline(db)

    answer = command(client, clock, "handoff INC-1 @jane.smith", user=STRANGER)  # type: ignore[arg-type]
    assert answer["response_type"] == "ephemeral" and "not mapped" in answer["text"]
    answer = command(client, clock, "handoff INC-1 @nobody.here")  # type: ignore[arg-type]
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == "Refused: @nobody.here is not a warroom user"
    answer = command(client, clock, "handoff INC-1 @jane.smith", user=BOB)  # type: ignore[arg-type]
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Refused:") and "jane.smith" in answer["text"]
    with db.unit_of_work() as uow:
        assert uow.session.scalar(select(Handoff.id)) is None
    assert _timeline(db) == before and drain(ctx, runner, slack) == []

    clock.advance(minutes=5)
    answer = command(client, clock, "handoff <@U0BOB000001|bob.wilson>", channel=channel)  # type: ignore[arg-type]
    assert answer["response_type"] == "in_channel"
    assert answer["text"] == (
        "Handoff of command of INC-1 drafted by jane.smith: jane.smith to bob.wilson. "
        "bob.wilson confirms with `/incident handoff INC-1 confirm`"
    )
    assert _timeline(db)[len(before) :] == ["Handoff of command drafted: jane.smith to bob.wilson"]
    assert drain(ctx, runner, slack) == []
    again = command(client, clock, "handoff INC-1 @bob.wilson")  # type: ignore[arg-type]
    assert "waiting" in again["text"] and again["response_type"] == "ephemeral"

    refused = command(client, clock, "handoff confirm", channel=channel)  # type: ignore[arg-type]
    assert refused["response_type"] == "ephemeral"
    assert "only the incoming Incident Commander (bob.wilson)" in refused["text"]
    assert _commander(db) == "jane.smith"

    clock.advance(minutes=1)
    answer = command(client, clock, "handoff confirm", user=BOB, channel=channel)  # type: ignore[arg-type]
    assert answer == {
        "response_type": "in_channel",
        "text": "bob.wilson took over command of INC-1 from jane.smith",
    }
    assert _commander(db) == "bob.wilson"
    assert drain(ctx, runner, slack) == AFTER_A_ROLE
    room = slack.channel_named("incident-20240315-1")
    assert room is not None and BOB in room.members and "IC: Bob" in room.topic
    assert any(
        t.startswith("Command handed off: bob.wilson confirmed taking over") for t in _timeline(db)
    )
    with db.unit_of_work() as uow:
        assert uow.session.scalars(select(Handoff.status)).one() == "confirmed"
    nothing = command(client, clock, "handoff INC-1 confirm", user=BOB)  # type: ignore[arg-type]
    assert nothing["text"] == "Refused: INC-1 has no handoff waiting for confirmation"


def test_stakeholder_update_goes_through_the_update_service(
    client: object,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    channel = _declared_with_jane_commanding(client, ctx, clock, slack, runner)
    before = _timeline(db)

    answer = command(client, clock, "update internal Failover done", user=STRANGER, channel=channel)  # type: ignore[arg-type]
    assert answer["response_type"] == "ephemeral" and "not mapped" in answer["text"]
    answer = command(client, clock, "update INC-1 board Failover done")  # type: ignore[arg-type]
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Refused: audiences.0:")
    assert "usage: /incident update" in command(client, clock, "update INC-1 internal")["text"]  # type: ignore[arg-type]
    assert _timeline(db) == before

    clock.advance(minutes=10)
    answer = command(client, clock, "update internal Failover done, watching", channel=channel)  # type: ignore[arg-type]
    assert answer["response_type"] == "in_channel", answer
    assert answer["text"].startswith("Stakeholder update on INC-1 by jane.smith to internal (")
    (added,) = _timeline(db)[len(before) :]
    assert added.startswith("Stakeholder update: internal (")
    assert added.endswith(": Failover done, watching")
    with db.unit_of_work() as uow:
        event = uow.session.scalars(
            select(TimelineEvent).where(TimelineEvent.description == added)
        ).one()
        assert (event.type, event.actor, event.timestamp) == (
            "communication",
            "jane.smith",
            clock.now(),
        )
    assert drain(ctx, runner, slack) == []  # the channel already saw the answer


def _press_update_status(client: object, clock: FakeClock, user: str, trigger: str) -> object:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "x"},
        "channel": {"id": "C0X"},
        "trigger_id": trigger,
        "actions": [{"action_id": "warroom_update_status", "value": "INC-1"}],
    }
    return _interaction(client, clock, payload)  # type: ignore[arg-type]


def _status_submission(user: str, status: str | None, message: str) -> dict[str, object]:
    chosen = {"selected_option": {"value": status}} if status else {}
    values = {
        "status": {"value": {"type": "static_select", **chosen}},
        "message": {"value": {"type": "plain_text_input", "value": message}},
    }
    return {
        "type": "view_submission",
        "user": {"id": user, "username": "x"},
        "view": {
            "callback_id": "warroom_status",
            "private_metadata": "INC-1",
            "state": {"values": values},
        },
    }


def test_the_update_status_button_opens_a_form_whose_submission_follows_the_rules(
    client: object,
    ctx: AppContext,
    clock: FakeClock,
    slack: FakeSlackWorkspace,
    runner: ChatRunner,
    db: Database,
) -> None:
    _declared_with_jane_commanding(client, ctx, clock, slack, runner)
    slack.clear()
    assert _press_update_status(client, clock, JANE, "1334.5224.abc") is None
    assert slack.methods() == ["views.open"]
    (modal,) = slack.views
    assert (modal["callback_id"], modal["private_metadata"]) == ("warroom_status", "INC-1")
    options = modal["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]

    slack.clear()
    hint = _press_update_status(client, clock, JANE, "")
    assert hint == {
        "response_type": "ephemeral",
        "text": "Set the status with `/incident status INC-1 STATUS [message]`.",
    }
    stranger = _press_update_status(client, clock, STRANGER, "1334.5224.abd")
    assert isinstance(stranger, dict) and "not mapped" in stranger["text"]
    # Only asked who they are (by e-mail, docs/chat.md); no form opened.
    assert slack.methods() == ["users.info"]

    before = _timeline(db)
    empty = _interaction(client, clock, _status_submission(JANE, None, ""))  # type: ignore[arg-type]
    assert empty == {"response_action": "errors", "errors": {"status": "Choose a status"}}
    refused = _interaction(client, clock, _status_submission(BOB, "resolved", "Fixed"))  # type: ignore[arg-type]
    assert isinstance(refused, dict) and refused["response_action"] == "errors"
    assert "jane.smith" in refused["errors"]["status"]
    assert _timeline(db) == before

    clock.advance(minutes=2)
    done = _interaction(client, clock, _status_submission(JANE, "identified", "Bad deploy"))  # type: ignore[arg-type]
    assert done is None
    with db.unit_of_work() as uow:
        assert uow.session.scalars(select(Incident.status)).one() == "identified"
    assert len(_timeline(db)) == len(before) + 1
    assert drain(ctx, runner, slack) == [
        "chat.postMessage",
        "conversations.setTopic",
        "chat.update",
    ]
