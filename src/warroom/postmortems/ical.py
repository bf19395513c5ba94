"""The review meeting as an iCalendar invitation (RFC 5545 with RFC 5546's METHOD:REQUEST)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from warroom.oncall.ical import text

if TYPE_CHECKING:
    from icalendar import vCalAddress

PRODID = "-//warroom//postmortem reviews//EN"


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str


def review_uid(incident_key: str, postmortem_id: int) -> str:
    """The same review keeps its UID across reschedules, so calendars move it in place."""
    return f"postmortem-review-{postmortem_id}-{incident_key.lower()}@warroom"


def _address(person: Attendee, role: str | None = None) -> vCalAddress:
    from icalendar import vCalAddress, vText

    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(text(person.name))
    if role:
        address.params["ROLE"] = vText(role)
        address.params["PARTSTAT"] = vText("NEEDS-ACTION")
        address.params["RSVP"] = vText("TRUE")
    return address


def invitation(
    *,
    uid: str,
    sequence: int,
    summary: str,
    description: str,
    start: datetime,
    end: datetime,
    organizer: Attendee,
    attendees: Sequence[Attendee],
    now: datetime,
    url: str | None = None,
) -> bytes:
    """One VEVENT in a METHOD:REQUEST calendar; a higher `sequence` updates an earlier one."""
    from icalendar import Calendar, Event  # on first use (see oncall.ical.render)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", text(summary))
    event.add("description", text(description))
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    if url:
        event.add("url", url)
    event.add("organizer", _address(organizer))
    for person in attendees:
        event.add("attendee", _address(person, "REQ-PARTICIPANT"), encode=False)
    calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
