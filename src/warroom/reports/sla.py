"""SLA compliance per clock, counted by the database beside the incident counts.

Each SLA clock (`warroom.sla.logic`: acknowledge, mitigate, resolve) runs from the
incident's declaration to its milestone, against the target of the incident's (current)
severity. An incident's clock is:

- `met`: the milestone was reached within the target;
- `breached`: reached after the target, or not reached and the target has passed while
  the incident is still open;
- `running`: not reached, the incident open, the target not yet passed;
- `missing`: neither — the incident ended without the milestone recorded, or its
  severity has no SLA in the configuration. Excluded and counted, never taken as met.

`compliance` is met / (met + breached), `null` when neither.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, literal

from warroom.reports.logic import rate
from warroom.sla.logic import SlaClock

STATES = ("met", "breached", "running")
#: Slack for the floating-point arithmetic of SQLite's julianday(): a milestone reached
#: exactly at the deadline is met.
_EPSILON = 0.001


SLA_COLUMNS = 3 * len(SlaClock)


def sla_columns(
    targets: dict[SlaClock, Any],
    is_open: Any,
    took: dict[SlaClock, Any],
    now: Any | None,
    declared: Any,
) -> list[Any]:
    """Aggregate columns: for each clock in `SlaClock` order, counts of met, breached and
    running (see the module's docstring). `targets` are each clock's target in seconds
    (NULL for a severity without one), `took` its milestone minus the declaration in
    seconds (NULL when not reached); `now` and `declared` are seconds on one scale."""
    columns: list[Any] = []
    for clock in SlaClock:
        target, spent = targets[clock], took[clock]
        reached = and_(spent.is_not(None), target.is_not(None))
        waiting = and_(spent.is_(None), target.is_not(None), is_open)
        met = and_(reached, spent <= target + _EPSILON)
        late = and_(reached, spent > target + _EPSILON)
        overdue: Any = literal(False) if now is None else (now - declared >= target - _EPSILON)
        columns += [
            func.count(case((met, 1))),
            func.count(case((late, 1), (and_(waiting, overdue), 1))),
            func.count(case((and_(waiting, ~overdue), 1))),
        ]
    return columns


def empty_sla() -> dict[str, dict[str, Any]]:
    return {
        clock.value: {"met": 0, "breached": 0, "running": 0, "missing": 0} for clock in SlaClock
    }


def add_sla(sla: dict[str, dict[str, Any]], count: int, states: list[int]) -> None:
    """Add one row of `sla_columns` (covering `count` incidents) to the tally."""
    for i, clock in enumerate(SlaClock):
        tally = sla[clock.value]
        met, breached, running = (int(v) for v in states[3 * i : 3 * i + 3])
        tally["met"] += met
        tally["breached"] += breached
        tally["running"] += running
        tally["missing"] += count - met - breached - running


def finish_sla(sla: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for tally in sla.values():
        tally["compliance"] = rate(tally["met"], tally["met"] + tally["breached"])
    return sla
