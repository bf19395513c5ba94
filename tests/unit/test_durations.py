"""Durations as runbooks write them: parse_duration and format_duration."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.config.durations import format_duration, parse_duration

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the seeds' own phrases
        ("15 minutes", 15 * MINUTE),
        ("1 hour", HOUR),
        ("4 hours", 4 * HOUR),
        ("24 hours", DAY),
        ("1 week", 7 * DAY),
        ("1 month", 30 * DAY),
        ("48 hours", 2 * DAY),
        ("5 minutes", 5 * MINUTE),
        # short units
        ("45s", timedelta(seconds=45)),
        ("15m", 15 * MINUTE),
        ("4h", 4 * HOUR),
        ("2d", 2 * DAY),
        ("1w", 7 * DAY),
        ("10 min", 10 * MINUTE),
        ("3 hrs", 3 * HOUR),
        ("30 secs", timedelta(seconds=30)),
        # combinations and separators
        ("1h30m", 90 * MINUTE),
        ("1 hour 30 minutes", 90 * MINUTE),
        ("1 hour, 30 minutes", 90 * MINUTE),
        ("1 hour and 30 minutes", 90 * MINUTE),
        ("4 hours 30 minutes", 270 * MINUTE),
        # fractions, case and spaces
        ("1.5 hours", 90 * MINUTE),
        ("0.5h", 30 * MINUTE),
        ("  15 Minutes  ", 15 * MINUTE),
        ("2 DAYS", 2 * DAY),
        ("15minutes", 15 * MINUTE),
        # zero
        ("0", timedelta(0)),
        ("Immediate", timedelta(0)),
        ("immediately", timedelta(0)),
        ("none", timedelta(0)),
        ("0 minutes", timedelta(0)),
        # a bare number is seconds
        ("900", timedelta(seconds=900)),
    ],
)
def test_parse_text(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (900, timedelta(seconds=900)),
        (0, timedelta(0)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(hours=2), timedelta(hours=2)),
    ],
)
def test_parse_numbers_and_timedeltas(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("15 parsecs", "unknown unit 'parsecs' in duration '15 parsecs'"),
        ("1 hour 5 fortnights", "unknown unit 'fortnights'"),
        ("", "not a duration: ''"),
        ("soon", "not a duration: 'soon'"),
        ("minutes", "not a duration: 'minutes'"),
        ("-5 minutes", "not a duration: '-5 minutes'"),
        ("15 minutes later", "not a duration: '15 minutes later'"),
        ("about 15 minutes", "not a duration: 'about 15 minutes'"),
        (-1, "a duration cannot be negative"),
        (-0.5, "a duration cannot be negative"),
        (True, "not a duration: True"),
        (None, "not a duration: None"),
        ([15, "minutes"], "not a duration"),
    ],
)
def test_parse_refuses(value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        parse_duration(value)


def test_the_error_suggests_a_form() -> None:
    with pytest.raises(ValueError, match=re.escape("write e.g. '15 minutes'")):
        parse_duration("a while")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0 seconds"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(seconds=45), "45 seconds"),
        (MINUTE, "1 minute"),
        (15 * MINUTE, "15 minutes"),
        (HOUR, "1 hour"),
        (270 * MINUTE, "4 hours 30 minutes"),
        (DAY, "1 day"),
        (DAY + 2 * HOUR + MINUTE, "1 day 2 hours 1 minute"),
        (7 * DAY, "7 days"),
        (30 * DAY, "30 days"),
        # below a minute of precision, seconds are dropped once there are minutes
        (timedelta(seconds=90), "1 minute"),
    ],
)
def test_format(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@settings(database=None)
@given(st.integers(min_value=0, max_value=60 * 24 * 400))
def test_format_then_parse_gives_back_whole_minutes(minutes: int) -> None:
    delta = timedelta(minutes=minutes)
    assert parse_duration(format_duration(delta)) == delta
