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

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal
from sqlalchemy.orm import Session

from warroom.config.schema import WarroomConfig
from warroom.db import UTCDateTime
from warroom.incidents.logic import OPEN_STATUSES
from warroom.reports.logic import rate
from warroom.reports.metrics_sql import seconds
from warroom.sla.logic import MILESTONES, SlaClock

STATES = ("met", "breached", "running")
#: Slack for the floating-point arithmetic of SQLite's julianday(): a milestone reached
#: exactly at the deadline is met.
_EPSILON = 0.001


def sla_columns(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> list[Any]:
    """Aggregate columns: for each clock in `SlaClock` order, counts of met, breached,
    running (see the module's docstring) over the rows."""
    columns: list[Any] = []
    is_open = rows.c.status.in_([s.value for s in OPEN_STATUSES])
    for clock in SlaClock:
        targets = {
            level.name: getattr(level.sla, clock.value).total_seconds()
            for level in config.severities
        }
        if not targets:
            columns += [literal(0), literal(0), literal(0)]
            continue
        target = case(targets, value=rows.c.severity, else_=None)
        stop = rows.c[MILESTONES[clock]]
        took = seconds(session, stop, rows.c.declared_at)
        reached = and_(stop.is_not(None), target.is_not(None))
        waiting = and_(stop.is_(None), target.is_not(None), is_open)
        met = and_(reached, took <= target + _EPSILON)
        late = and_(reached, took > target + _EPSILON)
        if now is None:
            overdue: Any = literal(False)
        else:
            overdue = seconds(session, literal(now, UTCDateTime()), rows.c.declared_at) >= target
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
