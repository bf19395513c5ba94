"""The review meeting: a slot within the configured business days, and an invitation by
e-mail through the outbox to everyone who took part."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.engine import outbox
from warroom.errors import ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.postmortems import ical, logic
from warroom.postmortems.models import Postmortem
from warroom.timeline.logic import EventType

NO_REPLY = "warroom@warroom.invalid"


def participants(incident: Incident, pm: Postmortem) -> list[str]:
    """The owner, the role holders and everyone else on the incident, once each."""
    handles = [pm.owner] if pm.owner else []
    handles += [r.user for r in incident.roles] + sorted(p.user for p in incident.participants)
    return list(dict.fromkeys(h for h in handles if h))


def _attendee(config: WarroomConfig, handle: str) -> ical.Attendee | None:
    person = config.user(handle)
    if person is None or not person.email:
        return None
    return ical.Attendee(person.name, person.email)


def schedule(
    session: Session,
    *,
    config: WarroomConfig,
    pm: Postmortem,
    incident: Incident,
    at: datetime | None,
    people: list[str] | None,
    now: datetime,
    actor: str | None,
) -> int:
    """Set the review time (the policy's slot unless `at`) and invite; return e-mails queued.

    A review a person (re)schedules (`actor`) is also noted on the incident's timeline.
    """
    policy = config.postmortems.postmortem
    if at is None:
        start, end = logic.review_slot(policy, incident.resolved_at or now)
    else:
        if at < now:
            raise ValidationFailed("the review cannot be in the past", field="at")
        start, end = at, at + policy.review_duration
    handles = people if people is not None else participants(incident, pm)
    for i, handle in enumerate(handles):
        if config.users and config.user(handle) is None:
            raise ValidationFailed(f"unknown user {handle!r}", field=f"participants.{i}")
    invited = [(h, a) for h in handles if (a := _attendee(config, h)) is not None]
    pm.review_at = start
    pm.review_sequence = (pm.review_sequence or 0) + 1
    base_url = str(session.info.get("base_url") or "").rstrip("/")
    organizer = _attendee(config, pm.owner) if pm.owner else None
    summary = f"Postmortem review: {incident.key} {incident.title}"
    url = f"{base_url}/incidents/{incident.key}/postmortem" if base_url else None
    description = (
        f"Blameless review of {incident.key} ({incident.severity}): timeline walkthrough, "
        "what went well, what could be improved, action items." + (f"\n{url}" if url else "")
    )
    body = ical.invitation(
        uid=ical.review_uid(incident.key, pm.id),
        sequence=pm.review_sequence - 1,
        summary=summary,
        description=description,
        start=start,
        end=end,
        organizer=organizer or ical.Attendee("warroom", NO_REPLY),
        attendees=[a for _, a in invited],
        now=now,
        url=url,
    ).decode()
    queued = 0
    for handle, person in invited:
        row = outbox.NewNotification(
            idempotency_key=f"pm-review:{pm.id}:{pm.review_sequence}:{handle}",
            channel="email",
            address=person.email,
            reason="postmortem_review",
            subject=summary,
            body=f"{description}\n\nWhen: {start:%A %Y-%m-%d %H:%M} UTC",
            due_at=now,
            recipient=handle,
            incident_id=incident.id,
            payload={"incident": incident.key, "calendar": body},
        )
        queued += outbox.enqueue(session, row, now=now) is not None
    if actor is not None:
        incidents.record(
            session,
            incident=incident,
            type=EventType.NOTE,
            description=f"Postmortem review scheduled for {start:%Y-%m-%d %H:%M} UTC; "
            f"{len(invited)} invited",
            now=now,
            actor=actor,
            details={"postmortem": True, "invited": [h for h, _ in invited]},
        )
    return queued
