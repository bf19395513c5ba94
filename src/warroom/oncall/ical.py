"""Shifts as iCalendar (RFC 5545): one VEVENT per shift, times in UTC.

The `icalendar` library writes every line, so text values are escaped as RFC 5545 says
(`\\,` `\\;` `\\\\` `\\n`) and long lines are folded. Calendar-level names that the library
does not type itself (NAME, X-WR-CALNAME) are passed as text explicitly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from warroom.oncall.logic import Shift

PRODID = "-//warroom//on-call schedules//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"
#: How often a subscribed calendar should fetch the feed again (RFC 7986, and the
#: X-PUBLISHED-TTL that Outlook and Apple Calendar read).
REFRESH = timedelta(hours=1)


# RFC 5545 TEXT holds no control character but HTAB (a newline is written as `\n`).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(value: str) -> str:
    """`value` as RFC 5545 lets TEXT hold it: line breaks kept (CRLF and CR become LF, which
    the library escapes), every other control character but a tab made a space."""
    return _CONTROL.sub(" ", value.replace("\r\n", "\n").replace("\r", "\n"))


def shift_uid(shift: Shift) -> str:
    """The same shift keeps its UID on every export, so calendar clients update it in place.

    A rotation turn is known by its schedule, layer, person and start; a person added by
    an override by that override too, so that an addition starting at the same instant
    as the person's own turn is a separate event.
    """
    origin = "turn" if shift.added_by is None else f"add:{shift.added_by}"
    key = "|".join((shift.schedule, shift.layer or "", shift.user, shift.start.isoformat(), origin))
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@warroom"


def summary(shift: Shift) -> str:
    return f"On call: {shift.user} ({shift.layer or 'override'})"


def description(shift: Shift, title: str) -> str:
    where = title if title == shift.schedule else f"{title} ({shift.schedule})"
    if shift.added_by is not None:
        how = f"added by override {shift.added_by}"
        if shift.layer:
            how += f" in layer {shift.layer}"
    else:
        how = f"layer {shift.layer}"
    return f"{shift.user} is on call for {where}, {how}."


def render(
    shifts: Iterable[Shift],
    *,
    name: str,
    now: datetime,
    titles: Mapping[str, str] | None = None,
    feed: bool = False,
) -> bytes:
    """A calendar called `name` holding `shifts`; `now` stamps the events (DTSTAMP).

    `titles` maps a schedule's name to its title for the descriptions. A `feed` (a
    subscribed calendar) also says how often to refresh it.
    """
    from icalendar import Calendar, Event, vText  # on first use: ~3 MB a server need not hold

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", vText(text(name)))
    calendar.add("x-wr-calname", vText(text(name)))
    if feed:
        calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vText("PT1H"))
    seen: dict[str, int] = {}
    for shift in shifts:
        uid = shift_uid(shift)
        # Two identical additions (only possible without override ids) still get two UIDs;
        # the suffix follows the events' order, which is stable for the same input.
        repeat = seen.get(uid, 0)
        seen[uid] = repeat + 1
        if repeat:
            uid = uid.replace("@", f"-{repeat}@", 1)
        event = Event()
        event.add("uid", uid)
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", text(summary(shift)))
        title = (titles or {}).get(shift.schedule) or shift.schedule
        event.add("description", text(description(shift, title)))
        event.add("categories", ["on-call", text(shift.schedule)])
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
