"""Periodic reports (daily … annual): the data, gathered by SQL aggregates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from warroom.auth.logic import Principal
from warroom.config.schema import WarroomConfig
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.service import _visible_to
from warroom.reports import metrics as metrics_service
from warroom.reports import trend
from warroom.reports.logic import Period, Window, window

OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]
TOP_SERVICES = 5
OPEN_LISTED = 50


def report(
    session: Session,
    *,
    config: WarroomConfig,
    viewer: Principal,
    period: Period,
    now: datetime,
    zone: ZoneInfo,
    on: date | None = None,
) -> dict[str, Any]:
    """Return the report of one period: metrics, incidents over time, top services, open."""
    span = window(period, now=now, zone=zone, on=on, week_starts=config.reports.week_starts)
    query = metrics_service.Query(since=span.since, until=span.until, now=now)
    figures = metrics_service.metrics(session, config=config, viewer=viewer, query=query)
    data: dict[str, Any] = {
        "period": period.value,
        "label": span.label,
        "timezone": zone.key,
        "since": span.since.isoformat(),
        "until": span.until.isoformat(),
        "generated_at": now.isoformat(),
        "metrics": figures,
        "over_time": _over_time(session, viewer, span),
        "mttx_over_time": trend.mttx_over_time(session, viewer, span),
        "top_services": _top_services(session, viewer, span),
    }
    if period is Period.DAILY:
        data["open_incidents"] = _open(session, viewer)
    return data


def _in(span: Window, viewer: Principal) -> Any:
    return _visible_to(select(Incident), viewer).where(
        Incident.declared_at >= span.since,
        Incident.declared_at < span.until,
        Incident.drill_id.is_(None),
    )


def _over_time(session: Session, viewer: Principal, span: Window) -> list[dict[str, Any]]:
    columns = [
        func.count(case((and_(Incident.declared_at >= a, Incident.declared_at < b), 1)))
        for _, a, b in span.buckets
    ]
    counts = session.execute(_in(span, viewer).with_only_columns(*columns)).one()
    return [
        {"bucket": label, "start": a.isoformat(), "incidents": n}
        for (label, a, _), n in zip(span.buckets, counts, strict=True)
    ]


def _top_services(session: Session, viewer: Principal, span: Window) -> list[dict[str, Any]]:
    ids = _in(span, viewer).with_only_columns(Incident.id)
    n = func.count().label("n")
    query = (
        select(IncidentService.service, n)
        .where(IncidentService.incident_id.in_(ids))
        .group_by(IncidentService.service)
        .order_by(n.desc(), IncidentService.service)
        .limit(TOP_SERVICES)
    )
    return [{"service": s, "incidents": c} for s, c in session.execute(query)]


def _open(session: Session, viewer: Principal) -> list[dict[str, Any]]:
    query = (
        _visible_to(select(Incident), viewer)
        .where(Incident.status.in_(OPEN), Incident.drill_id.is_(None))
        .order_by(Incident.severity, Incident.declared_at)
        .limit(OPEN_LISTED)
    )
    return [
        {
            "id": i.key,
            "title": i.title,
            "severity": i.severity,
            "status": i.status,
            "declared_at": i.declared_at.isoformat(),
        }
        for i in session.scalars(query)
    ]
