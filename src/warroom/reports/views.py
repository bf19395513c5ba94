"""Insight routes: `/api/v1/reports/…` and `/api/v1/import/incidents`."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import AwareDatetime

from warroom.api import Admin, CtxDep, ReadUowDep, ReadViewer, UowDep
from warroom.auth.logic import Principal
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import ValidationFailed
from warroom.reports import importer, periodic, render
from warroom.reports import metrics as metrics_service
from warroom.reports.logic import GroupBy, Period
from warroom.reports.pdf import report_pdf
from warroom.reports.web import router as web_router

router = APIRouter(tags=["reports"])
router.include_router(web_router)
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class ReportFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"


@router.get("/api/v1/reports/metrics")
def get_metrics(
    ctx: CtxDep,
    uow: ReadUowDep,
    who: ReadViewer,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    group_by: Annotated[GroupBy | None, Query()] = None,
    service: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    """Return MTTD, MTTA, MTTM, MTTR, counts and rates of the incidents declared in range."""
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("until must be after since", field="until")
    query = metrics_service.Query(
        since=since,
        until=until,
        group_by=group_by,
        services=tuple(service or ()),
        now=ctx.clock.now(),
    )
    return metrics_service.metrics(uow.session, config=ctx.config, viewer=who, query=query)


@router.post("/api/v1/import/incidents")
async def import_incidents(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    who: Admin,
    dry_run: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """Import history: JSON `{"incidents": [...]}` or `{"csv": "..."}`, or a text/csv body."""
    records = await _records(request)
    outcome = await run_in_threadpool(_import, ctx, uow, who, records, dry_run)
    return outcome


def _import(
    ctx: AppContext, uow: UnitOfWork, who: Principal, records: list[Any], dry_run: bool
) -> dict[str, Any]:
    outcome = importer.import_incidents(
        uow.session,
        config=ctx.config,
        records=records,
        actor=who,
        now=ctx.clock.now(),
        dry_run=dry_run,
    )
    if not dry_run:
        uow.commit()
    return outcome.as_dict()


async def _records(request: Request) -> list[Any]:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"at most {MAX_IMPORT_BYTES} bytes per import", field="body")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("the body is not UTF-8", field="body") from exc
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/csv", "application/csv"):
        return importer.parse_csv(text)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"the body is not JSON: {exc}", field="body") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("csv"), str):
        return importer.parse_csv(data["csv"])
    if isinstance(data, dict) and isinstance(data.get("incidents"), list):
        return list(data["incidents"])
    raise ValidationFailed("give incidents (a list) or csv (text)", field="incidents")


@router.post("/api/v1/import/{vendor}")
async def import_vendor(
    vendor: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    who: Admin,
    dry_run: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """Import PagerDuty, Opsgenie or Grafana OnCall API responses: `{"documents": [...]}`."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"at most {MAX_IMPORT_BYTES} bytes per import", field="body")
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(f"the body is not JSON: {exc}", field="body") from exc
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        raise ValidationFailed("give documents: a list of API responses", field="documents")
    documents: list[Any] = data["documents"]

    def work() -> dict[str, Any]:
        result = importer.import_vendor(
            uow.session,
            config=ctx.config,
            vendor=vendor,
            documents=documents,
            actor=who,
            now=ctx.clock.now(),
            dry_run=dry_run,
        )
        if not dry_run:
            uow.commit()
        return result

    return await run_in_threadpool(work)


@router.get("/api/v1/reports/{period}", response_model=None)
def get_report(
    period: Period,
    ctx: CtxDep,
    uow: ReadUowDep,
    who: ReadViewer,
    format: Annotated[ReportFormat, Query()] = ReportFormat.JSON,
    on: Annotated[date | None, Query()] = None,
    tz: Annotated[str | None, Query()] = None,
) -> Any:
    """Return the report of a period (the last complete one, or the one containing `on`)."""
    zone = _zone(tz or ctx.config.reports.timezone)
    data = periodic.report(
        uow.session,
        config=ctx.config,
        viewer=who,
        period=period,
        now=ctx.clock.now(),
        zone=zone,
        on=on,
    )
    if format is ReportFormat.MARKDOWN:
        return PlainTextResponse(render.markdown(data), media_type="text/markdown")
    if format is ReportFormat.HTML:
        return HTMLResponse(render.html(data))
    if format is ReportFormat.PDF:
        name = f"incident-report-{period.value}-{data['since'][:10]}.pdf"
        return Response(
            report_pdf(data),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return data


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {name!r}", field="tz") from exc
