"""Change events in (`POST /v2/change/enqueue`, PagerDuty's Events API v2) and changes out
(`GET /api/v1/changes`, `GET /api/v1/incidents/{id}/changes`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from warroom.alerts.logic import InvalidEvent
from warroom.alerts.service import Source
from warroom.alerts.views import (
    INT_MAX,
    INVALID_ROUTING_KEY,
    Text,
    lookup_source,
    pd_invalid,
    read_pd_body,
    unavailable_pd,
)
from warroom.api import CtxDep, UowDep, Viewer
from warroom.changes import service
from warroom.changes.logic import ChangeEvent, parse_change_event
from warroom.changes.schemas import ChangePage, ChangeRead
from warroom.context import AppContext
from warroom.errors import NotFound, ValidationFailed
from warroom.incidents import service as incidents
from warroom.integrations.service import IntegrationType

log = logging.getLogger("warroom.changes")

router = APIRouter(tags=["changes"])


def _store(ctx: AppContext, source: Source, event: ChangeEvent) -> None:
    with ctx.db.unit_of_work() as uow:
        service.record(uow.session, source=source, event=event, now=ctx.clock.now())
        uow.commit()


@router.post("/v2/change/enqueue", status_code=202, include_in_schema=False)
async def change_enqueue(request: Request) -> JSONResponse:
    """PagerDuty change events: a deploy or another change of the routing key's service.

    The key is a `pagerduty` integration's (PagerDuty uses one key for alert and change
    events). → 202 once stored; 400 in PagerDuty's shape naming the field; 503 to retry.
    """
    body = await read_pd_body(request)
    if isinstance(body, JSONResponse):
        return body
    try:
        routing_key, event = parse_change_event(body)
    except InvalidEvent as exc:
        return pd_invalid(exc.errors)
    ctx: AppContext = request.app.state.ctx
    try:
        source = await lookup_source(request, routing_key, IntegrationType.PAGERDUTY)
        if source is None:
            return pd_invalid([INVALID_ROUTING_KEY])
        await asyncio.to_thread(_store, ctx, source, event)
    except Exception:
        log.warning("change event not stored", exc_info=True)
        return unavailable_pd()
    return JSONResponse({"status": "success", "message": "Change event processed"}, status_code=202)


def _utc(value: datetime | None, field: str) -> datetime | None:
    try:
        return value.astimezone(UTC) if value is not None else None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first day there is
        raise ValidationFailed(f"{field}: out of range", field=field) from None


@router.get("/api/v1/changes", response_model=ChangePage)
def list_changes(
    uow: UowDep,
    who: Viewer,
    service_name: Annotated[Text, Query(alias="service", max_length=64)] = None,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> ChangePage:
    """Changes (deploys, config pushes…) sent as change events, newest first by when they
    happened; `since` and `until` bound that time (`since` inclusive, `until` exclusive)."""
    rows, total = service.list_changes(
        uow.session,
        service=service_name,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        limit=limit,
        offset=offset,
    )
    return ChangePage(
        items=[ChangeRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/api/v1/incidents/{key}/changes", response_model=ChangePage, tags=["incidents"])
def incident_changes(
    key: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0,
) -> ChangePage:
    """The changes of the incident's services from 24 hours before its declaration until it
    was resolved (or now), newest first: the suspects."""
    if incidents.parse_key(key) > INT_MAX:
        raise NotFound(f"no incident {key!r}", field="id")  # as for any number not issued
    incident = incidents.get(uow.session, key=key, viewer=who)
    rows, total = service.for_incident(
        uow.session, incident=incident, now=ctx.clock.now(), limit=limit, offset=offset
    )
    return ChangePage(
        items=[ChangeRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )
