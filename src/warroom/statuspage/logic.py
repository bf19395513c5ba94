"""Status page rules: Statuspage's vocabulary, impact, the page indicator, uptime.

The public incident is a projection of the internal one, with its own small state machine
(investigating → identified → monitoring → resolved, any order, reopened by a new update)
and its own wording. Nothing here reads the clock or the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from warroom.config.incidents import ComponentStatus


class StatusSource(StrEnum):
    MANUAL = "manual"
    INCIDENT = "incident"
    MAINTENANCE = "maintenance"
    CONFIG = "config"


class PublicStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


IMPACT_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}
_COMPONENT_IMPACT = {
    ComponentStatus.OPERATIONAL: Impact.NONE,
    ComponentStatus.UNDER_MAINTENANCE: Impact.NONE,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
}
# How bad a status is, for "the worst of" (maintenance is planned, not an outage).
COMPONENT_RANK = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
# Seed 000's status page wording, used when a public change carries no message of its own.
DEFAULT_BODY = {
    PublicStatus.INVESTIGATING: "We are currently investigating this issue. "
    "Our team is actively working to identify the root cause.",
    PublicStatus.IDENTIFIED: "The issue has been identified and a fix is being implemented.",
    PublicStatus.MONITORING: "A fix has been implemented and we are monitoring the results.",
    PublicStatus.RESOLVED: "This incident has been resolved.",
    PublicStatus.POSTMORTEM: "A postmortem of this incident has been published.",
}
_INDICATOR_TEXT = {
    Impact.NONE: "All Systems Operational",
    Impact.MINOR: "Minor Service Outage",
    Impact.MAJOR: "Partial System Outage",
    Impact.CRITICAL: "Major System Outage",
}
COMPONENT_LABEL = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded Performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial Outage",
    ComponentStatus.MAJOR_OUTAGE: "Major Outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under Maintenance",
}


def public_status_for(internal: str) -> PublicStatus | None:
    """The public status an internal one maps to (closed is resolved; others have none)."""
    if internal == "closed":
        return PublicStatus.RESOLVED
    try:
        return PublicStatus(internal)
    except ValueError:
        return None


def stable_id(kind: str, value: str | int) -> str:
    """A Statuspage-like opaque id (12 lowercase characters) that never changes for a row."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:12]


def impact_of(statuses: Iterable[ComponentStatus]) -> Impact:
    """The impact a set of component statuses implies: the worst of them."""
    worst = Impact.NONE
    for status in statuses:
        candidate = _COMPONENT_IMPACT[status]
        if IMPACT_RANK[candidate] > IMPACT_RANK[worst]:
            worst = candidate
    return worst


def worse_impact(a: Impact, b: Impact) -> Impact:
    return a if IMPACT_RANK[a] >= IMPACT_RANK[b] else b


@dataclass(frozen=True)
class Indicator:
    indicator: Impact
    description: str


def page_indicator(
    components: Iterable[ComponentStatus],
    unresolved_impacts: Iterable[Impact],
    maintenance_in_progress: bool = False,
) -> Indicator:
    """status.json's indicator: the worst of the components and of unresolved incidents."""
    worst = impact_of(components)
    for impact in unresolved_impacts:
        worst = worse_impact(worst, impact)
    if worst is Impact.NONE and maintenance_in_progress:
        return Indicator(Impact.NONE, "Service Under Maintenance")
    return Indicator(worst, _INDICATOR_TEXT[worst])


def default_title(components: Sequence[str]) -> str:
    """Seed 000's title for a public incident when the responder gives none."""
    if not components:
        return "Service disruption"
    return f"Investigating issues with {', '.join(components)}"


# --- uptime -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """One stretch of time in one status."""

    status: ComponentStatus
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DayRollup:
    day: date
    # Minutes in each outage status; operational and maintenance count as up.
    degraded: float
    partial: float
    major: float
    # False for days before the component existed (shown as "no data").
    observed: bool = True

    @property
    def worst(self) -> ComponentStatus:
        if self.major:
            return ComponentStatus.MAJOR_OUTAGE
        if self.partial:
            return ComponentStatus.PARTIAL_OUTAGE
        if self.degraded:
            return ComponentStatus.DEGRADED_PERFORMANCE
        return ComponentStatus.OPERATIONAL


def intervals(
    changes: Sequence[tuple[datetime, ComponentStatus]], until: datetime
) -> list[Interval]:
    """Turn a component's ordered status changes into intervals ending at `until`."""
    out: list[Interval] = []
    for (at, status), following in zip(changes, [*changes[1:], (until, None)], strict=True):
        end = min(following[0], until)
        if end > at:
            out.append(Interval(status, at, end))
    return out


def daily_rollups(spans: Sequence[Interval], *, today: date, days: int = 90) -> list[DayRollup]:
    """Minutes spent in each outage status per UTC day, oldest first, `days` days to today."""
    first = today - timedelta(days=days - 1)
    minutes: dict[date, dict[ComponentStatus, float]] = {}
    for span in spans:
        cursor = span.start
        while cursor < span.end:
            day = cursor.date()
            next_midnight = datetime.combine(
                day + timedelta(days=1), datetime.min.time(), cursor.tzinfo
            )
            stop = min(span.end, next_midnight)
            if first <= day <= today:
                bucket = minutes.setdefault(day, {})  # a day with any interval is observed
                bucket[span.status] = (
                    bucket.get(span.status, 0.0) + (stop - cursor).total_seconds() / 60
                )
            cursor = stop
    rollups = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        bucket = minutes.get(day, {})
        rollups.append(
            DayRollup(
                day=day,
                degraded=bucket.get(ComponentStatus.DEGRADED_PERFORMANCE, 0.0),
                partial=bucket.get(ComponentStatus.PARTIAL_OUTAGE, 0.0),
                major=bucket.get(ComponentStatus.MAJOR_OUTAGE, 0.0),
                observed=day in minutes,
            )
        )
    return rollups


def uptime_percent(rollups: Sequence[DayRollup], observed_minutes: float) -> float:
    """Statuspage's formula: major outage counts fully, partial outage at 30 %."""
    if observed_minutes <= 0:
        return 100.0
    down = sum(r.major + 0.3 * r.partial for r in rollups)
    return max(0.0, 100.0 * (1 - down / observed_minutes))


# --- scheduled maintenance ------------------------------------------------------------------

REMINDER_BEFORE = timedelta(minutes=60)


def maintenance_status(
    stored: MaintenanceStatus, *, auto: bool, start: datetime, end: datetime, now: datetime
) -> MaintenanceStatus:
    """Where a maintenance stands at `now`.

    With automatic transitions it is scheduled before its start, in progress during its
    window and completed after it; a person may say verifying (kept until the end) or
    completed (kept for good). Without them it stays where a person put it.
    """
    if stored is MaintenanceStatus.COMPLETED or not auto:
        return stored
    if now < start:
        return MaintenanceStatus.SCHEDULED
    if now >= end:
        return MaintenanceStatus.COMPLETED
    if stored is MaintenanceStatus.VERIFYING:
        return stored
    return MaintenanceStatus.IN_PROGRESS
