"""Shifts as iCalendar (RFC 5545): one VEVENT per shift, times in UTC."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event

from warroom.oncall.logic import Shift

PRODID = "-//warroom//on-call schedules//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"


def shift_uid(shift: Shift) -> str:
    """The same shift keeps its UID on every export, so calendar clients update it in place."""
    key = "|".join((shift.schedule, shift.layer or "", shift.user, shift.start.isoformat()))
    return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@warroom"


def summary(shift: Shift) -> str:
    return f"On call: {shift.user} ({shift.layer or 'override'})"


def render(shifts: Iterable[Shift], *, name: str, now: datetime) -> bytes:
    """A calendar called `name` holding `shifts`; `now` stamps the events (DTSTAMP)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", summary(shift))
        layer = f", layer {shift.layer}" if shift.layer else ", added by an override"
        event.add("description", f"{shift.user} is on call in {shift.schedule}{layer}.")
        event.add("categories", ["on-call", shift.schedule])
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
