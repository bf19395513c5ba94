"""The reports dashboard of the web console (`/reports`): a period's figures and the same
charts as the HTML report, drawn server-side as inline SVG. Read-only: a GET form picks
the period, so there is nothing to forge (no CSRF token needed)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from warroom.api import CtxDep, ReadUowDep
from warroom.reports import periodic, render
from warroom.reports.logic import Period
from warroom.web.shell import WebRoute, current_user, render_template, to_login

router = APIRouter(include_in_schema=False, route_class=WebRoute)

#: Chart size on the page, in SVG units.
WIDTH, HEIGHT = 640, 160


@router.get("/reports")
def reports_page(request: Request, ctx: CtxDep, uow: ReadUowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    chosen = request.query_params.get("period", Period.WEEKLY.value)
    on_text = request.query_params.get("on", "").strip()
    error: str | None = None
    period = Period.WEEKLY
    on: date | None = None
    try:
        period = Period(chosen)
    except ValueError:
        error = f"period: choose one of {', '.join(p.value for p in Period)}"
    if on_text and error is None:
        try:
            on = date.fromisoformat(on_text)
        except ValueError:
            error = f"on: {on_text!r} is not a date (YYYY-MM-DD)"
    context: dict[str, Any] = {
        "user": user, "periods": [p.value for p in Period], "period": period.value,
        "on": on_text, "error": error, "w": WIDTH, "h": HEIGHT,
    }  # fmt: skip
    if error is not None:
        return render_template("reports.html", 400, **context)
    data = periodic.report(
        uow.session,
        config=ctx.config,
        viewer=user.principal,
        period=period,
        now=ctx.clock.now(),
        zone=ZoneInfo(ctx.config.reports.timezone),
        on=on,
    )
    m = data["metrics"]
    return render_template(
        "reports.html",
        d=data,
        m=m,
        rows=render.metric_rows(data),
        sla_rows=render.sla_rows(m),
        over_time=render.bars([(b["bucket"], b["incidents"]) for b in data["over_time"]],
                              WIDTH, HEIGHT),
        severity=render.bars(sorted(m["by_severity"].items()), WIDTH, HEIGHT),
        sla_chart=render.bars(render.sla_chart_values(m), WIDTH, HEIGHT),
        top=render.bars([(s["service"], s["incidents"]) for s in data["top_services"]],
                        WIDTH, HEIGHT),
        mttx=render.mttx_charts(data, WIDTH, HEIGHT),
        repeat=render.rate_text(m["repeat_rate"]),
        completion=render.rate_text(m["action_item_completion_rate"]),
        impact=render.impact_text(m),
        **context,
    )  # fmt: skip
