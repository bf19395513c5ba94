"""Who held which role, and for how long (`GET /api/v1/users/{handle}/roles-history`).

Read from the timeline's role changes, so it covers every incident since the start; a
tenure ends when the role moves on, is stood down, or the incident is resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.incidents.models import Incident, IncidentParticipant
from warroom.timeline.logic import EventType
from warroom.timeline.models import TimelineEvent


@dataclass(frozen=True)
class RoleChange:
    incident: str
    at: datetime
    role: str
    user: str | None
    previous: str | None


@dataclass(frozen=True)
class Tenure:
    incident: str
    role: str
    since: datetime
    until: datetime | None
    seconds: float


def tenures(
    changes: Sequence[RoleChange],
    handle: str,
    *,
    ended: dict[str, datetime | None],
    now: datetime,
) -> list[Tenure]:
    """The spans in which `handle` held a role; `ended` maps incidents to their resolution."""
    open_: dict[tuple[str, str], datetime] = {}
    found: list[Tenure] = []

    def close(slot: tuple[str, str], at: datetime | None) -> None:
        since = open_.pop(slot)
        stop = at or now
        found.append(Tenure(slot[0], slot[1], since, at, max((stop - since).total_seconds(), 0)))

    for change in sorted(changes, key=lambda c: c.at):
        slot = (change.incident, change.role)
        if change.user == handle and slot not in open_:
            open_[slot] = change.at
        elif change.user != handle and slot in open_:
            close(slot, change.at)
    for slot in list(open_):
        end = ended.get(slot[0])
        close(slot, min(end, now) if end else None)
    return sorted(found, key=lambda t: t.since)


def totals(items: Iterable[Tenure]) -> dict[str, float]:
    """Seconds per role."""
    result: dict[str, float] = {}
    for item in items:
        result[item.role] = result.get(item.role, 0.0) + item.seconds
    return result


def history(session: Session, *, handle: str, viewer: Principal, now: datetime) -> list[Tenure]:
    """The tenures of `handle` on the incidents `viewer` may see."""
    query = (
        select(TimelineEvent, Incident)
        .join(Incident, Incident.id == TimelineEvent.incident_id)
        .where(TimelineEvent.type == EventType.ROLE_CHANGE.value)
    )
    if not viewer.can_see(restricted=True, participants=set()):
        participant_of = select(IncidentParticipant.incident_id).where(
            IncidentParticipant.user == (viewer.user or "")
        )
        query = query.where(or_(Incident.restricted.is_(False), Incident.id.in_(participant_of)))
    changes: list[RoleChange] = []
    ended: dict[str, datetime | None] = {}
    for event, incident in session.execute(query.order_by(TimelineEvent.timestamp)):
        details = event.details or {}
        if handle not in (details.get("user"), details.get("previous_user")):
            continue
        ended[incident.key] = incident.resolved_at or incident.closed_at
        changes.append(
            RoleChange(
                incident=incident.key,
                at=event.timestamp,
                role=str(details.get("role")),
                user=details.get("user"),
                previous=details.get("previous_user"),
            )
        )
    return tenures(changes, handle, ended=ended, now=now)
