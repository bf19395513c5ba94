"""The iCalendar writer, read back by two independent parsers (`icalendar` and `vobject`).

Any text (every RFC 5545 special character, line breaks, control characters, long
non-ASCII names) comes back as written; UIDs are unique and stable, also for an addition
that starts at the same instant as the person's own turn.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from warroom.oncall import ical
from warroom.oncall.logic import Override, OverrideKind, Shift, build_layer, shifts
from warroom.oncall.logic import Schedule as LogicSchedule

NOW = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
SPECIALS = 'Ops, "DB"; team\\night\nshift\r\nline 3\rline 4 :: é ✓ 🚨 \t tab'


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def read_both(body: bytes) -> tuple[Calendar, Any]:
    return Calendar.from_ical(body), vobject.readOne(body.decode())


def unescape(value: str) -> str:
    """RFC 5545 TEXT unescaping (section 3.3.11)."""
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def calname(calendar: Calendar, prop: str = "X-WR-CALNAME") -> str:
    # icalendar's parser does not type X-WR-CALNAME or NAME and keeps them escaped.
    return unescape(str(calendar[prop]))


def test_every_special_character_round_trips_through_both_parsers() -> None:
    shift = Shift("db-nights", "primary", "jane.smith", utc(2024, 3, 11, 9), utc(2024, 3, 18, 9))
    body = ical.render(
        [shift], name=f"On call: {SPECIALS}", now=NOW, titles={"db-nights": SPECIALS}
    )
    expected = ical.text(SPECIALS)
    assert "\r" not in expected and "line 3" in expected
    parsed, other = read_both(body)
    assert calname(parsed) == f"On call: {expected}"
    assert calname(parsed, "NAME") == f"On call: {expected}"
    unfolded = body.replace(b"\r\n ", b"")
    assert b'X-WR-CALNAME:On call: Ops\\, "DB"\\; team\\\\night\\nshift\\nline 3' in unfolded
    assert other.x_wr_calname.value == f"On call: {expected}"
    (event,) = parsed.walk("VEVENT")
    assert expected in str(event["DESCRIPTION"])
    assert expected in other.vevent.description.value
    # Every physical line is a content line: CRLF-terminated, at most 75 octets.
    assert body.endswith(b"\r\n")
    for line in body.split(b"\r\n"):
        assert len(line) <= 75 and b"\n" not in line and b"\r" not in line


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=200))
def test_any_title_is_written_and_read_back(title: str) -> None:
    shift = Shift("s", "primary", "jane.smith", utc(2024, 1, 1), utc(2024, 1, 2))
    body = ical.render([shift], name=title, now=NOW, titles={"s": title})
    parsed, other = read_both(body)
    assert calname(parsed) == ical.text(title)
    assert other.x_wr_calname.value == ical.text(title)
    assert ical.text(title) in other.vevent.description.value


def test_control_characters_are_made_spaces_and_line_breaks_kept() -> None:
    assert ical.text("a\x00b\x1bc\x7fd") == "a b c d"
    assert ical.text("a\r\nb\rc\nd\te") == "a\nb\nc\nd\te"


# Weekly turns from Monday 2024-01-01 00:00 UTC: jane has the weeks of 03-11 and 03-25.
WEEKLY = LogicSchedule(
    "ic",
    ZoneInfo("UTC"),
    (build_layer("primary", ["jane.smith", "bob.wilson"], handoff_time=time(0)),),
)


def test_an_addition_at_the_start_of_the_persons_own_turn_gets_its_own_uid() -> None:
    # jane's turn starts Monday 2024-03-11 00:00; she is also added to the same layer, and
    # on top of every layer, from that very instant, and from the instant it ends.
    monday = utc(2024, 3, 11)
    overrides = [
        Override(
            OverrideKind.ADD, monday, monday + timedelta(hours=4), "jane.smith", "primary", id=7
        ),
        Override(OverrideKind.ADD, monday, monday + timedelta(hours=4), "jane.smith", id=8),
        Override(OverrideKind.ADD, utc(2024, 3, 18), utc(2024, 3, 19), "jane.smith", id=9),
    ]
    found = shifts(WEEKLY, utc(2024, 3, 10), utc(2024, 3, 20), overrides)
    at_monday = [s for s in found if s.start == monday and s.user == "jane.smith"]
    assert len(at_monday) == 3
    body = ical.render(found, name="ic", now=NOW)
    parsed, other = read_both(body)
    uids = [str(e["UID"]) for e in parsed.walk("VEVENT")]
    assert len(uids) == len(found) == len(set(uids))
    assert sorted(uids) == sorted(e.uid.value for e in other.vevent_list)
    # The same shifts, exported later and with another window, keep their UIDs.
    again = ical.render(
        shifts(WEEKLY, utc(2024, 3, 1), utc(2024, 3, 30), overrides), name="x", now=NOW
    )
    assert set(uids) <= {str(e["UID"]) for e in Calendar.from_ical(again).walk("VEVENT")}


def test_identical_additions_without_ids_still_get_distinct_uids() -> None:
    twin = Shift("s", None, "jane.smith", utc(2024, 1, 1), utc(2024, 1, 2), added_by=None)
    body = ical.render([twin, twin], name="s", now=NOW)
    uids = [str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")]
    assert len(set(uids)) == 2
    assert uids == [
        str(e["UID"])
        for e in Calendar.from_ical(ical.render([twin, twin], name="s", now=NOW)).walk("VEVENT")
    ]


def test_a_feed_tells_calendar_apps_how_often_to_refresh() -> None:
    parsed, other = read_both(ical.render([], name="feed", now=NOW, feed=True))
    assert parsed.decoded("REFRESH-INTERVAL") == timedelta(hours=1)
    assert other.x_published_ttl.value == "PT1H"
    plain = Calendar.from_ical(ical.render([], name="download", now=NOW))
    assert "REFRESH-INTERVAL" not in plain
