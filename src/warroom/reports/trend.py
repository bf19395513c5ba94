"""MTTA and MTTR over time: each metric's median per chart bucket, computed in SQL.

The buckets are the period's chart buckets (`logic.Window.buckets`: hours of a day, days
of a week or month, months of a quarter or year), the same as "incidents over time". An
incident counts in the bucket its `declared_at` falls in; the metrics are the report's own
(docs/reports.md): MTTA `declared_at` → `acknowledged_at`, MTTR *begin* → `resolved_at`,
an incident missing a timestamp (or with the end before the start) left out of that metric
and never taken as zero, and the median nearest-rank (the value at rank ⌈n/2⌉). A bucket
with nothing measured has no value (None), which the chart draws as a gap.

One statement per metric: the values are ranked within their bucket by a window function
(`ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY value)`) and the row at the median rank
is kept, so only one row per bucket leaves the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.incidents.models import Incident
from warroom.incidents.service import _visible_to
from warroom.reports.logic import Window, finite
from warroom.reports.metrics_sql import seconds

#: The metrics drawn (their spans as in `reports.logic.METRICS`).
TRENDS = ("mtta", "mttr")


def _span(session: Session, name: str) -> Any:
    start: Any
    if name == "mtta":
        start, end = Incident.declared_at, Incident.acknowledged_at
    else:
        start = func.coalesce(Incident.started_at, Incident.detected_at, Incident.declared_at)
        end = Incident.resolved_at
    return case((end >= start, seconds(session, end, start)), else_=None)


def mttx_over_time(session: Session, viewer: Principal, span: Window) -> list[dict[str, Any]]:
    """One entry per bucket: `bucket`, `start`, and per metric `<name>_median` (seconds or
    None) and `<name>_measured` (how many incidents the median is of)."""
    out = [
        {"bucket": label, "start": a.isoformat(),
         **{f"{n}_median": None for n in TRENDS}, **{f"{n}_measured": 0 for n in TRENDS}}
        for label, a, _ in span.buckets
    ]  # fmt: skip
    if not span.buckets:
        return out
    bucket = case(
        *(
            (and_(Incident.declared_at >= a, Incident.declared_at < b), i)
            for i, (_, a, b) in enumerate(span.buckets)
        ),
        else_=None,
    )
    scoped = _visible_to(select(Incident.id), viewer).where(
        Incident.declared_at >= span.since,
        Incident.declared_at < span.until,
        Incident.drill_id.is_(None),  # drills are exercises, not history
    )
    for name in TRENDS:
        value = _span(session, name)
        values = (
            scoped.with_only_columns(bucket.label("b"), value.label("v"))
            .where(value.is_not(None))
            .subquery("v")
        )
        ranked = select(
            values.c.b,
            values.c.v,
            func.row_number().over(partition_by=values.c.b, order_by=values.c.v).label("rn"),
            func.count().over(partition_by=values.c.b).label("n"),
        ).subquery("r")
        medians = select(ranked.c.b, ranked.c.v, ranked.c.n).where(
            ranked.c.b.is_not(None), ranked.c.rn == (ranked.c.n + 1) // 2
        )
        for index, median, measured in session.execute(medians):
            out[index][f"{name}_median"] = finite(median)  # SQLite's julianday: to the ms
            out[index][f"{name}_measured"] = int(measured)
    return out
