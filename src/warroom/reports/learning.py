"""What postmortems feed the metrics: action-item completion and repeated root causes."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from warroom.clock import as_utc
from warroom.incidents.models import Incident
from warroom.postmortems.models import ActionItem, Postmortem
from warroom.reports.logic import rate

DONE, WONT_DO = "done", "wont_do"


def action_item_completion_rate(session: Session, narrow: Any) -> float | None:
    """Return the share of the incidents' action items that are done; `wont_do` items do not
    count either way (a decision not to act is neither done nor outstanding). `narrow`
    restricts a SELECT over incidents to those counted (`metrics.scope`)."""
    # From the action items to their incidents: the few items drive, not every incident.
    query = (
        select(func.count(case((ActionItem.status == DONE, 1))), func.count())
        .select_from(ActionItem)
        .join(Incident, Incident.id == ActionItem.incident_id)
        .where(ActionItem.status != WONT_DO)
    )
    done, total = session.execute(narrow(query)).one()
    return rate(done, total)


def repeat_rate(session: Session, narrow: Any, count: int, window: timedelta) -> float | None:
    """Return the share of the incidents whose postmortem's root-cause category was already
    that of another incident declared within `window` before (the postmortem's `repeat_of`)."""
    if count == 0:
        return None
    mine = session.execute(
        narrow(
            select(Incident.id, func.lower(Postmortem.root_cause_category), Incident.declared_at)
            .select_from(Postmortem)
            .join(Incident, Postmortem.incident_id == Incident.id)
            .where(Postmortem.root_cause_category.is_not(None))
        )
    ).all()
    if not mine:
        return rate(0, count)
    earliest = min(as_utc(at) for _, _, at in mine) - window
    latest = max(as_utc(at) for _, _, at in mine)
    seen: dict[str, list[datetime]] = defaultdict(list)
    for category, at in session.execute(
        select(func.lower(Postmortem.root_cause_category), Incident.declared_at)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(
            Postmortem.root_cause_category.is_not(None),
            Incident.declared_at >= earliest,
            Incident.declared_at < latest,
        )
    ):
        seen[category.strip()].append(as_utc(at))
    for times in seen.values():
        times.sort()
    repeats = 0
    for _, category, declared in mine:
        at = as_utc(declared)
        times = seen.get(category.strip(), [])
        # Another incident declared in [at - window, at): the first such time is before `at`.
        i = bisect_left(times, at - window)
        if i < len(times) and times[i] < at:
            repeats += 1
    return rate(repeats, count)
