"""`GET /metrics`: warroom's own health in the Prometheus text format, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from ipaddress import ip_address
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.api import authenticate, bearer_token, get_ctx
from warroom.clock import as_utc
from warroom.context import AppContext
from warroom.engine.models import Notification, Timer
from warroom.engine.outbox import PENDING
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.integrations.models import Integration

router = APIRouter(include_in_schema=False)
_OPEN = [s.value for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]


class HealthCollector(Collector):
    """Read the counts from the database on every scrape (nothing to keep in step)."""

    def __init__(self, ctx: AppContext, queue_depth: Any = None) -> None:
        self.ctx = ctx
        self.queue_depth = queue_depth

    def collect(self) -> Iterator[Any]:
        now = self.ctx.clock.now()
        with self.ctx.db.unit_of_work() as uow:
            yield from families(uow.session, now)
        if self.queue_depth is not None:
            queued = GaugeMetricFamily(
                "warroom_ingest_queue_depth", "Alert events waiting for the batch writer."
            )
            queued.add_metric([], float(self.queue_depth()))
            yield queued


def families(session: Session, now: datetime) -> Iterator[Any]:
    """Return the metric families computed from the stored rows at `now`."""
    incidents = GaugeMetricFamily(
        "warroom_incidents", "Incidents by status and severity.", labels=["status", "severity"]
    )
    open_incidents = GaugeMetricFamily(
        "warroom_open_incidents", "Incidents not yet resolved, by severity.", labels=["severity"]
    )
    open_by: dict[str, int] = {}
    query = select(Incident.status, Incident.severity, func.count()).group_by(
        Incident.status, Incident.severity
    )
    for status, severity, n in session.execute(query):
        incidents.add_metric([status, severity], n)
        if status in _OPEN:
            open_by[severity] = open_by.get(severity, 0) + n
    for severity, n in sorted(open_by.items()):
        open_incidents.add_metric([severity], n)
    yield incidents
    yield open_incidents

    alerts = CounterMetricFamily(
        "warroom_alerts_ingested",
        "Alert events stored (repeats included), by source type.",
        labels=["source"],
    )
    query_alerts = (
        select(Integration.type, func.coalesce(func.sum(Alert.occurrences), 0))
        .join(Integration, Integration.id == Alert.integration_id)
        .group_by(Integration.type)
    )
    for source, n in session.execute(query_alerts):
        alerts.add_metric([source], float(n))
    yield alerts

    notifications = CounterMetricFamily(
        "warroom_notifications",
        "Notifications by channel, reason and outcome (sent, failed, pending, ...).",
        labels=["channel", "reason", "outcome"],
    )
    query_n = select(
        Notification.channel, Notification.reason, Notification.status, func.count()
    ).group_by(Notification.channel, Notification.reason, Notification.status)
    outbox = 0
    for channel, reason, status, n in session.execute(query_n):
        notifications.add_metric([channel, reason, status], n)
        if status == PENDING:
            outbox += n
    yield notifications
    depth = GaugeMetricFamily("warroom_outbox_depth", "Notifications waiting to be sent.")
    depth.add_metric([], outbox)
    yield depth

    oldest = session.scalar(
        select(func.min(Timer.due_at)).where(Timer.status == "pending", Timer.due_at <= now)
    )
    lag = GaugeMetricFamily(
        "warroom_engine_timer_lag_seconds",
        "How long the oldest due timer has waited (0 when none is due).",
    )
    waited = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    lag.add_metric([], max(0.0, waited))
    yield lag
    pending = GaugeMetricFamily("warroom_engine_timers_pending", "Timers not yet run.")
    pending.add_metric(
        [], session.scalar(select(func.count()).where(Timer.status == "pending")) or 0
    )
    yield pending


def _allowed(request: Request, ctx: AppContext) -> bool:
    host = request.client.host if request.client else None
    if host is None:
        return False
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in ctx.config.reports.networks())


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Return warroom's health (allow-listed addresses, or any valid token)."""
    ctx = get_ctx(request)
    if not _allowed(request, ctx):
        with ctx.db.unit_of_work() as uow:
            authenticate(ctx, uow, bearer_token(request))
    registry = CollectorRegistry(auto_describe=False)
    writer = getattr(request.app.state, "ingest", None)
    depth = (lambda: writer.queued_events) if writer is not None else None
    registry.register(HealthCollector(ctx, depth))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
