"""The metrics report, computed by the database: counts, MTTx means and percentiles, SLA
compliance — from the timestamps and the spans the database generates from them
(warroom.incidents.spans), in one statement per grouping on PostgreSQL and, overall,
three on SQLite (see docs/reports.md, "How")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

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
#: Each metric's span in seconds, a column the database generates (warroom.incidents.spans).
SPANS = {
    "mttd": Incident.detect_seconds,
    "mtta": Incident.acknowledge_seconds,
    "mttm": Incident.mitigate_seconds,
    "mttr": Incident.resolve_seconds,
}
#: The timestamps the SLA clocks read, as seconds, each converted once per row.
_SLA_TIMES = ("declared_at", "acknowledged_at", "mitigated_at", "resolved_at")


def _unindexed(column: Any) -> Any:
    """`+column`: SQLite does not answer a term on it with an index (a no-op otherwise)."""
    return UnaryExpression(column.expression, operator=custom_op("+"), type_=column.type)


@dataclass(frozen=True)
class Query:
    since: datetime | None = None
    until: datetime | None = None
    group_by: GroupBy | None = None
    services: tuple[str, ...] = field(default_factory=tuple)
    # The moment SLA clocks still running are judged at (the injected clock's now).
    now: datetime | None = None


Scope = Callable[[Any], Any]


def scope(viewer: Principal, q: Query, *, spans: bool = False, by_range: bool = False) -> Scope:
    """Return what narrows a SELECT over `incidents` to the incidents the report counts.

    `spans` (SQLite only) is for the statements over one span, which read that span's
    index: the drill rule is written `+drill_id IS NULL`, and unless `by_range` the range
    `+declared_at …`, so that SQLite answers neither with its own index. Through
    ix_incidents_drill_id (every row matches; without statistics the planner guesses a
    few) or ix_incidents_declared_at over a wide range, it fetched every row from the
    table and computed its span (VIRTUAL columns there): for a year, 5 times the time
    of the span index's scan."""
    drill, declared = Incident.drill_id, Incident.declared_at
    if spans:
        drill = _unindexed(drill)
        if not by_range:
            declared = _unindexed(declared)

    def narrow(query: Any) -> Any:
        query = _visible_to(query, viewer)
        query = query.where(drill.is_(None))  # drills are exercises, not history
        if q.since is not None:
            query = query.where(declared >= q.since)
        if q.until is not None:
            query = query.where(declared < q.until)
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
    """Return one row per incident and group key, with the timestamps and spans the
    metrics use."""
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
        *(getattr(Incident, name).label(name) for name in _SLA_TIMES),
        *(column.label(name) for name, column in SPANS.items()),
        begin.label("begin"),
        Incident.impact["affected_users"].as_float().label("affected_users"),
    )
    if joined:
        query = query.outerjoin(IncidentService, IncidentService.incident_id == Incident.id)
    query = narrow(query)
    if by is GroupBy.TEAM:
        query = query.distinct()
    return query.subquery("rows")


def _counted(session: Session, config: WarroomConfig, rows: Any, *, spans: bool) -> Any:
    """A CTE with each row's spans (when `spans`), the SLA timestamps as seconds (converted once per
    row) and the SLA targets of its severity; materialized, so that the statement's parts
    read it instead of scanning the incidents again."""
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
            *(rows.c[name].label(name) for name in SPANS if spans),
            *(epoch(dialect, rows.c[name]).label(name) for name in _SLA_TIMES),
            *targets,
        )
        .cte("e")
        .prefix_with("MATERIALIZED")
    )


def _sla(session: Session, e: Any, now: datetime | None) -> list[Any]:
    """Return the SLA states' aggregate columns over `e` (`reports.sla`)."""
    dialect = session.get_bind().dialect.name
    took = {clock: e.c[MILESTONES[clock]] - e.c.declared_at for clock in SlaClock}
    targets = {clock: e.c[f"target_{clock.value}"] for clock in SlaClock}
    now_s = None if now is None else literal(epoch_of(dialect, now))
    return sla_columns(targets, e.c.open == 1, took, now_s, e.c.declared_at)


def _spans(narrow: Scope) -> Any:
    """SQLite: each span's measured count and sum, read from its index (one part per
    metric; the index holds the values, so no timestamp is parsed). `span >= 0` is
    `span IS NOT NULL` (a span is never negative), written as a range, which the planner
    answers from the index where it scanned the table for IS NOT NULL."""
    parts = [
        narrow(select(literal(i), func.count(column), func.sum(column))).where(column >= 0)
        for i, column in enumerate(SPANS.values())
    ]
    return union_all(*parts)


def _picks(narrow: Scope, measured: list[int]) -> Any:
    """SQLite: each percentile as the value at its rank, `ORDER BY span LIMIT 1 OFFSET
    rank - 1` (p90 from the top), which walks the span's index to the rank: no sort."""
    picks: list[Any] = []
    for column, n in zip(SPANS.values(), measured, strict=True):
        for p in PERCENTILES:
            if not n:
                picks.append(null())
                continue
            rank = nearest_rank(p, n)
            value = narrow(select(column)).where(column >= 0).limit(1)
            if p <= 50:
                value = value.order_by(column).offset(rank - 1)
            else:
                value = value.order_by(column.desc()).offset(n - rank)
            picks.append(value.scalar_subquery())
    return select(*picks)


def _overall(
    session: Session,
    config: WarroomConfig,
    scopes: tuple[Scope, Scope],
    rows: Any,
    now: datetime | None,
) -> dict[str, Any]:
    """Counts (per severity by conditional counts, not GROUP BY, which would sort every
    row) and SLA states in one pass; the spans' counts, sums and percentiles by
    `percentile_disc` in the same statement on PostgreSQL, from the span indexes on
    SQLite (two more statements)."""
    on_postgresql = session.get_bind().dialect.name == "postgresql"
    e = _counted(session, config, rows, spans=on_postgresql)
    levels = [level.name for level in config.severities]
    by_level = [func.count(case((e.c.severity == name, 1))) for name in levels]
    columns = [func.count(), *by_level, *_sla(session, e, now)]
    if on_postgresql:
        # Ordered-set aggregates in the same pass; the calls over one span share a sort.
        for name in SPANS:
            v = e.c[name]
            columns += [func.count(v), func.sum(v)]
            columns += [func.percentile_disc(p / 100).within_group(v) for p in PERCENTILES]
    count, *rest = session.execute(select(*columns).select_from(e)).one()
    group = _new_group("all")
    group["count"] = count
    group["by_severity"] = {
        name: n for name, n in zip(levels, rest[: len(levels)], strict=True) if n
    }
    rest = rest[len(levels) :]
    add_sla(group["sla"], count, rest[:SLA_COLUMNS])
    rest = rest[SLA_COLUMNS:]
    width = 2 + len(PERCENTILES)
    per_span: list[list[Any]]
    if on_postgresql:
        per_span = [list(rest[i * width : (i + 1) * width]) for i in range(len(SPANS))]
    else:
        # A range that holds a small share of the incidents (under 1/32, the highest id
        # standing for the table's size) is read through ix_incidents_declared_at and its
        # rows sorted; a wider one, or none, from the span indexes, whose scan costs the
        # same whatever the range (docs/reports.md, "How").
        highest = session.scalar(select(func.max(Incident.id))) or 0
        on_spans = scopes[0] if count * 32 < highest else scopes[1]
        totals = {int(i): (n, s) for i, n, s in session.execute(_spans(on_spans))}
        measured = [int(totals.get(i, (0, None))[0]) for i in range(len(SPANS))]
        picked = session.execute(_picks(on_spans, measured)).one()
        k = len(PERCENTILES)
        per_span = [
            [*totals.get(i, (0, None)), *picked[i * k : (i + 1) * k]] for i in range(len(SPANS))
        ]
    sums = [(int(n), s or 0.0) for n, s, *_ in per_span]
    at_rank: dict[int, dict[int, Any]] = {}
    for i, (n, _, *values) in enumerate(per_span):
        if n:
            at_rank[i] = {nearest_rank(p, int(n)): values[k] for k, p in enumerate(PERCENTILES)}
    _finish(group, sums, at_rank)
    if sum(group["by_severity"].values()) != count:  # a severity the configuration lacks
        group["by_severity"] = dict(
            session.execute(select(rows.c.severity, func.count()).group_by(rows.c.severity)).all()
        )
    return group


#: The value columns of a grouped statement's row: enough for any of its parts.
_PER_SPAN = 2 + len(PERCENTILES)
_WIDTH = max(1 + SLA_COLUMNS, len(SPANS) * _PER_SPAN)


def _padded(*values: Any) -> list[Any]:
    return [*values, *[null()] * (_WIDTH - len(values))]


def _grouped_statement(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> Any:
    """One statement for a grouping. Every part's row is (part, key, severity, values…):
    part -1 has per (key, severity) the count and the SLA states. PostgreSQL, part 100:
    per key, for each span its measured count, sum and `percentile_disc` values — all
    spans in one GROUP BY (one sort by key; a part per span sorted the rows by key once
    per span, twice the time). SQLite, part i for span i: one window over the narrow
    (key, span) rows numbers each key's values in order — `row_number`, and the
    partition's count and sum over the same ordering, so one sort — and keeps the rows
    at the percentile ranks (values: count, sum, rank, value)."""
    e = _counted(session, config, rows, spans=True)
    parts = [
        select(
            literal(-1).label("part"), e.c.key, e.c.severity,
            *_padded(func.count(), *_sla(session, e, now)),
        ).group_by(e.c.key, e.c.severity)
    ]  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        values: list[Any] = []
        for name in SPANS:
            v = e.c[name]
            values += [func.count(v), func.sum(v)]
            values += [func.percentile_disc(p / 100).within_group(v) for p in PERCENTILES]
        parts.append(select(literal(100), e.c.key, null(), *_padded(*values)).group_by(e.c.key))
        return union_all(*parts)
    for i, name in enumerate(SPANS):
        v = e.c[name]
        whole = {"partition_by": e.c.key, "order_by": v, "rows": (None, None)}
        numbered = (
            select(
                e.c.key.label("key"),
                v.label("v"),
                func.row_number().over(partition_by=e.c.key, order_by=v).label("rn"),
                func.count().over(**whole).label("n"),
                func.sum(v).over(**whole).label("s"),
            )
            .where(v.is_not(None))
            .subquery(f"ranked{i}")
        )
        n = numbered.c.n
        wanted = [numbered.c.rn == (p * n + 99) // 100 for p in PERCENTILES]
        parts.append(
            select(
                literal(i), numbered.c.key, null(),
                *_padded(n, numbered.c.s, numbered.c.rn.cast(Integer), numbered.c.v),
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


def _group(
    session: Session, config: WarroomConfig, rows: Any, now: datetime | None
) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    ranked: dict[str, dict[int, dict[int, Any]]] = {}
    sums: dict[str, dict[int, tuple[int, float]]] = {}
    for part, key, severity, *values in session.execute(
        _grouped_statement(session, config, rows, now)
    ):
        if part == 100:  # PostgreSQL: per span the measured count, the sum, the percentiles
            for i in range(len(SPANS)):
                n, total, *picked = values[i * _PER_SPAN : (i + 1) * _PER_SPAN]
                if n:
                    sums.setdefault(key, {})[i] = (int(n), total or 0.0)
                    ranked.setdefault(key, {})[i] = {
                        nearest_rank(p, int(n)): x for p, x in zip(PERCENTILES, picked, strict=True)
                    }
        elif part >= 0:  # SQLite: one value at its rank, with the key's count and sum
            n, total, rank, value = values[:4]
            sums.setdefault(key, {})[part] = (int(n), total or 0.0)
            ranked.setdefault(key, {}).setdefault(part, {})[int(rank)] = value
        else:
            count = values[0]
            group = groups.setdefault(key, _new_group(key))
            group["count"] += count
            group["by_severity"][severity] = count
            add_sla(group["sla"], count, values[1 : 1 + SLA_COLUMNS])
    for key, group in groups.items():
        measured = sums.get(key, {})
        _finish(
            group,
            [measured.get(i, (0, 0.0)) for i in range(len(SPANS))],
            ranked.get(key, {}),
        )
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
    overall = _overall(
        session,
        config,
        (scope(viewer, query, spans=True, by_range=True), scope(viewer, query, spans=True)),
        rows,
        query.now,
    )
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
