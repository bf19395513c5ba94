"""`/alerts`: the alert list with filters, one alert with its occurrences and raw payload,
and what a responder does to it (acknowledge, resolve, attach to an incident, declare one
from it), through `warroom.alerts.manual` as the API does.

Alerts of restricted incidents are hidden from outsiders by `alerts.service` (the same
rule as `GET /api/v1/alerts`); the raw payload is shown as indented JSON text, escaped.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from warroom.alerts import manual
from warroom.alerts import service as alerts
from warroom.alerts.logic import AlertStatus
from warroom.alerts.models import Alert
from warroom.api import CtxDep, UowDep
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.incidents.logic import OPEN_STATUSES
from warroom.incidents.service import parse_key
from warroom.integrations.models import Integration
from warroom.web.declare import guard
from warroom.web.nav import active_item
from warroom.web.shell import (
    FormStr,
    WebUser,
    current_user,
    is_htmx,
    render_template,
    router,
    to_login,
)

PAGE_SIZE = 50
_INT_MAX = 2**31 - 1


def _integrations(uow: UnitOfWork) -> dict[int, str]:
    rows = uow.session.execute(select(Integration.id, Integration.name).order_by(Integration.name))
    return {int(row[0]): str(row[1]) for row in rows}


def not_found_page(request: Request, user: WebUser) -> Response:
    message = "There is no such alert, or you may not see it."
    if is_htmx(request):
        return render_template("_message.html", 404, level="error", message=message)
    return render_template("error.html", 404, user=user, title="Not found", message=message)


def _number(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < len(raw) <= 10 and int(raw) <= _INT_MAX else None


@router.get("/alerts")
def alerts_page(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    status: str = "",
    source: str = "",
    service: str = "",
    incident: str = "",
    page: str = "1",
) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    problems: list[str] = []
    chosen_status: tuple[AlertStatus, ...] = ()
    if status:
        try:
            chosen_status = (AlertStatus(status),)
        except ValueError:
            problems.append(f"status: one of {', '.join(s.value for s in AlertStatus)}")
    integration = _number(source) if source else None
    if source and integration is None:
        problems.append("source: choose one from the list")
    number = None
    if incident.strip():
        try:
            number = parse_key(incident.strip())
        except Exception:
            problems.append(f"incident: not an incident id ({incident[:40]!r})")
        if number is not None and number > _INT_MAX:
            problems.append("incident: no incident has that number")
            number = None
    service_name = service.strip()[:64] or None
    current = max(_number(page) or 1, 1)
    filters = alerts.AlertFilters(
        status=chosen_status, integration=integration, incident=number, service=service_name
    )
    rows: list[Alert] = []
    total = 0
    if not problems:
        rows, total = alerts.list_alerts(
            uow.session,
            viewer=user.principal,
            filters=filters,
            limit=PAGE_SIZE,
            offset=(current - 1) * PAGE_SIZE,
        )
    query = {"status": status, "source": source, "service": service, "incident": incident}
    kept = {k: v for k, v in query.items() if v}
    return render_template(
        "alerts.html",
        400 if problems else 200,
        user=user,
        nav_here=active_item("/alerts"),
        rows=rows,
        total=total,
        page=current,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        query=query,
        link=lambda n: "/alerts?" + urlencode({**kept, "page": n}),
        problems=problems,
        statuses=[s.value for s in AlertStatus],
        integrations=_integrations(uow),
        services=[s.name for s in ctx.config.services],
        now=ctx.clock.now(),
    )


def _alert_context(
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    alert: Alert,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    open_incidents, _ = incidents.list_incidents(
        uow.session,
        viewer=user.principal,
        filters=incidents.Filters(status=tuple(OPEN_STATUSES)),
        limit=100,
        offset=0,
    )
    attached = None
    if alert.incident_id is not None:
        try:
            attached = incidents.get(uow.session, key=alert.incident_id, viewer=user.principal)
        except NotFound:
            attached = None
    return {
        "user": user,
        "nav_here": active_item("/alerts"),
        "alert": alert,
        "integration": _integrations(uow).get(alert.integration_id, f"#{alert.integration_id}"),
        "payload": json.dumps(alert.payload or {}, indent=2, sort_keys=True, ensure_ascii=False),
        "labels": alert.labels or {},
        "details": alert.details or {},
        "incident": attached,
        "open_incidents": [i for i in open_incidents if i.id != alert.incident_id],
        "notice": notice,
        "error": error,
    }


@router.get("/alerts/{alert_id}")
def alert_page(alert_id: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    number = _number(alert_id)
    try:
        if number is None:
            raise NotFound("no such alert")
        alert = alerts.get(uow.session, alert_id=number, viewer=user.principal)
    except NotFound:
        return not_found_page(request, user)
    template = "_alert.html" if is_htmx(request) else "alert.html"
    return render_template(template, **_alert_context(ctx, uow, user, alert))


def _alert_act(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    alert_id: str,
    csrf: str,
    action: Any,
) -> Response:
    checked = guard(request, ctx, uow, csrf)
    if isinstance(checked, Response):
        return checked
    user = checked
    number = _number(alert_id)
    try:
        if number is None:
            raise NotFound("no such alert")
        alert = alerts.get(uow.session, alert_id=number, viewer=user.principal)
    except NotFound:
        return not_found_page(request, user)
    try:
        notice = action(alert, user)
    except (Conflict, ValidationFailed, Forbidden, NotFound) as exc:
        uow.rollback()
        alert = alerts.get(uow.session, alert_id=alert.id, viewer=user.principal)
        context = _alert_context(ctx, uow, user, alert, error=exc.message)
        template = "_alert.html" if is_htmx(request) else "alert.html"
        return render_template(template, exc.status_code, **context)
    uow.commit()
    if not is_htmx(request):
        return RedirectResponse(f"/alerts/{alert.id}", status_code=303)
    return render_template("_alert.html", **_alert_context(ctx, uow, user, alert, notice=notice))


@router.post("/alerts/{alert_id}/ack")
def alert_ack(
    alert_id: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def ack(alert: Alert, user: WebUser) -> str:
        done = manual.acknowledge(
            uow.session, alert=alert, actor=user.principal, now=ctx.clock.now()
        )
        return "Alert acknowledged." if done else "It was already acknowledged."

    return _alert_act(request, ctx, uow, alert_id, csrf_token, ack)


@router.post("/alerts/{alert_id}/resolve")
def alert_resolve(
    alert_id: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def resolve(alert: Alert, user: WebUser) -> str:
        done = manual.resolve(uow.session, alert=alert, actor=user.principal, now=ctx.clock.now())
        return "Alert resolved." if done else "It was already resolved."

    return _alert_act(request, ctx, uow, alert_id, csrf_token, resolve)


@router.post("/alerts/{alert_id}/attach")
def alert_attach(
    alert_id: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    incident: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def attach(alert: Alert, user: WebUser) -> str:
        key = incident.strip()
        if not key:
            raise ValidationFailed("choose the incident to attach the alert to", field="incident")
        try:
            target = incidents.get(uow.session, key=key, viewer=user.principal, for_update=True)
        except (NotFound, ValidationFailed):
            raise NotFound(
                "There is no such incident, or you may not see it.", field="incident"
            ) from None
        done = manual.attach(
            uow.session,
            config=ctx.config,
            alert=alert,
            incident=target,
            actor=user.principal,
            now=ctx.clock.now(),
        )
        return f"Attached to {target.key}." if done else f"It already was part of {target.key}."

    return _alert_act(request, ctx, uow, alert_id, csrf_token, attach)
