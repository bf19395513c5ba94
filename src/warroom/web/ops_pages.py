"""Escalation, notifications and maintenance in the console.

- `/escalation`: every policy's steps, and who its schedule steps reach right now;
- `/notifications`: the paging ledger (who, when, which channel, delivered or failed and
  why), filtered by incident, status or channel; the incident page shows its own ledger
  (`INCIDENT_PANELS["ledger"]`, `_ledger.html`);
- the dashboard's banner of channels whose recent deliveries failed
  (`DASHBOARD_PANELS["failing_channels"]`, `_failing_channels.html`);
- `/maintenance`: windows, scheduled and ended from the page.

Notifications of restricted incidents are left out for those who may not see the incident
(`warroom.notifications.views.visible_notifications`, the API's own query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.api import CtxDep, IdPath, UowDep
from warroom.auth.logic import Principal, Role
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.engine.models import Notification
from warroom.errors import NotFound, ValidationFailed
from warroom.escalation import paging
from warroom.escalation.views import _policy_read
from warroom.incidents.models import Incident
from warroom.incidents.service import parse_key
from warroom.maintenance import service as maintenance
from warroom.notifications.views import _read, visible_notifications, visible_query
from warroom.oncall import service as oncall
from warroom.web.console import act, page, render, viewer_zone
from warroom.web.incident_page import DASHBOARD_PANELS, INCIDENT_PANELS
from warroom.web.oncall_pages import parse_local
from warroom.web.shell import FormStr, WebUser, router

#: How far back the dashboard looks for failed deliveries.
RECENT_FAILURES = timedelta(hours=24)
STATUSES = ("pending", "sending", "sent", "failed", "cancelled", "throttled")
CHANNELS = ("email", "sms", "voice", "slack", "webhook", "teams")
_LEDGER_ROWS = 200


# --- the incident page's ledger and the dashboard's banner -----------------------------


def incident_ledger(session: Session, incident: Incident, now: datetime) -> list[Notification]:
    """Every message sent (or tried) for the incident, oldest first. The page that shows
    it has already checked that the viewer may see the incident."""
    query = (
        select(Notification)
        .where(Notification.incident_id == incident.id)
        .order_by(Notification.id.desc())
        .limit(_LEDGER_ROWS)
    )
    return list(reversed(list(session.scalars(query))))


@dataclass(frozen=True)
class FailingChannel:
    channel: str
    failed: int
    sent: int
    last_error: str
    last_failed_at: datetime


def failing_channels(session: Session, viewer: Principal, now: datetime) -> list[FailingChannel]:
    """Channels with deliveries that failed in the last 24 hours (and how many got through),
    most failures first; counted in the database (the dashboard asks on every visit)."""
    recent = (
        visible_query(viewer)
        .where(
            Notification.created_at >= now - RECENT_FAILURES,
            Notification.status.in_(("sent", "failed")),
        )
        .subquery()
    )
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for channel, status, count, last_id in session.execute(
        select(recent.c.channel, recent.c.status, func.count(), func.max(recent.c.id)).group_by(
            recent.c.channel, recent.c.status
        )
    ):
        counts.setdefault(channel, {})[status] = (int(count), int(last_id))
    failed = {c: by["failed"] for c, by in counts.items() if "failed" in by}
    if not failed:
        return []
    latest = {
        row.id: row
        for row in session.execute(
            select(Notification.id, Notification.last_error, Notification.created_at).where(
                Notification.id.in_([last_id for _, last_id in failed.values()])
            )
        )
    }
    found = [
        FailingChannel(
            channel=channel,
            failed=count,
            sent=counts[channel].get("sent", (0, 0))[0],
            last_error=latest[last_id].last_error or "no reason given",
            last_failed_at=latest[last_id].created_at,
        )
        for channel, (count, last_id) in failed.items()
    ]
    return sorted(found, key=lambda f: (-f.failed, f.channel))


INCIDENT_PANELS["ledger"] = incident_ledger  # _ledger.html on the incident page
DASHBOARD_PANELS["failing_channels"] = failing_channels  # _failing_channels.html


# --- /escalation --------------------------------------------------------------------------


@router.get("/escalation")
def escalation_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    now = ctx.clock.now()
    zone, source = viewer_zone(request, ctx, user)
    on_call = oncall.on_call(uow.session, config=ctx.config, at=now)
    return render(
        request,
        "escalation.html",
        user,
        zone=zone,
        zone_source=source,
        now=now,
        policies=[_policy_read(ctx, p) for p in paging.policies(ctx.config).values()],
        on_call=on_call,
    )


# --- /notifications -------------------------------------------------------------------


@router.get("/notifications")
def notifications_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    zone, source = viewer_zone(request, ctx, user)
    params = request.query_params
    incident = (params.get("incident") or "").strip()
    status = params.get("status") or None
    channel = params.get("channel") or None
    error = None
    incident_id = None
    if incident:
        try:
            incident_id = parse_key(incident)
        except (ValidationFailed, NotFound):
            error = f"{incident!r} is not an incident number (INC-12 or 12)"
    rows = []
    if error is None:
        rows = visible_notifications(
            uow.session,
            user.principal,
            incident_id=incident_id,
            status=status if status in STATUSES else None,
            channel=channel if channel in CHANNELS else None,
            limit=_LEDGER_ROWS,
        )
    return render(
        request,
        "notifications.html",
        user,
        400 if error else 200,
        zone=zone,
        zone_source=source,
        now=ctx.clock.now(),
        rows=[_read(r, user.principal) for r in rows],
        incident=incident,
        status=status or "",
        channel=channel or "",
        statuses=STATUSES,
        channels=CHANNELS,
        failing=failing_channels(uow.session, user.principal, ctx.clock.now()),
        notice=None,
        error=error,
    )


# --- /maintenance -------------------------------------------------------------------------


def _maintenance_page(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    now = ctx.clock.now()
    zone, source = viewer_zone(request, ctx, user)
    windows = maintenance.list_windows(uow.session, config=ctx.config, now=now)
    return render(
        request,
        "maintenance.html",
        user,
        status_code,
        zone=zone,
        zone_source=source,
        now=now,
        windows=windows,
        services=[s.name for s in ctx.config.services],
        default_start=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        default_end=(now + timedelta(hours=2)).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        notice=notice,
        error=error,
    )


@router.get("/maintenance")
def maintenance_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    return _maintenance_page(request, ctx, uow, user)


@router.post("/maintenance")
def schedule_maintenance(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    service: FormStr = "",
    starts_at: FormStr = "",
    ends_at: FormStr = "",
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def create(who: WebUser) -> str:
        zone, _ = viewer_zone(request, ctx, who)
        name = service.strip()
        if not name or len(name) > 64:
            raise ValidationFailed("service: choose a service", field="service")
        row = maintenance.create(
            uow.session,
            config=ctx.config,
            service=name,
            starts_at=parse_local(starts_at, zone, "starts_at") if starts_at.strip() else None,
            ends_at=parse_local(ends_at, zone, "ends_at"),
            reason=reason.strip()[:2000],
            actor=who.principal,
            now=ctx.clock.now(),
        )
        return f"Maintenance window {row.id} scheduled for {row.service}."

    def show(who: WebUser, **kw: Any) -> Response:
        return _maintenance_page(request, ctx, uow, who, **kw)

    return act(request, ctx, uow, csrf_token, Role.RESPONDER, create, show)


@router.post("/maintenance/{window_id}/end")
def end_maintenance(
    window_id: IdPath, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def end(who: WebUser) -> str:
        row = maintenance.cancel(uow.session, window_id=window_id, now=ctx.clock.now())
        return f"Maintenance window {row.id} ended."

    def show(who: WebUser, **kw: Any) -> Response:
        return _maintenance_page(request, ctx, uow, who, **kw)

    return act(request, ctx, uow, csrf_token, Role.RESPONDER, end, show)
