"""Contact methods, personal notification rules, default plans and fallback order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from warroom.config.people import User, normalise_phone
from warroom.config.schema import WarroomConfig
from warroom.notifications.logic import (
    PlannedContact,
    contact_methods,
    contact_plan,
    fallback_order,
)

MIN = timedelta(minutes=1)


def user(**fields: Any) -> User:
    return User.model_validate({"handle": "jane.smith", "name": "Jane Smith", **fields})


def plan(u: User, urgency: str = "high") -> list[tuple[int, str, str]]:
    return [
        (int(c.after.total_seconds()), c.channel, c.address)
        for c in contact_plan(u, urgency)  # type: ignore[arg-type]
    ]


# --- contact methods --------------------------------------------------------------------


def test_shorthand_fields_are_implicit_methods() -> None:
    u = user(email="jane@example.com", phone="+1 (555) 010-0110", slack="@jane")
    assert [(m.type.value, m.address) for m in contact_methods(u)] == [
        ("email", "jane@example.com"),
        ("sms", "+15550100110"),
        ("voice", "+15550100110"),
        ("slack", "@jane"),
    ]
    assert u.phone == "+1 (555) 010-0110"  # the shorthand field is kept as written


def test_explicit_methods_come_first_and_are_not_duplicated() -> None:
    u = user(
        email="jane@example.com",
        contact_methods=[
            {"type": "email", "address": "jane@example.com", "label": "work"},
            {"type": "sms", "address": "+44 20-7946-0000", "label": "mobile"},
        ],
    )
    methods = contact_methods(u)
    assert [(m.type.value, m.address, m.label) for m in methods] == [
        ("email", "jane@example.com", "work"),
        ("sms", "+442079460000", "mobile"),
    ]


@pytest.mark.parametrize(
    ("method", "message"),
    [
        ({"type": "sms", "address": "555-0110"}, "international form"),
        ({"type": "voice", "address": "+1 555 CALL ME"}, "international form"),
        ({"type": "email", "address": "jane at example.com"}, "not an email"),
        ({"type": "email", "address": "jane @example.com"}, "not an email"),
        ({"type": "webhook", "address": "ftp://example.com/x"}, "http"),
        ({"type": "teams", "address": "http://example.com/hook"}, "https"),
        ({"type": "slack", "address": "jane smith"}, "Slack address"),
        ({"type": "pager", "address": "x"}, "type"),
        ({"type": "sms", "address": "+15550110", "extra": 1}, "extra"),
    ],
)
def test_bad_contact_methods_are_refused(method: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        user(contact_methods=[method])


def test_shorthand_email_and_phone_are_checked() -> None:
    with pytest.raises(ValidationError, match="not an email"):
        user(email="jane.example.com")
    with pytest.raises(ValidationError, match="international form"):
        user(phone="0110")


def test_phone_normalisation() -> None:
    assert normalise_phone(" +49 (30) 1234-5678 ") == "+493012345678"
    assert normalise_phone("+1.555.010.0110") == "+15550100110"
    with pytest.raises(ValueError):
        normalise_phone("+0123456")


# --- rules --------------------------------------------------------------------------------


def test_rules_must_name_a_method_the_user_has() -> None:
    with pytest.raises(ValidationError, match=r"notification_rules\.0\.method: 'voice'"):
        user(email="jane@example.com", notification_rules=[{"method": "voice"}])
    with pytest.raises(ValidationError, match="duplicate label 'phone'"):
        user(
            contact_methods=[
                {"type": "sms", "address": "+15550110", "label": "phone"},
                {"type": "voice", "address": "+15550110", "label": "Phone"},
            ]
        )
    with pytest.raises(ValidationError, match="is a method type"):
        user(contact_methods=[{"type": "sms", "address": "+15550110", "label": "voice"}])
    with pytest.raises(ValidationError, match="urgency"):
        user(email="j@example.com", notification_rules=[{"method": "email", "urgency": "now"}])


def test_personal_rules_push_at_0_sms_at_2_voice_at_5() -> None:
    u = user(
        email="jane@example.com",
        phone="+15550110",
        slack="@jane",
        notification_rules=[
            {"after": 0, "method": "slack"},
            {"after": "2 minutes", "method": "sms"},
            {"after": "5m", "method": "voice", "urgency": "high"},
        ],
    )
    assert plan(u, "high") == [
        (0, "slack", "@jane"),
        (120, "sms", "+15550110"),
        (300, "voice", "+15550110"),
    ]
    assert plan(u, "low") == [(0, "slack", "@jane"), (120, "sms", "+15550110")]


def test_a_rule_by_label_reaches_that_method_only() -> None:
    u = user(
        contact_methods=[
            {"type": "sms", "address": "+15550110", "label": "work"},
            {"type": "sms", "address": "+15550199", "label": "home"},
        ],
        notification_rules=[
            {"after": 0, "method": "home"},
            {"after": "10 minutes", "method": "sms"},
        ],
    )
    assert contact_plan(u, "high") == [
        PlannedContact(timedelta(0), "sms", "+15550199", "home"),
        PlannedContact(10 * MIN, "sms", "+15550110", "work"),
        PlannedContact(10 * MIN, "sms", "+15550199", "home"),
    ]


def test_defaults_without_rules() -> None:
    u = user(email="jane@example.com", phone="+15550110", slack="@jane")
    assert plan(u, "high") == [
        (0, "email", "jane@example.com"),
        (0, "slack", "@jane"),
        (60, "sms", "+15550110"),
        (180, "voice", "+15550110"),
    ]
    assert plan(u, "low") == [(0, "email", "jane@example.com"), (0, "slack", "@jane")]


def test_low_urgency_still_reaches_a_phone_only_user() -> None:
    u = user(phone="+15550110")
    assert plan(u, "low") == [(0, "sms", "+15550110")]
    assert plan(user(), "high") == []


def test_rules_for_the_other_urgency_only_fall_back_to_defaults() -> None:
    u = user(
        email="jane@example.com",
        phone="+15550110",
        notification_rules=[{"after": 0, "method": "voice", "urgency": "high"}],
    )
    assert plan(u, "high") == [(0, "voice", "+15550110")]
    assert plan(u, "low") == [(0, "email", "jane@example.com")]


# --- fallback -----------------------------------------------------------------------------


def test_fallback_follows_the_users_own_order_and_skips_what_failed() -> None:
    u = user(
        email="jane@example.com",
        phone="+15550110",
        slack="@jane",
        notification_rules=[
            {"after": 0, "method": "slack"},
            {"after": "2m", "method": "sms"},
            {"after": "5m", "method": "voice"},
        ],
    )
    order = fallback_order(u, "slack")
    assert [(c.channel, c.after) for c in order] == [
        ("sms", timedelta(0)),
        ("voice", timedelta(0)),
        ("email", timedelta(0)),
    ]
    assert [c.channel for c in fallback_order(u, "sms", tried=["slack", "voice"])] == ["email"]
    assert fallback_order(u, "email", tried=["slack", "sms", "voice"]) == []


def test_fallback_for_a_user_without_rules_uses_the_default_order() -> None:
    u = user(email="jane@example.com", phone="+15550110", slack="@jane")
    assert [c.channel for c in fallback_order(u, "email")] == ["slack", "sms", "voice"]


# --- the example configuration -------------------------------------------------------------


def test_example_users_have_rules(config: WarroomConfig) -> None:
    jane = config.user("jane.smith")
    assert jane is not None
    assert plan(jane, "high") == [
        (0, "email", "jane.smith@example.com"),
        (0, "slack", "@jane.smith"),
        (120, "sms", "+15550110"),
        (300, "voice", "+15550110"),
    ]
    bob = config.user("bob.wilson")
    assert bob is not None and bob.notification_rules
    for u in config.users:
        assert contact_plan(u, "high"), u.handle
