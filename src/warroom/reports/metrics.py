"""The metrics report, computed by the database: counts, MTTx means and percentiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.service import _visible_to
from warroom.reports import impact, learning
from warroom.reports.logic import METRICS, PERCENTILES, GroupBy, finite, nearest_rank
from warroom.reports.metrics_sql import seconds
from warroom.reports.sla import add_sla, empty_sla, finish_sla, sla_columns

NONE = "(none)"


@dataclass(frozen=True)
class Query:
    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy | None = None
    services: tuple[str, ...] = field(default_factory=tuple)
    # The moment SLA clocks still running are judged at (the injected clock's now).
    now: datetime | None = None


def _rows(
    session: Session, config: WarroomConfig, viewer: Principal, q: Query, by: GroupBy | None
) -> Any:
    """Return one row per incident and group key, with the timestamps the metrics use."""
    begin = func.coalesce(Incident.started_at, Incident.detected_at, Incident.declared_at)
    joined = False
    key: Any
    if by is None:
        key = literal("all")
    elif by is GroupBy.SEVERITY:
        key = Incident.severity
    elif by is GroupBy.TYPE:
        key = func.coalesce(Incident.type, NONE)
    elif by is GroupBy.SERVICE:
        key, joined = func.coalesce(IncidentService.service, NONE), True
    else:
        owners = {s.name: s.owner for s in config.services if s.owner}
        key = (
            case(owners, value=IncidentService.service, else_=literal(NONE))
            if owners
            else literal(NONE)
        )
        joined = True
    query: Any = select(
        Incident.id.label("incident_id"),
        key.label("key"),
        Incident.severity.label("severity"),
        Incident.status.label("status"),
        Incident.started_at.label("started_at"),
        Incident.detected_at.label("detected_at"),
        Incident.declared_at.label("declared_at"),
        Incident.acknowledged_at.label("acknowledged_at"),
        Incident.mitigated_at.label("mitigated_at"),
        Incident.resolved_at.label("resolved_at"),
        begin.label("begin"),
        Incident.impact["affected_users"].as_float().label("affected_users"),
    )
    if joined:
        query = query.outerjoin(IncidentService, IncidentService.incident_id == Incident.id)
    query = _visible_to(query, viewer)
    if q.since is not None:
        query = query.where(Incident.declared_at >= q.since)
    if q.until is not None:
        query = query.where(Incident.declared_at < q.until)
    if q.services:
        query = query.where(
            Incident.id.in_(
                select(IncidentService.incident_id).where(IncidentService.service.in_(q.services))
            )
        )
    if by is GroupBy.TEAM:
        query = query.distinct()
    return query.subquery("rows")


def _epoch(interval: Any) -> Any:
    return cast(func.extract("epoch", interval), Float)


def _span(session: Session, rows: Any, name: str) -> Any:
    metric = next(m for m in METRICS if m.name == name)
    start, end = rows.c[metric.start], rows.c[metric.end]
    return case((end >= start, seconds(session, end, start)), else_=None)


def _stats(session: Session, rows: Any, key_is_constant: bool) -> list[tuple[Any, ...]]:
    """Return (metric, key, measured, mean, p50, p90) rows, the database's fastest way."""
    if session.get_bind().dialect.name == "postgresql":
        # Ordered-set aggregates over intervals (percentile_disc is the nearest-rank
        # percentile; the calls share one sort per metric), seconds taken at the end.
        columns: list[Any] = [rows.c.key]
        for metric in METRICS:
            start, end = rows.c[metric.start], rows.c[metric.end]
            v = case((end >= start, end - start), else_=None)
            columns += [func.count(v), _epoch(func.avg(v))]
            columns += [_epoch(func.percentile_disc(p / 100).within_group(v)) for p in PERCENTILES]
        out = []
        width = 2 + len(PERCENTILES)
        for key, *values in session.execute(select(*columns).group_by(rows.c.key)):
            for i, metric in enumerate(METRICS):
                out.append((metric.name, key, *values[i * width : (i + 1) * width]))
        return out
    if key_is_constant:
        return _sqlite_overall(session, rows)
    # SQLite has no percentile aggregate: one pass for counts and means per group, then one
    # sort per metric numbers each group's values and keeps those at the percentile ranks.
    columns = [rows.c.key]
    for metric in METRICS:
        v = _span(session, rows, metric.name)
        columns += [func.count(v), func.avg(v)]
    totals = session.execute(select(*columns).group_by(rows.c.key)).all()
    out = []
    for i, metric in enumerate(METRICS):
        if not any(t[1 + 2 * i] for t in totals):
            continue
        v = _span(session, rows, metric.name).label("v")
        numbered = (
            select(
                rows.c.key.label("key"),
                v,
                func.row_number().over(partition_by=rows.c.key, order_by=v).label("rn"),
                func.count().over(partition_by=rows.c.key).label("n"),
            )
            .where(v.is_not(None))
            .subquery("numbered")
        )
        wanted = [numbered.c.rn == (p * numbered.c.n + 99) // 100 for p in PERCENTILES]
        picked = select(numbered.c.key, numbered.c.rn, numbered.c.v).where(or_(*wanted))
        at_rank = {(key, rn): value for key, rn, value in session.execute(picked)}
        for total in totals:
            key, measured, mean = total[0], total[1 + 2 * i], total[2 + 2 * i]
            if not measured:
                continue
            ps = [at_rank.get((key, nearest_rank(p, measured))) for p in PERCENTILES]
            out.append((metric.name, key, measured, mean, *ps))
    return out


BINS = 2048


def _sqlite_overall(session: Session, rows: Any) -> list[tuple[Any, ...]]:
    """Return the overall statistics on SQLite without sorting every value."""
    # One pass for counts, means and ranges; per metric, a histogram of BINS equal bins
    # finds the bin holding each percentile's rank, and only that bin's values are sorted.
    columns: list[Any] = []
    for metric in METRICS:
        v = _span(session, rows, metric.name)
        columns += [func.count(v), func.avg(v), func.min(v), func.max(v)]
    totals = session.execute(select(*columns)).one()
    out: list[tuple[Any, ...]] = []
    for i, metric in enumerate(METRICS):
        measured, mean, low, high = totals[4 * i : 4 * i + 4]
        if not measured:
            continue
        if low == high:
            out.append((metric.name, "all", measured, mean, *([low] * len(PERCENTILES))))
            continue
        v = _span(session, rows, metric.name)
        width = (high - low) / BINS
        index = cast((v - literal(low)) / literal(width), Integer)
        bin_ = case((index >= BINS, BINS - 1), else_=index).label("bin")
        histogram = session.execute(
            select(bin_, func.count()).where(v.is_not(None)).group_by(bin_).order_by(bin_)
        ).all()
        ps = []
        for p in PERCENTILES:
            rank, below = nearest_rank(p, measured), 0
            for number, n in histogram:
                if below + n >= rank:
                    ps.append(
                        session.scalar(
                            select(v)
                            .where(v.is_not(None), bin_ == number)
                            .order_by(v)
                            .limit(1)
                            .offset(rank - below - 1)
                        )
                    )
                    break
                below += n
        out.append((metric.name, "all", measured, mean, *ps))
    return out


def _group(
    session: Session,
    config: WarroomConfig,
    rows: Any,
    now: datetime | None,
    key_is_constant: bool = False,
) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    counts = select(
        rows.c.key, rows.c.severity, func.count(), *sla_columns(session, config, rows, now)
    ).group_by(rows.c.key, rows.c.severity)
    for key, severity, n, *states in session.execute(counts):
        group = groups.setdefault(
            key, {"key": key, "count": 0, "by_severity": {}, "sla": empty_sla()}
        )
        group["count"] += n
        group["by_severity"][severity] = n
        add_sla(group["sla"], n, states)
    for group in groups.values():
        finish_sla(group["sla"])
    for group in groups.values():
        for metric in METRICS:
            group[metric.name] = _empty(group["count"])
            group[f"{metric.name}_seconds"] = None
    for metric, key, measured, mean, *ps in _stats(session, rows, key_is_constant):
        group = groups[key]
        stats = {
            "mean": finite(mean),
            **{f"p{p}": finite(v) for p, v in zip(PERCENTILES, ps, strict=True)},
            "measured": measured,
            "missing": group["count"] - measured,
        }
        stats["median"] = stats["p50"]
        group[metric] = stats
        group[f"{metric}_seconds"] = stats["mean"]
    return groups


def _empty(count: int) -> dict[str, Any]:
    return {"mean": None, "median": None, "p50": None, "p90": None, "measured": 0, "missing": count}


def metrics(
    session: Session, *, config: WarroomConfig, viewer: Principal, query: Query
) -> dict[str, Any]:
    """Return the metrics of the incidents declared in [since, until) the viewer may see."""
    rows = _rows(session, config, viewer, query, None)
    overall = _group(session, config, rows, query.now, key_is_constant=True).get("all") or {
        "count": 0,
        "by_severity": {},
        "sla": finish_sla(empty_sla()),
        **{m.name: _empty(0) for m in METRICS},
        **{f"{m.name}_seconds": None for m in METRICS},
    }
    overall.pop("key", None)
    notes: list[str] = []
    window = config.postmortems.repeat_window
    result: dict[str, Any] = {
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        **overall,
        "repeat_rate": learning.repeat_rate(session, rows, overall["count"], window),
        "action_item_completion_rate": learning.action_item_completion_rate(session, rows),
        "business_impact": impact.total(session, config, rows, overall["count"]),
        "notes": notes,
    }
    if query.group_by is not None:
        by = _rows(session, config, viewer, query, query.group_by)
        grouped = _group(session, config, by, query.now)
        result["group_by"] = query.group_by.value
        result["groups"] = sorted(grouped.values(), key=lambda g: (-g["count"], g["key"]))
    return result
