"""The metrics report, computed by the database: counts, MTTx means and percentiles, SLA
compliance — all of one grouping in one statement (see docs/reports.md, "How")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.incidents.logic import OPEN_STATUSES
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.service import _visible_to
from warroom.reports import impact, learning
from warroom.reports.logic import METRICS, PERCENTILES, GroupBy, finite, nearest_rank
from warroom.reports.metrics_sql import epoch, epoch_of, prepare
from warroom.reports.sla import SLA_COLUMNS, add_sla, empty_sla, finish_sla, sla_columns
from warroom.sla.logic import MILESTONES, SlaClock

NONE = "(none)"
#: The timestamps the statement reads, as seconds, each converted once per row.
_TIMES = ("started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at",
          "resolved_at")  # fmt: skip


@dataclass(frozen=True)
class Query:
    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy | None = None
    services: tuple[str, ...] = field(default_factory=tuple)
    # The moment SLA clocks still running are judged at (the injected clock's now).
    now: datetime | None = None


Scope = Callable[[Any], Any]


def scope(viewer: Principal, q: Query) -> Scope:
    """Return what narrows a SELECT over `incidents` to the incidents the report counts."""

    def narrow(query: Any) -> Any:
        query = _visible_to(query, viewer)
        query = query.where(Incident.drill_id.is_(None))  # drills are exercises, not history
        if q.since is not None:
            query = query.where(Incident.declared_at >= q.since)
        if q.until is not None:
            query = query.where(Incident.declared_at < q.until)
        if q.services:
            query = query.where(
                Incident.id.in_(
                    select(IncidentService.incident_id).where(
                        IncidentService.service.in_(q.services)
                    )
                )
            )
        return query

    return narrow


def _rows(config: WarroomConfig, narrow: Scope, by: GroupBy | None) -> Any:
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
        *(getattr(Incident, name).label(name) for name in _TIMES),
        begin.label("begin"),
        Incident.impact["affected_users"].as_float().label("affected_users"),
    )
    if joined:
        query = query.outerjoin(IncidentService, IncidentService.incident_id == Incident.id)
    query = narrow(query)
    if by is GroupBy.TEAM:
        query = query.distinct()
    return query.subquery("rows")


def _epochs(session: Session, config: WarroomConfig, rows: Any) -> Any:
    """A CTE with each row's timestamps as seconds, converted once per row (materialized,
    so that the statement's parts read it instead of scanning the incidents again), and
    the SLA targets of its severity."""
    dialect = session.get_bind().dialect.name
    is_open = case((rows.c.status.in_([s.value for s in OPEN_STATUSES]), 1), else_=0)
    targets = []
    for clock in SlaClock:
        by_level = {
            level.name: getattr(level.sla, clock.value).total_seconds()
            for level in config.severities
        }
        target = case(by_level, value=rows.c.severity, else_=None) if by_level else null()
        targets.append(target.label(f"target_{clock.value}"))
    return (
        select(
            rows.c.key.label("key"),
            rows.c.severity.label("severity"),
            is_open.label("open"),
            *(epoch(dialect, rows.c[name]).label(name) for name in _TIMES),
            *targets,
        )
        .cte("e")
        .prefix_with("MATERIALIZED")
    )


def _aggregates(session: Session, e: Any, now: datetime | None) -> tuple[list[Any], list[Any]]:
    """Return the metrics' spans over `e` and the aggregate columns: for each metric the
    measured count and the sum, then the SLA states (`reports.sla`)."""
    dialect = session.get_bind().dialect.name
    begin = func.coalesce(e.c.started_at, e.c.detected_at, e.c.declared_at)

    def column(name: str) -> Any:
        return begin if name == "begin" else e.c[name]

    spans = []
    for metric in METRICS:
        start, end = column(metric.start), column(metric.end)
        spans.append(case((end >= start, end - start), else_=None))
    took = {clock: e.c[MILESTONES[clock]] - e.c.declared_at for clock in SlaClock}
    targets = {clock: e.c[f"target_{clock.value}"] for clock in SlaClock}
    now_s = None if now is None else literal(epoch_of(dialect, now))
    columns: list[Any] = []
    for v in spans:
        columns += [func.count(v), func.sum(v)]
    columns += sla_columns(targets, e.c.open == 1, took, now_s, e.c.declared_at)
    return spans, columns


def _overall_statement(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> Any:
    """One statement, one row, no sort but one per percentile: counts (per severity by
    conditional counts, not GROUP BY, which would sort every row), sums, SLA states, and
    each percentile as the value at its rank (`ORDER BY … LIMIT 1 OFFSET rank - 1`; the
    upper percentiles from the top, so the sort keeps only the values above)."""
    e = _epochs(session, config, rows)
    spans, columns = _aggregates(session, e, now)
    levels = [level.name for level in config.severities]
    picks: list[Any] = []
    if session.get_bind().dialect.name == "postgresql":
        # Ordered-set aggregates in the same pass; the calls over one metric share a sort.
        for v in spans:
            picks += [func.percentile_disc(p / 100).within_group(v) for p in PERCENTILES]
    else:
        n = select(*(func.count(v).label(f"n{i}") for i, v in enumerate(spans))).cte("n")
        n = n.prefix_with("MATERIALIZED")
        for i, v in enumerate(spans):
            measured = n.c[f"n{i}"]
            for p in PERCENTILES:
                rank = (p * measured + 99) // 100
                value = select(v).select_from(e).where(v.is_not(None)).limit(1)
                if p <= 50:
                    value = value.order_by(v).offset(select(rank - 1).scalar_subquery())
                else:
                    value = value.order_by(v.desc()).offset(
                        select(measured - rank).scalar_subquery()
                    )
                picks.append(value.scalar_subquery())
    by_level = [func.count(case((e.c.severity == name, 1))) for name in levels]
    return select(func.count(), *by_level, *columns, *picks).select_from(e), levels


def _grouped_statement(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> Any:
    """One statement for a grouping: the first part counts per (key, severity), and one
    part per metric numbers each key's values in order (one window, one sort) and keeps
    the rows at the percentile ranks."""
    e = _epochs(session, config, rows)
    spans, columns = _aggregates(session, e, now)
    counts = [func.count(), *columns]
    width = len(counts)
    parts = [
        select(literal(-1).label("part"), e.c.key, e.c.severity, *counts).group_by(
            e.c.key, e.c.severity
        )
    ]
    if session.get_bind().dialect.name == "postgresql":
        # Ordered-set aggregates per group (the window below is slower there): one
        # part per metric, its percentiles side by side; parts are numbered from 100.
        for i, v in enumerate(spans):
            picks = [func.percentile_disc(p / 100).within_group(v) for p in PERCENTILES]
            filler = [null()] * (width - 1 - len(picks))
            parts.append(
                select(literal(100 + i), e.c.key, null(), func.count(v), *picks, *filler)
                .where(v.is_not(None))
                .group_by(e.c.key)
            )
        return union_all(*parts)
    for i, v in enumerate(spans):
        numbered = (
            select(
                e.c.key.label("key"),
                v.label("v"),
                # One window (one sort): the count spans the whole partition.
                func.row_number().over(partition_by=e.c.key, order_by=v).label("rn"),
                func.count().over(partition_by=e.c.key, order_by=v, rows=(None, None)).label("n"),
            )
            .where(v.is_not(None))
            .subquery(f"ranked{i}")
        )
        n = numbered.c.n
        wanted = [numbered.c.rn == (p * n + 99) // 100 for p in PERCENTILES]
        filler = [null()] * (width - 2)
        parts.append(
            select(
                literal(i), numbered.c.key, null(), numbered.c.rn.cast(Integer), numbered.c.v,
                *filler,
            ).where(or_(*wanted))
        )  # fmt: skip
    return union_all(*parts)


def _new_group(key: str) -> dict[str, Any]:
    return {"key": key, "count": 0, "by_severity": {}, "sla": empty_sla()}


def _finish(
    group: dict[str, Any], sums: list[tuple[int, float]], at_rank: dict[int, dict[int, Any]]
) -> None:
    """Fill in a group's metrics from (measured, sum) per metric and the values at ranks."""
    finish_sla(group["sla"])
    for i, metric in enumerate(METRICS):
        measured, total = sums[i]
        stats = _empty(group["count"])
        if measured:
            at = at_rank.get(i, {})
            ps = {f"p{p}": finite(at.get(nearest_rank(p, measured))) for p in PERCENTILES}
            stats = {
                "mean": finite(total / measured),
                **ps,
                "median": ps["p50"],
                "measured": measured,
                "missing": group["count"] - measured,
            }
        group[metric.name] = stats
        group[f"{metric.name}_seconds"] = stats["mean"]


def _overall(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> dict[str, Any]:
    statement, levels = _overall_statement(session, config, rows, now)
    count, *rest = session.execute(statement).one()
    group = _new_group("all")
    group["count"] = count
    by_level = rest[: len(levels)]
    group["by_severity"] = {name: n for name, n in zip(levels, by_level, strict=True) if n}
    rest = rest[len(levels) :]
    sums = [(rest[2 * i], rest[2 * i + 1] or 0.0) for i in range(len(METRICS))]
    rest = rest[2 * len(METRICS) :]
    add_sla(group["sla"], count, rest[:SLA_COLUMNS])
    picks = rest[SLA_COLUMNS:]
    at_rank: dict[int, dict[int, Any]] = {}
    for i in range(len(METRICS)):
        measured = sums[i][0]
        if measured:
            at_rank[i] = {
                nearest_rank(p, measured): picks[i * len(PERCENTILES) + k]
                for k, p in enumerate(PERCENTILES)
            }
    _finish(group, sums, at_rank)
    if sum(group["by_severity"].values()) != count:  # a severity the configuration lacks
        group["by_severity"] = dict(
            session.execute(select(rows.c.severity, func.count()).group_by(rows.c.severity)).all()
        )
    return group


def _group(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    ranked: dict[str, dict[int, dict[int, Any]]] = {}
    sums: dict[str, list[list[float]]] = {}
    for part, key, severity, first, *rest in session.execute(
        _grouped_statement(session, config, rows, now)
    ):
        if part >= 100:  # PostgreSQL: the measured count, then the percentiles
            ranked.setdefault(key, {})[part - 100] = {
                nearest_rank(p, int(first)): rest[k] for k, p in enumerate(PERCENTILES)
            }
            continue
        if part >= 0:
            ranked.setdefault(key, {}).setdefault(part, {})[int(first)] = rest[0]
            continue
        group = groups.setdefault(key, _new_group(key))
        group["count"] += first
        group["by_severity"][severity] = first
        totals = sums.setdefault(key, [[0, 0.0] for _ in METRICS])
        for i in range(len(METRICS)):
            totals[i][0] += rest[2 * i]
            totals[i][1] += rest[2 * i + 1] or 0.0
        add_sla(group["sla"], first, rest[2 * len(METRICS) : 2 * len(METRICS) + SLA_COLUMNS])
    for key, group in groups.items():
        _finish(group, [(int(a), b) for a, b in sums[key]], ranked.get(key, {}))
    return groups


def _empty(count: int) -> dict[str, Any]:
    return {"mean": None, "median": None, "p50": None, "p90": None, "measured": 0, "missing": count}


def metrics(
    session: Session, *, config: WarroomConfig, viewer: Principal, query: Query
) -> dict[str, Any]:
    """Return the metrics of the incidents declared in [since, until) the viewer may see."""
    prepare(session)
    narrow = scope(viewer, query)
    rows = _rows(config, narrow, None)
    overall = _overall(session, config, rows, query.now)
    overall.pop("key", None)
    notes: list[str] = []
    window = config.postmortems.repeat_window
    result: dict[str, Any] = {
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
        **overall,
        "repeat_rate": learning.repeat_rate(session, narrow, overall["count"], window),
        "action_item_completion_rate": learning.action_item_completion_rate(session, narrow),
        "business_impact": impact.total(session, config, rows, overall["count"]),
        "notes": notes,
    }
    if query.group_by is not None:
        grouped = _group(session, config, _rows(config, narrow, query.group_by), query.now)
        result["group_by"] = query.group_by.value
        result["groups"] = sorted(grouped.values(), key=lambda g: (-g["count"], g["key"]))
    return result
