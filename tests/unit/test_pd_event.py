"""parse_pd_event: PagerDuty's messages, and the event it builds (without AlertEvent's
__init__, see `_pd_event`) is the one the constructor builds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from warroom.alerts.logic import (
    Action,
    AlertEvent,
    AlertSeverity,
    InvalidEvent,
    parse_pd_event,
)

KEY = "a1" * 16


def trigger(**payload: Any) -> dict[str, Any]:
    return {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "disk-1",
        "payload": {
            "summary": "DISK at 99%",
            "source": "db-1",
            "severity": "critical",
            "timestamp": "2024-03-15T09:30:00.000+0000",
            "component": "mysql",
            "group": "prod",
            "class": "disk",
            "custom_details": {"free space": "1%"},
            **payload,
        },
        "client": "tests",
    }


def test_the_event_is_the_one_the_constructor_builds() -> None:
    assert not hasattr(AlertEvent, "__post_init__")
    routing_key, event = parse_pd_event(trigger())
    want = AlertEvent(
        action=Action.TRIGGER,
        dedup_key="disk-1",
        summary="DISK at 99%",
        source="db-1",
        severity=AlertSeverity.CRITICAL,
        timestamp=datetime(2024, 3, 15, 9, 30, tzinfo=UTC),
        component="mysql",
        group="prod",
        class_="disk",
        details={"free space": "1%"},
        payload={k: v for k, v in trigger().items() if k != "routing_key"},
    )
    assert routing_key == KEY
    assert event == want
    assert list(vars(event).items()) == list(vars(want).items())
    assert list(vars(event)) == [f.name for f in dataclasses.fields(AlertEvent)]
    assert list(event.payload) == ["event_action", "dedup_key", "payload", "client"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.summary = "changed"  # type: ignore[misc]
    assert dataclasses.replace(event, summary="other").summary == "other"


def test_each_event_has_its_own_labels() -> None:
    _, one = parse_pd_event(trigger())
    _, two = parse_pd_event(trigger())
    assert one.labels == {} and one.labels is not two.labels


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ([], ["Event object must be a JSON object"]),
        (
            {},
            ["'routing_key' is missing or blank", "'event_action' is missing or blank"],
        ),
        (
            {"routing_key": "short", "event_action": "explode", "links": {}},
            [
                "Length of 'routing_key' is incorrect (should be 32 characters)",
                "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)",
                "'links' must be an array",
            ],
        ),
        (
            {"routing_key": KEY, "event_action": "resolve", "dedup_key": " "},
            ["'dedup_key' is missing or blank"],
        ),
        (
            {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": 5},
            ["'dedup_key' must be a string"],
        ),
        (
            {"routing_key": KEY, "event_action": "trigger", "dedup_key": "k" * 256},
            ["'dedup_key' is too long (max 255 characters)", "'payload' is missing or blank"],
        ),
        (
            trigger(summary=" ", source=None, severity="Critical", timestamp="9 am"),
            [
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
                "'payload.timestamp' is invalid (must be ISO 8601 with an offset)",
            ],
        ),
        (
            trigger(severity=None),
            ["'payload.severity' is invalid (must be one of: critical, error, warning, info)"],
        ),
    ],
)
def test_messages_name_the_field(body: Any, errors: list[str]) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_pd_event(body)
    assert caught.value.errors == errors


def test_the_trigger_fields_are_read_as_before() -> None:
    _, event = parse_pd_event(
        trigger(summary=12, source=["a"], timestamp="2024-03-15T10:30:00+01:00", custom_details=3)
    )
    assert (event.summary, event.source) == ("12", '["a"]')
    assert event.timestamp == datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    assert event.details == {"custom_details": 3}
    body = trigger()
    del body["dedup_key"]
    _, event = parse_pd_event(body)
    assert len(event.dedup_key) == 32
