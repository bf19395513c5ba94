"""Postmortem rules: deadlines, business days (weekends, holidays, DST), state machines,
reminders, repeats, and the Markdown template (pure, fake times)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from warroom.config.postmortems import ActionItemPolicy, PostmortemPolicy
from warroom.postmortems import ical
from warroom.postmortems.logic import (
    ActionStatus,
    Notice,
    PostmortemStatus,
    Priority,
    Refused,
    action_due,
    add_business_days,
    check_action_move,
    check_postmortem_move,
    deadline_for,
    is_business_day,
    is_repeat,
    missing_sections,
    notices_due,
    review_slot,
)
from warroom.postmortems.render import Document, Facts, TimelineRow, render_markdown

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)  # a Friday


def test_deadlines_follow_the_seed_and_the_configuration() -> None:
    policy = PostmortemPolicy()
    assert deadline_for(policy, "SEV1", T0) == T0 + timedelta(hours=48)
    assert deadline_for(policy, "sev2", T0) == T0 + timedelta(days=7)
    assert deadline_for(policy, "SEV3", T0) is None
    custom = PostmortemPolicy.model_validate({"required": {"P0": "24h", "P1": "3 days"}})
    assert deadline_for(custom, "P1", T0) == T0 + timedelta(days=3)
    assert deadline_for(custom, "SEV1", T0) is None


def test_action_items_are_due_by_priority() -> None:
    policy = ActionItemPolicy()
    assert action_due(policy, Priority.P1, T0) == T0 + timedelta(days=14)
    assert action_due(policy, Priority.P3, T0) == T0 + timedelta(days=90)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2024, 3, 15), 3, date(2024, 3, 20)),  # Friday + 3 → Wednesday
        (date(2024, 3, 16), 1, date(2024, 3, 18)),  # Saturday + 1 → Monday
        (date(2024, 3, 16), 0, date(2024, 3, 18)),  # a weekend day itself is not a slot
        (date(2024, 3, 18), 0, date(2024, 3, 18)),
        (date(2024, 3, 14), 1, date(2024, 3, 15)),
    ],
)
def test_business_days_skip_weekends(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days, ()) == expected


def test_business_days_skip_holidays() -> None:
    easter = [date(2024, 3, 29), date(2024, 4, 1)]  # Good Friday, Easter Monday
    assert add_business_days(date(2024, 3, 28), 1, easter) == date(2024, 4, 2)
    assert add_business_days(date(2024, 3, 27), 3, easter) == date(2024, 4, 3)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 30))
def test_business_days_land_on_a_working_day_and_count_exactly(start: date, days: int) -> None:
    end = add_business_days(start, days, ())
    assert is_business_day(end, ())
    if days == 0:  # the first working day from start on
        assert all(not is_business_day(start + timedelta(d), ()) for d in range((end - start).days))
    else:
        between = [start + timedelta(d) for d in range(1, (end - start).days + 1)]
        assert sum(is_business_day(d, ()) for d in between) == days


def test_the_review_stays_at_ten_local_time_across_a_dst_change() -> None:
    policy = PostmortemPolicy(timezone="Europe/Berlin", review_time=time(10, 0))
    # Resolved Thursday 2024-03-28 (CET, UTC+1); 3 business days later, skipping the
    # weekend, is Tuesday 2024-04-02 — after the switch to CEST (UTC+2).
    start, end = review_slot(policy, datetime(2024, 3, 28, 22, 0, tzinfo=UTC))
    assert start == datetime(2024, 4, 2, 8, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=1)
    # Resolved 23:30 UTC on Friday is already Saturday in Berlin: counted from Saturday.
    start, _ = review_slot(policy, datetime(2024, 3, 8, 23, 30, tzinfo=UTC))
    assert start == datetime(2024, 3, 13, 9, 0, tzinfo=UTC)


def test_postmortem_state_machine() -> None:
    check_postmortem_move(PostmortemStatus.DRAFT, PostmortemStatus.IN_REVIEW)
    check_postmortem_move(PostmortemStatus.IN_REVIEW, PostmortemStatus.PUBLISHED)
    check_postmortem_move(PostmortemStatus.PUBLISHED, PostmortemStatus.DRAFT)
    with pytest.raises(Refused, match="cannot become published"):
        check_postmortem_move(PostmortemStatus.DRAFT, PostmortemStatus.PUBLISHED)
    with pytest.raises(Refused):
        check_postmortem_move(PostmortemStatus.PUBLISHED, PostmortemStatus.IN_REVIEW)


def test_action_item_state_machine() -> None:
    check_action_move(ActionStatus.OPEN, ActionStatus.IN_PROGRESS, None)
    check_action_move(ActionStatus.IN_PROGRESS, ActionStatus.DONE, None)
    check_action_move(ActionStatus.OPEN, ActionStatus.WONT_DO, "superseded by INC-9's fix")
    check_action_move(ActionStatus.DONE, ActionStatus.OPEN, None)
    with pytest.raises(Refused, match="reason"):
        check_action_move(ActionStatus.OPEN, ActionStatus.WONT_DO, "  ")
    with pytest.raises(Refused):
        check_action_move(ActionStatus.DONE, ActionStatus.IN_PROGRESS, None)


def test_notices_before_and_after_the_deadline() -> None:
    deadline = T0 + timedelta(days=2)
    before = timedelta(hours=24)
    assert notices_due(deadline, T0, before) == []
    assert notices_due(deadline, deadline - before, before) == [Notice.REMINDER]
    assert notices_due(deadline, deadline, before) == [Notice.REMINDER, Notice.ESCALATION]


def test_required_sections_and_five_whys() -> None:
    required = ["summary", "root_cause", "lessons_learned"]
    assert missing_sections({"summary": "x"}, required) == ["root_cause", "lessons_learned"]
    assert missing_sections({"summary": "x", "lessons_learned": " "}, required, [{"why": "a"}]) == [
        "lessons_learned"
    ]


def test_a_repeat_is_the_same_category_within_the_window() -> None:
    window = timedelta(days=30)
    earlier = [("Connection-Leak", T0 - timedelta(days=10)), ("dns", T0 - timedelta(days=2))]
    assert is_repeat("connection-leak", T0, earlier, window)
    assert not is_repeat("connection-leak", T0 + timedelta(days=25), earlier, window)
    assert not is_repeat("config-push", T0, earlier, window)
    assert not is_repeat(None, T0, earlier, window)


def _facts(**overrides: object) -> Facts:
    values: dict[str, object] = dict(
        key="INC-7", title="Checkout | down", severity="SEV1", status="resolved",
        services=("payment-service",), teams=("payments",), commander="jane.smith",
        roles={"incident_commander": "jane.smith"}, impact={"affected_users": 900},
        started_at=None, detected_at=None, declared_at=T0, acknowledged_at=None,
        mitigated_at=None, resolved_at=T0 + timedelta(hours=2),
        timeline=[TimelineRow(T0, "declaration", "Declared | SEV1\n# heading", "jane.smith"),
                  TimelineRow(T0, "note", "a chatty note", "bob")],
    )  # fmt: skip
    values.update(overrides)
    return Facts(**values)  # type: ignore[arg-type]


def test_markdown_says_what_is_missing_and_keeps_tables_intact() -> None:
    doc = Document(status="draft", owner=None, deadline_at=None, version=1, sections={})
    text = render_markdown(_facts(), doc)
    assert "# Postmortem: INC-7 — Checkout \\| down" in text
    assert "**Time to acknowledge:** _Unknown: no acknowledgement recorded._" in text
    assert "**Owner:** _Not recorded._" in text
    assert "| 2024-03-15 09:30 | declaration | Declared \\| SEV1 \\# heading | jane.smith |" in text
    assert "a chatty note" not in text  # key events only
    assert "**Duration:** 2 hours" in text


def test_the_invitation_is_a_valid_request() -> None:
    body = ical.invitation(
        uid="postmortem-review-1-inc-7@warroom", sequence=2, summary="Review; INC-7, a \\ b",
        description="Line one\nline two", start=T0, end=T0 + timedelta(hours=1),
        organizer=ical.Attendee("Jane Smith", "jane@example.com"),
        attendees=[ical.Attendee("Bob, Jr.", "bob@example.com")], now=T0,
    )  # fmt: skip
    calendar = Calendar.from_ical(body)
    assert calendar["METHOD"] == "REQUEST" and calendar["VERSION"] == "2.0"
    (event,) = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Review; INC-7, a \\ b"
    assert str(event["DESCRIPTION"]) == "Line one\nline two"
    assert int(event["SEQUENCE"]) == 2
    assert event["ATTENDEE"].params["CN"] == "Bob, Jr."
    assert b"\r\n" in body
