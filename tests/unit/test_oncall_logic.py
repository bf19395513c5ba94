"""On-call maths: rotations, restrictions, overrides, layers and DST, as specs and properties."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from warroom.config import ConfigError
from warroom.config.oncall import Restriction
from warroom.config.oncall import Schedule as ScheduleSpec
from warroom.configuration import load_config
from warroom.oncall.logic import (
    Handoff,
    Override,
    OverrideKind,
    Schedule,
    Shift,
    from_spec,
    local_instant,
    local_wall,
    schedule_name_from_reference,
    shifts,
    upcoming_handoffs,
    weekly_windows,
    who_is_on_call,
)

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def schedule(*layers: dict[str, Any], time_zone: str = "UTC", name: str = "s") -> Schedule:
    """A schedule written as its YAML would be."""
    return from_spec(
        ScheduleSpec.model_validate({"name": name, "time_zone": time_zone, "layers": list(layers)})
    )


def layer(name: str = "primary", participants: Sequence[str] = ("a", "b", "c"), **kw: Any) -> dict:
    return {"name": name, "participants": list(participants), **kw}


def on_call(s: Schedule, at: datetime, overrides: Sequence[Override] = ()) -> list[tuple]:
    return [(e.layer, e.user) for e in who_is_on_call(s, at, overrides)]


def entry(s: Schedule, at: datetime, overrides: Sequence[Override] = ()) -> Shift:
    (found,) = who_is_on_call(s, at, overrides)
    return found


# --- rotations ------------------------------------------------------------------------


def test_weekly_rotation_hands_off_on_the_handoff_day_and_time() -> None:
    s = schedule(layer(rotation="weekly", handoff_day="monday", handoff_time="09:00"))
    # 2024-01-01 is a Monday: a's first turn.
    assert entry(s, utc(2024, 1, 1, 9)) == Shift(
        "s", "primary", "a", utc(2024, 1, 1, 9), utc(2024, 1, 8, 9)
    )
    assert on_call(s, utc(2024, 1, 8, 8, 59)) == [("primary", "a")]
    assert on_call(s, utc(2024, 1, 8, 9)) == [("primary", "b")]
    assert on_call(s, utc(2024, 1, 15, 9)) == [("primary", "c")]
    assert on_call(s, utc(2024, 1, 22, 9)) == [("primary", "a")]  # round again


def test_weekly_rotation_aligns_to_the_first_handoff_day_on_or_after_start() -> None:
    s = schedule(layer(handoff_day="thursday", handoff_time="17:30", start="2024-03-01"))
    # 2024-03-01 is a Friday: the first turn starts Thursday 2024-03-07 17:30.
    assert entry(s, utc(2024, 3, 8)).start == utc(2024, 3, 7, 17, 30)
    assert entry(s, utc(2024, 3, 8)).user == "a"
    # Before the start the rotation runs backwards: c, then b...
    assert entry(s, utc(2024, 3, 5)) == Shift(
        "s", "primary", "c", utc(2024, 2, 29, 17, 30), utc(2024, 3, 7, 17, 30)
    )
    assert entry(s, utc(2024, 2, 25)).user == "b"


def test_daily_rotation() -> None:
    s = schedule(layer(rotation="daily", handoff_time="08:00", start="2024-05-01"))
    assert [entry(s, utc(2024, 5, d, 12)).user for d in range(1, 6)] == ["a", "b", "c", "a", "b"]
    assert entry(s, utc(2024, 5, 2, 7, 59)).user == "a"
    assert entry(s, utc(2024, 5, 2, 7, 59)).end == utc(2024, 5, 2, 8)


def test_hourly_rotation_hands_off_at_the_minute_of_the_handoff_time() -> None:
    s = schedule(layer(rotation="hourly", handoff_time="00:15", participants=["a", "b"]))
    assert entry(s, utc(2024, 6, 1, 0, 15)) == Shift(
        "s", "primary", "a", utc(2024, 6, 1, 0, 15), utc(2024, 6, 1, 1, 15)
    )
    assert entry(s, utc(2024, 6, 1, 1, 14)).user == "a"
    assert entry(s, utc(2024, 6, 1, 1, 15)).user == "b"


def test_custom_rotation_of_twelve_hours() -> None:
    s = schedule(
        layer(rotation="custom", shift_length="12 hours", handoff_time="08:00", start="2024-01-01")
    )
    assert entry(s, utc(2024, 1, 1, 8)).user == "a"
    assert entry(s, utc(2024, 1, 1, 20)).user == "b"
    assert entry(s, utc(2024, 1, 2, 7, 59)) == Shift(
        "s", "primary", "b", utc(2024, 1, 1, 20), utc(2024, 1, 2, 8)
    )
    assert entry(s, utc(2024, 1, 2, 8)).user == "c"


def test_bi_weekly_rotation() -> None:
    s = schedule(layer(shift_length="2 weeks", participants=["a", "b"]))
    assert entry(s, utc(2024, 1, 10)).user == "a"
    assert entry(s, utc(2024, 1, 10)).end == utc(2024, 1, 15, 9)
    assert entry(s, utc(2024, 1, 16)).user == "b"


def test_lookups_far_from_the_start_use_arithmetic() -> None:
    s = schedule(layer(rotation="hourly", participants=["a", "b", "c", "d", "e", "f", "g"]))
    # 2024-01-01 09:00 + 876,000 hours is a hundred years on; 876,000 % 7 == 6.
    assert entry(s, utc(2124, 1, 1, 9) + timedelta(minutes=1)).user in set("abcdefg")
    assert entry(s, datetime(2024, 1, 1, 9, tzinfo=UTC) + timedelta(hours=876_000)).user == "g"


def test_a_layer_without_participants_has_nobody() -> None:
    s = schedule(layer(participants=[]), layer("secondary", ["x"]))
    assert on_call(s, utc(2024, 1, 3)) == [("secondary", "x")]


def test_layers_are_parallel_positions() -> None:
    s = schedule(layer("primary", ["a", "b"]), layer("secondary", ["b", "a"]))
    assert on_call(s, utc(2024, 1, 3)) == [("primary", "a"), ("secondary", "b")]
    assert on_call(s, utc(2024, 1, 10)) == [("primary", "b"), ("secondary", "a")]


# --- restrictions ---------------------------------------------------------------------


def test_business_hours_on_weekdays() -> None:
    s = schedule(
        layer(
            rotation="daily",
            restrictions=[
                {
                    "type": "day_of_week",
                    "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                    "start": "09:00",
                    "end": "17:00",
                }
            ],
        ),
        time_zone="Europe/Berlin",
    )
    # Wednesday 2024-01-03, 10:00 Berlin is 09:00 UTC.
    found = entry(s, utc(2024, 1, 3, 9))
    assert (found.start, found.end) == (utc(2024, 1, 3, 8), utc(2024, 1, 3, 16))
    assert on_call(s, utc(2024, 1, 3, 16)) == []  # 17:00 Berlin
    assert on_call(s, utc(2024, 1, 3, 7, 59)) == []  # 08:59 Berlin
    assert on_call(s, utc(2024, 1, 6, 12)) == []  # Saturday


def test_time_of_day_restriction_crossing_midnight() -> None:
    s = schedule(
        layer(
            rotation="weekly",
            restrictions=[{"type": "time_of_day", "start": "22:00", "end": "06:00"}],
        )
    )
    found = entry(s, utc(2024, 1, 3, 23))
    assert (found.start, found.end) == (utc(2024, 1, 3, 22), utc(2024, 1, 4, 6))
    assert entry(s, utc(2024, 1, 4, 5, 59)) == found
    assert on_call(s, utc(2024, 1, 4, 6)) == []
    assert on_call(s, utc(2024, 1, 4, 21, 59)) == []


def test_a_restriction_blanks_part_of_a_turn_without_moving_the_handoff() -> None:
    s = schedule(
        layer(
            rotation="daily",
            handoff_time="09:00",
            restrictions=[{"type": "time_of_day", "start": "20:00", "end": "10:00"}],
        )
    )
    # a's turn runs 09:00-09:00; allowed 20:00-10:00, so a has 20:00-09:00 and b starts at 09:00.
    assert entry(s, utc(2024, 1, 1, 21)) == Shift(
        "s", "primary", "a", utc(2024, 1, 1, 20), utc(2024, 1, 2, 9)
    )
    assert entry(s, utc(2024, 1, 2, 9, 30)) == Shift(
        "s", "primary", "b", utc(2024, 1, 2, 9), utc(2024, 1, 2, 10)
    )


def test_weekend_restriction_spans_the_week_boundary() -> None:
    s = schedule(
        layer(
            rotation="weekly",
            handoff_day="wednesday",
            restrictions=[
                {"type": "day_of_week", "days": ["friday"], "start": "18:00", "end": "24:00"},
                {"type": "day_of_week", "days": ["saturday", "sunday"]},
                {"type": "day_of_week", "days": ["monday"], "start": "00:00", "end": "09:00"},
            ],
        )
    )
    # Friday 2024-01-05 18:00 to Monday 2024-01-08 09:00 is one window.
    found = entry(s, utc(2024, 1, 7, 12))
    assert (found.start, found.end) == (utc(2024, 1, 5, 18), utc(2024, 1, 8, 9))
    assert entry(s, utc(2024, 1, 8, 3)) == found
    assert on_call(s, utc(2024, 1, 8, 9)) == []
    assert on_call(s, utc(2024, 1, 5, 17)) == []


def test_restrictions_covering_the_whole_week_are_no_restriction() -> None:
    every_day = Restriction.model_validate(
        {"type": "day_of_week", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    )
    assert (every_day.start, every_day.end) == (time(0), time(0))
    assert weekly_windows([every_day]) == ()
    with pytest.raises(ValidationError, match="different start and end"):
        Restriction.model_validate({"type": "time_of_day", "start": "09:00", "end": "09:00"})


# --- overrides ------------------------------------------------------------------------


WEEK = schedule(layer("primary", ["a", "b"]), layer("secondary", ["b", "a"]))
# a is primary and b secondary from Monday 2024-01-01 09:00 to Monday 2024-01-08 09:00.


def test_replace_gives_one_users_turns_to_another() -> None:
    o = Override(OverrideKind.REPLACE, utc(2024, 1, 3), utc(2024, 1, 4), user="c", replaces="a")
    assert on_call(WEEK, utc(2024, 1, 3, 12), [o]) == [("primary", "c"), ("secondary", "b")]
    assert entry_in(WEEK, "primary", utc(2024, 1, 3, 12), [o]) == Shift(
        "s", "primary", "c", utc(2024, 1, 3), utc(2024, 1, 4)
    )
    # Outside the window, a's turn is cut around it.
    before = entry_in(WEEK, "primary", utc(2024, 1, 2), [o])
    after = entry_in(WEEK, "primary", utc(2024, 1, 5), [o])
    assert (before.user, before.start, before.end) == ("a", utc(2024, 1, 1, 9), utc(2024, 1, 3))
    assert (after.user, after.start, after.end) == ("a", utc(2024, 1, 4), utc(2024, 1, 8, 9))


def test_replace_in_a_layer_takes_over_whoever_is_on_call() -> None:
    o = Override(
        OverrideKind.REPLACE, utc(2024, 1, 7), utc(2024, 1, 9), user="c", layer="secondary"
    )
    # The window spans the Monday handoff: c covers b, then a, in the secondary layer only.
    assert on_call(WEEK, utc(2024, 1, 7, 12), [o]) == [("primary", "a"), ("secondary", "c")]
    assert on_call(WEEK, utc(2024, 1, 8, 12), [o]) == [("primary", "b"), ("secondary", "c")]
    parts = [
        (s.user, s.start, s.end)
        for s in shifts(WEEK, utc(2024, 1, 6), utc(2024, 1, 10), [o])
        if s.layer == "secondary"
    ]
    assert parts == [
        ("b", utc(2024, 1, 1, 9), utc(2024, 1, 7)),
        ("c", utc(2024, 1, 7), utc(2024, 1, 8, 9)),
        ("c", utc(2024, 1, 8, 9), utc(2024, 1, 9)),
        ("a", utc(2024, 1, 9), utc(2024, 1, 15, 9)),
    ]


def test_remove_empties_a_layer_or_one_persons_turns() -> None:
    layer_off = Override(OverrideKind.REMOVE, utc(2024, 1, 3), utc(2024, 1, 4), layer="secondary")
    assert on_call(WEEK, utc(2024, 1, 3, 1), [layer_off]) == [("primary", "a")]
    person_off = Override(OverrideKind.REMOVE, utc(2024, 1, 3), utc(2024, 1, 4), user="a")
    assert on_call(WEEK, utc(2024, 1, 3, 1), [person_off]) == [("secondary", "b")]
    everyone_off = Override(OverrideKind.REMOVE, utc(2024, 1, 3), utc(2024, 1, 4))
    assert on_call(WEEK, utc(2024, 1, 3, 1), [everyone_off]) == []
    assert on_call(WEEK, utc(2024, 1, 4), [everyone_off]) == [("primary", "a"), ("secondary", "b")]


def test_add_puts_someone_on_call_in_a_layer_or_on_top() -> None:
    in_layer = Override(
        OverrideKind.ADD, utc(2024, 1, 3), utc(2024, 1, 3, 12), user="c", layer="primary"
    )
    on_top = Override(OverrideKind.ADD, utc(2024, 1, 3, 6), utc(2024, 1, 4), user="d")
    assert on_call(WEEK, utc(2024, 1, 3, 8), [in_layer, on_top]) == [
        ("primary", "a"),
        ("secondary", "b"),
        ("primary", "c"),
        (None, "d"),
    ]
    added = who_is_on_call(WEEK, utc(2024, 1, 3, 8), [in_layer, on_top])[2]
    assert (added.start, added.end) == (utc(2024, 1, 3), utc(2024, 1, 3, 12))
    # A removal does not take back an addition.
    remove = Override(OverrideKind.REMOVE, utc(2024, 1, 3), utc(2024, 1, 4))
    assert on_call(WEEK, utc(2024, 1, 3, 8), [on_top, remove]) == [(None, "d")]


def test_later_overrides_apply_on_top_of_earlier_ones() -> None:
    first = Override(OverrideKind.REPLACE, utc(2024, 1, 2), utc(2024, 1, 5), user="c", replaces="a")
    second = Override(
        OverrideKind.REPLACE, utc(2024, 1, 3), utc(2024, 1, 4), user="d", replaces="c"
    )
    assert entry_in(WEEK, "primary", utc(2024, 1, 2, 12), [first, second]).user == "c"
    assert entry_in(WEEK, "primary", utc(2024, 1, 3, 12), [first, second]).user == "d"
    # Applied the other way round, the second finds nobody called c to replace.
    assert entry_in(WEEK, "primary", utc(2024, 1, 3, 12), [second, first]).user == "c"


def test_partial_overlaps_only_change_the_overlap() -> None:
    # The override starts before a's turn and ends in the middle of it.
    o = Override(OverrideKind.REPLACE, utc(2023, 12, 30), utc(2024, 1, 2), user="c", replaces="a")
    assert entry_in(WEEK, "primary", utc(2024, 1, 1, 12), [o]) == Shift(
        "s", "primary", "c", utc(2024, 1, 1, 9), utc(2024, 1, 2)
    )
    # Before 2024-01-01 09:00 b was primary: not replaced.
    assert entry_in(WEEK, "primary", utc(2023, 12, 31), [o]).user == "b"


def test_a_replacement_of_the_same_person_does_not_split_the_shift() -> None:
    o = Override(OverrideKind.REPLACE, utc(2024, 1, 3), utc(2024, 1, 4), user="a", layer="primary")
    assert entry_in(WEEK, "primary", utc(2024, 1, 3, 12), [o]) == entry_in(
        WEEK, "primary", utc(2024, 1, 3, 12)
    )


def test_overrides_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        Override(OverrideKind.ADD, utc(2024, 1, 2), utc(2024, 1, 1), user="a")
    with pytest.raises(ValueError, match="needs a user"):
        Override(OverrideKind.ADD, utc(2024, 1, 1), utc(2024, 1, 2))
    with pytest.raises(ValueError, match="a layer or the user it replaces"):
        Override(OverrideKind.REPLACE, utc(2024, 1, 1), utc(2024, 1, 2), user="a")
    with pytest.raises(ValueError, match="aware"):
        Override(OverrideKind.ADD, datetime(2024, 1, 1), utc(2024, 1, 2), user="a")


def entry_in(
    s: Schedule, layer_name: str, at: datetime, overrides: Sequence[Override] = ()
) -> Shift:
    (found,) = [e for e in who_is_on_call(s, at, overrides) if e.layer == layer_name]
    return found


# --- DST ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day_before", "day_after", "utc_before", "utc_after"),
    [
        # Berlin springs forward on 2024-03-31 and falls back on 2024-10-27.
        ("Europe/Berlin", date(2024, 3, 30), date(2024, 3, 31), 8, 7),
        ("Europe/Berlin", date(2024, 10, 26), date(2024, 10, 27), 7, 8),
        # New York springs forward on 2024-03-10 and falls back on 2024-11-03.
        ("America/New_York", date(2024, 3, 9), date(2024, 3, 10), 14, 13),
        ("America/New_York", date(2024, 11, 2), date(2024, 11, 3), 13, 14),
    ],
)
def test_daily_0900_handoffs_stay_at_0900_local_across_dst(
    zone: str, day_before: date, day_after: date, utc_before: int, utc_after: int
) -> None:
    s = schedule(layer(rotation="daily", handoff_time="09:00"), time_zone=zone)
    window = shifts(
        s, datetime.combine(day_before, time(0), UTC), datetime.combine(day_after, time(23), UTC)
    )
    starts = {x.start.date(): x.start for x in window}
    assert starts[day_before] == datetime.combine(day_before, time(utc_before), UTC)
    assert starts[day_after] == datetime.combine(day_after, time(utc_after), UTC)
    shift_over_change = next(x for x in window if x.start.date() == day_before)
    assert shift_over_change.end - shift_over_change.start == timedelta(
        hours=24 + utc_after - utc_before
    )


def test_exact_utc_handoffs_in_berlin_around_the_spring_change() -> None:
    s = schedule(layer(rotation="daily", handoff_time="09:00"), time_zone="Europe/Berlin")
    assert [(x.start, x.end) for x in shifts(s, utc(2024, 3, 30, 8), utc(2024, 4, 1, 7))] == [
        (utc(2024, 3, 30, 8), utc(2024, 3, 31, 7)),
        (utc(2024, 3, 31, 7), utc(2024, 4, 1, 7)),
    ]


@pytest.mark.parametrize(
    ("zone", "monday", "hours"),
    [
        ("America/New_York", date(2024, 3, 4), 167),
        ("America/New_York", date(2024, 10, 28), 169),
        ("Europe/Berlin", date(2024, 3, 25), 167),
        ("Europe/Berlin", date(2024, 10, 21), 169),
        ("UTC", date(2024, 3, 25), 168),
    ],
)
def test_a_weekly_shift_spanning_a_dst_change(zone: str, monday: date, hours: int) -> None:
    s = schedule(layer(handoff_day="monday", handoff_time="09:00"), time_zone=zone)
    at = local_instant(datetime.combine(monday, time(12)), ZoneInfo(zone))
    found = entry(s, at)
    assert found.end - found.start == timedelta(hours=hours)
    for bound in (found.start, found.end):
        assert bound.astimezone(ZoneInfo(zone)).time() == time(9)


def test_a_handoff_at_a_time_that_does_not_exist_happens_when_clocks_jump() -> None:
    # 02:30 on 2024-03-10 does not exist in New York: clocks go from 02:00 EST to 03:00 EDT
    # at 07:00 UTC. The handoff happens then.
    s = schedule(
        layer(rotation="daily", handoff_time="02:30", participants=["a", "b"]),
        time_zone="America/New_York",
    )
    assert [
        (x.user, x.start, x.end) for x in shifts(s, utc(2024, 3, 9, 12), utc(2024, 3, 11, 12))
    ] == [
        ("a", utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7)),
        ("b", utc(2024, 3, 10, 7), utc(2024, 3, 11, 6, 30)),
        ("a", utc(2024, 3, 11, 6, 30), utc(2024, 3, 12, 6, 30)),
    ]
    assert local_instant(datetime(2024, 3, 10, 2, 30), NEW_YORK) == utc(2024, 3, 10, 7)
    assert local_instant(datetime(2024, 3, 31, 2, 15), BERLIN) == utc(2024, 3, 31, 1)


def test_a_handoff_at_a_time_that_occurs_twice_happens_the_first_time() -> None:
    # 01:30 on 2024-11-03 occurs at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    s = schedule(
        layer(rotation="daily", handoff_time="01:30", participants=["a", "b"]),
        time_zone="America/New_York",
    )
    assert entry(s, utc(2024, 11, 3, 5, 29)).user == "a"
    found = entry(s, utc(2024, 11, 3, 5, 30))
    assert (found.user, found.start, found.end) == (
        "b",
        utc(2024, 11, 3, 5, 30),
        utc(2024, 11, 4, 6, 30),
    )
    # During the repeated hour the wall clock shows 01:15 again: b stays on call.
    assert entry(s, utc(2024, 11, 3, 6, 15)) == found
    assert local_wall(utc(2024, 11, 3, 6, 15), NEW_YORK) == datetime(2024, 11, 3, 1, 59, 59, 999999)


def test_hourly_turns_through_dst_changes() -> None:
    s = schedule(
        layer(rotation="hourly", handoff_time="00:00", participants=["a", "b", "c"]),
        time_zone="America/New_York",
    )
    spring = [
        (x.user, x.end - x.start) for x in shifts(s, utc(2024, 3, 10, 5), utc(2024, 3, 10, 9))
    ]
    # 00:00 a, 01:00 b, 02:00 would be c's but never happens, 03:00 a, 04:00 b.
    hour = timedelta(hours=1)
    assert spring == [("a", hour), ("b", hour), ("a", hour), ("b", hour)]
    autumn = [
        (x.user, x.end - x.start) for x in shifts(s, utc(2024, 11, 3, 4), utc(2024, 11, 3, 8))
    ]
    # 01:00 (b) lasts through the repeated hour.
    assert autumn == [("a", hour), ("b", 2 * hour), ("c", hour)]


def test_restrictions_follow_local_time_across_dst() -> None:
    s = schedule(
        layer(restrictions=[{"type": "time_of_day", "start": "09:00", "end": "17:00"}]),
        time_zone="Europe/Berlin",
    )
    winter, summer = entry(s, utc(2024, 3, 29, 12)), entry(s, utc(2024, 4, 2, 12))
    assert (winter.start, winter.end) == (utc(2024, 3, 29, 8), utc(2024, 3, 29, 16))
    assert (summer.start, summer.end) == (utc(2024, 4, 2, 7), utc(2024, 4, 2, 15))


# --- handoffs for the engine ----------------------------------------------------------


def test_upcoming_handoffs_lists_who_goes_on_call_and_when() -> None:
    assert upcoming_handoffs(WEEK, utc(2024, 1, 1), utc(2024, 1, 15, 9)) == [
        Handoff(utc(2024, 1, 1, 9), "primary", "a"),
        Handoff(utc(2024, 1, 1, 9), "secondary", "b"),
        Handoff(utc(2024, 1, 8, 9), "primary", "b"),
        Handoff(utc(2024, 1, 8, 9), "secondary", "a"),
    ]
    o = Override(OverrideKind.REPLACE, utc(2024, 1, 3), utc(2024, 1, 4), user="c", replaces="a")
    assert upcoming_handoffs(WEEK, utc(2024, 1, 2), utc(2024, 1, 5), [o]) == [
        Handoff(utc(2024, 1, 3), "primary", "c"),
        Handoff(utc(2024, 1, 4), "primary", "a"),
    ]


def test_a_one_person_rotation_hands_off_to_nobody_new() -> None:
    s = schedule(layer(rotation="daily", participants=["solo"]))
    assert upcoming_handoffs(s, utc(2024, 1, 2), utc(2024, 1, 9)) == []
    assert upcoming_handoffs(s, utc(2024, 1, 2, 9), utc(2024, 1, 2, 10)) == []


# --- definitions ----------------------------------------------------------------------


def test_schedule_references_from_the_escalation_matrix() -> None:
    assert schedule_name_from_reference("pagerduty://schedules/EM_ONCALL") == "EM_ONCALL"
    assert schedule_name_from_reference("EM_ONCALL") == "EM_ONCALL"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"layers": [layer(rotation="custom")]}, "custom rotation needs shift_length"),
        ({"layers": [layer(rotation="daily", shift_length="36 hours")]}, "whole number of days"),
        ({"layers": [layer(rotation="daily", handoff_day="monday")]}, "weekly rotations only"),
        ({"layers": [layer(handoff_time="25:00")]}, "not a time of day"),
        ({"layers": [layer(handoff_time=540)]}, "in quotes"),
        ({"layers": [layer(), layer()]}, "duplicate name 'primary'"),
        ({"layers": []}, "at least 1 item"),
        ({"layers": [layer(restrictions=[{"type": "day_of_week"}])]}, "needs days"),
        (
            {"layers": [layer(restrictions=[{"type": "time_of_day", "days": ["monday"]}])]},
            "use day_of_week",
        ),
        ({"name": "no spaces please"}, "should match pattern"),
    ],
)
def test_bad_definitions_are_refused(bad: dict[str, Any], message: str) -> None:
    data = {"name": "ok", "layers": [layer()], **bad}
    with pytest.raises(ValidationError, match=message):
        ScheduleSpec.model_validate(data)


def test_definitions_round_trip_through_json() -> None:
    spec = ScheduleSpec.model_validate(
        {
            "name": "EM_ONCALL",
            "time_zone": "America/New_York",
            "layers": [
                layer(rotation="custom", shift_length="1 day 12 hours", handoff_time="07:30"),
                layer(
                    "nights",
                    restrictions=[{"type": "time_of_day", "start": "22:00", "end": "24:00"}],
                ),
            ],
        }
    )
    dumped = spec.model_dump(mode="json")
    assert dumped["layers"][0]["shift_length"] == "1 day 12 hours"
    assert dumped["layers"][0]["handoff_time"] == "07:30"
    assert dumped["layers"][1]["restrictions"][0]["end"] == "00:00"
    assert ScheduleSpec.model_validate(dumped) == spec


def test_the_example_schedules_load_and_resolve_em_oncall() -> None:
    config = load_config(EXAMPLES)
    names = {s.name for s in config.schedules}
    assert {"incident-commander", "EM_ONCALL"} <= names
    ic = from_spec(next(s for s in config.schedules if s.name == "incident-commander"))
    # Seed 000: weekly, handoff Monday 09:00 UTC, with a backup.
    found = who_is_on_call(ic, utc(2024, 3, 15, 9, 30))
    assert [(e.layer, e.start, e.end) for e in found] == [
        ("primary", utc(2024, 3, 11, 9), utc(2024, 3, 18, 9)),
        ("secondary", utc(2024, 3, 11, 9), utc(2024, 3, 18, 9)),
    ]
    assert found[0].user != found[1].user


def test_a_bad_time_zone_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(
        "schedules:\n"
        "  - name: ops\n"
        "    time_zone: Nowhere/City\n"
        "    layers: [{name: primary, participants: [ann]}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / "schedules.yaml"), 3)
    assert problem.field == "schedules.0.time_zone"
    assert "unknown time zone 'Nowhere/City'" in problem.message


def test_unknown_participants_name_the_schedule_layer_and_line(tmp_path: Path) -> None:
    (tmp_path / "users.yaml").write_text("users:\n  - handle: ann\n    name: Ann\n")
    (tmp_path / "schedules.yaml").write_text(
        "schedules:\n"
        "  - name: ops\n"
        "    layers:\n"
        "      - name: primary\n"
        "        participants:\n"
        "          - ann\n"
        "          - zed\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert problem.file == str(tmp_path / "schedules.yaml")
    assert problem.line == 7
    assert problem.field == "schedules.0.layers.0.participants.1"
    assert "unknown user 'zed'" in problem.message


# --- properties -----------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# DST changes in the zones above, where the bugs live.
CHANGES = [
    utc(2024, 3, 10, 7),
    utc(2024, 11, 3, 6),
    utc(2024, 3, 31, 1),
    utc(2024, 10, 27, 1),
    utc(2024, 4, 6, 15),  # Lord Howe: back 30 minutes
    utc(2024, 10, 5, 15, 30),  # Lord Howe: forward 30 minutes
]
POOL = ["ann", "bob", "cy", "dee", "eve"]

clock_times = st.one_of(
    # The hours clocks skip or repeat, where the bugs live...
    st.sampled_from(["01:00", "01:30", "02:00", "02:15", "02:30", "03:00"]),
    # ...and any quarter hour.
    st.builds(
        lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45])
    ),
)
instants = st.one_of(
    st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    st.builds(
        lambda change, minutes: change + timedelta(minutes=minutes),
        st.sampled_from(CHANGES),
        st.integers(-26 * 60, 26 * 60),
    ),
    st.builds(
        lambda change, seconds: change + timedelta(seconds=seconds),
        st.sampled_from(CHANGES),
        st.integers(-3 * 3600, 3 * 3600),
    ),
)


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["time_of_day", "day_of_week"]))
    start, end = draw(clock_times), draw(clock_times)
    if kind == "time_of_day":
        if start == end:
            end = "23:59" if start != "23:59" else "00:00"
        return {"type": kind, "start": start, "end": end}
    days = draw(
        st.lists(
            st.sampled_from(["monday", "wednesday", "saturday", "sunday"]), min_size=1, unique=True
        )
    )
    return {"type": kind, "days": days, "start": start, "end": end}


@st.composite
def layers(draw: st.DrawFn, name: str, restricted: bool) -> dict[str, Any]:
    rotation = draw(st.sampled_from(["hourly", "daily", "weekly", "custom"]))
    spec: dict[str, Any] = {
        "name": name,
        "rotation": rotation,
        "handoff_time": draw(clock_times),
        "start": draw(st.dates(min_value=date(2023, 6, 1), max_value=date(2025, 6, 1))).isoformat(),
        "participants": draw(st.lists(st.sampled_from(POOL), min_size=0, max_size=5)),
    }
    if rotation == "weekly":
        spec["handoff_day"] = draw(st.sampled_from(["monday", "friday", "sunday"]))
    if rotation == "custom":
        spec["shift_length"] = draw(
            st.sampled_from(["30 minutes", "8 hours", "12 hours", "36 hours", "2 days", "9 days"])
        )
    if restricted:
        spec["restrictions"] = draw(st.lists(restrictions(), min_size=1, max_size=3))
    return spec


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    count = draw(st.integers(1, 3))
    specs = [draw(layers(f"layer{i}", draw(st.booleans()))) for i in range(count)]
    return schedule(*specs, time_zone=draw(st.sampled_from(ZONES)))


@st.composite
def overrides_near(draw: st.DrawFn, around: datetime, names: Sequence[str]) -> list[Override]:
    found = []
    for _ in range(draw(st.integers(0, 4))):
        start = around + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))
        end = start + timedelta(minutes=draw(st.integers(1, 3 * 1440)))
        kind = draw(st.sampled_from(list(OverrideKind)))
        layer_name = draw(st.sampled_from([None, *names]))
        user = draw(st.sampled_from([*POOL, "zoe"]))
        if kind is OverrideKind.REPLACE:
            replaces = (
                draw(st.sampled_from([None, *POOL])) if layer_name else draw(st.sampled_from(POOL))
            )
            found.append(Override(kind, start, end, user=user, layer=layer_name, replaces=replaces))
        elif kind is OverrideKind.REMOVE:
            who = draw(st.sampled_from([None, *POOL]))
            found.append(Override(kind, start, end, user=who, layer=layer_name))
        else:
            found.append(Override(kind, start, end, user=user, layer=layer_name))
    return found


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(schedules(), instants)
def test_exactly_one_person_per_unrestricted_layer_with_participants(
    s: Schedule, at: datetime
) -> None:
    entries = who_is_on_call(s, at)
    for lay in s.layers:
        mine = [e for e in entries if e.layer == lay.name]
        if lay.participants and not lay.windows:
            assert len(mine) == 1
        assert len(mine) <= 1
        for e in mine:
            assert e.user in lay.participants
            assert e.start <= at < e.end


@PROPERTY
@given(schedules(), instants, st.integers(1, 96))
def test_shifts_tile_time_per_layer(s: Schedule, start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    rendered = shifts(s, start, end)
    for lay in s.layers:
        mine = [x for x in rendered if x.layer == lay.name]
        if not lay.participants:
            assert mine == []
            continue
        for x in mine:
            assert x.start < x.end and x.start < end and x.end > start
        for a, b in itertools.pairwise(mine):
            assert a.end <= b.start  # never overlapping
            if not lay.windows:
                assert a.end == b.start  # and without restrictions, never a gap
        if not lay.windows:
            assert mine[0].start <= start and mine[-1].end >= end


@PROPERTY
@given(st.data(), schedules(), instants)
def test_who_is_on_call_agrees_with_the_rendered_shifts(
    data: st.DataObject, s: Schedule, at: datetime
) -> None:
    overrides = data.draw(overrides_near(at, [lay.name for lay in s.layers]))
    covering = [
        x
        for x in shifts(s, at - timedelta(days=10), at + timedelta(days=10), overrides)
        if x.start <= at < x.end
    ]
    entries = who_is_on_call(s, at, overrides)

    def key(x: Shift) -> tuple:
        return (x.layer or "", x.user, x.start, x.end)

    assert sorted(entries, key=key) == sorted(covering, key=key)
    # Each rotation layer still has at most one person (additions come on top).
    added = {(o.layer, o.user) for o in overrides if o.kind is OverrideKind.ADD}
    for lay in s.layers:
        rotation = [e for e in entries if e.layer == lay.name and (lay.name, e.user) not in added]
        assert len(rotation) <= 1


@PROPERTY
@given(st.sampled_from(ZONES), instants)
def test_local_time_round_trips(zone_name: str, at: datetime) -> None:
    zone = ZoneInfo(zone_name)
    wall = local_wall(at, zone)
    assert local_instant(wall, zone) <= at
    assert local_instant(wall + timedelta(microseconds=1), zone) > at
