"""SLA clocks and update cadence as pure functions of an incident's times. No clock reads.

SLA clocks (seed 002's "Response Time SLAs": time to acknowledge, to mitigate, to
resolve, per severity) all run from the incident's *declaration* (`declared_at`): that is
when warroom, and so the clocks, learnt of it. A clock stops at its milestone —
`acknowledged_at`, `mitigated_at`, `resolved_at` — and warns at `fraction` of its target
(80 % by default: a 15-minute acknowledge target warns at 12 minutes, 3 minutes left)
before it breaches at 100 %. A change of severity re-plans the clocks from the same
declaration with the new level's targets; a deadline already past comes due at once, and
a warning whose breach is also past is skipped (the breach says more).

Update cadence: whoever communicates (the communications lead, else the incident
commander) is reminded when `update_interval` has passed since the last communication —
a `communication` timeline event or a public status update — or since declaration, and
again every interval while the incident is open.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from warroom.config.durations import format_duration
from warroom.config.incidents import SlaClocks


class SlaClock(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"


#: The incident timestamp that stops each clock.
MILESTONES = {
    SlaClock.ACKNOWLEDGE: "acknowledged_at",
    SlaClock.MITIGATE: "mitigated_at",
    SlaClock.RESOLVE: "resolved_at",
}

Kind = Literal["warning", "breach"]


@dataclass(frozen=True, slots=True)
class Deadline:
    clock: SlaClock
    kind: Kind
    at: datetime
    deadline: datetime
    target: timedelta


def deadlines(sla: SlaClocks, declared_at: datetime, fraction: float) -> list[Deadline]:
    """Each clock's warning and breach instants, in time order."""
    found: list[Deadline] = []
    for clock in SlaClock:
        target: timedelta = getattr(sla, clock.value)
        deadline = declared_at + target
        warning = declared_at + target * fraction
        found.append(Deadline(clock, "warning", warning, deadline, target))
        found.append(Deadline(clock, "breach", deadline, deadline, target))
    return sorted(found, key=lambda d: (d.at, d.kind == "breach"))


def pending(
    sla: SlaClocks,
    declared_at: datetime,
    fraction: float,
    *,
    reached: Collection[SlaClock],
    now: datetime,
) -> list[Deadline]:
    """What to schedule now: the clocks not yet stopped, minus warnings whose breach is
    past too. Past instants are left as they are (the caller makes them due now)."""
    return [
        d
        for d in deadlines(sla, declared_at, fraction)
        if d.clock not in reached and not (d.kind == "warning" and d.deadline <= now)
    ]


def warning_text(clock: SlaClock, target: timedelta, left: timedelta) -> str:
    """`SLA at risk: acknowledge within 15 minutes (3 minutes left)`."""
    left = max(left, timedelta(0))
    return (
        f"SLA at risk: {clock.value} within {format_duration(target)} "
        f"({format_duration(left)} left)"
    )


def breach_text(clock: SlaClock, target: timedelta) -> str:
    """`SLA breached: acknowledge within 15 minutes`."""
    return f"SLA breached: {clock.value} within {format_duration(target)}"


def next_update(since: datetime, interval: timedelta, now: datetime) -> datetime:
    """When the next update is due: an interval after the last one, at once if overdue."""
    return max(since + interval, now)


def reminder_text(severity: str, interval: timedelta, since: datetime, at: datetime) -> str:
    """`Update due: no update for 15 minutes (SEV1: every 15 minutes)`."""
    quiet = format_duration(max(at - since, timedelta(0)))
    return f"Update due: no update for {quiet} ({severity}: every {format_duration(interval)})"
