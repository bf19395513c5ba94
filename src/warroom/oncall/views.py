"""On-call routes: `/api/v1/oncall`, `/api/v1/schedules`, calendar exports and the secret
calendar feeds (`/api/v1/calendar-feeds`, `/calendars/{secret}.ics`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from warroom.api import Admin, CtxDep, IdPath, Responder, UowDep, Viewer
from warroom.errors import NotFound, WarroomError
from warroom.oncall import ical, service
from warroom.oncall.logic import Shift
from warroom.oncall.models import CalendarFeed
from warroom.oncall.schemas import (
    EntryRead,
    FeedCreate,
    FeedRead,
    FeedWithUrl,
    OnCallRead,
    OverrideCreate,
    OverrideRead,
    ScheduleCreate,
    ScheduleRead,
    ShiftsRead,
)

router = APIRouter(prefix="/api/v1", tags=["on-call"])

# A calendar without `from`/`to` shows the last week and the next two months.
CALENDAR_PAST = timedelta(days=7)
CALENDAR_FUTURE = timedelta(days=60)

FromQuery = Annotated[
    AwareDatetime | None, Query(alias="from", description="Window start (default: now - 7 days).")
]
ToQuery = Annotated[
    AwareDatetime | None, Query(alias="to", description="Window end (default: now + 60 days).")
]


def _entry(shift: Shift) -> EntryRead:
    return EntryRead(
        schedule=shift.schedule,
        layer=shift.layer,
        user=shift.user,
        start=shift.start,
        end=shift.end,
    )


def _read(defined: service.Defined) -> ScheduleRead:
    row = defined.row
    return ScheduleRead.model_validate(
        {
            **defined.spec.model_dump(),
            "source": defined.source,
            "created_at": row.created_at if row is not None else None,
            "created_by": row.created_by if row is not None else None,
        }
    )


def _window(
    now: datetime, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    start = start or now - CALENDAR_PAST
    return start, end or start + CALENDAR_PAST + CALENDAR_FUTURE


def _calendar(body: bytes, filename: str) -> Response:
    return Response(
        content=body,
        media_type=ical.MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{filename}.ics"'},
    )


@router.get("/oncall", response_model=OnCallRead)
def who_is_on_call(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    schedule: Annotated[
        str | None, Query(description="One schedule (default: all of them).")
    ] = None,
    at: Annotated[AwareDatetime | None, Query(description="When (default: now).")] = None,
) -> OnCallRead:
    """Who is on call now, or at `at`: one entry per layer that has someone."""
    moment = at or ctx.clock.now()
    entries = service.on_call(uow.session, config=ctx.config, at=moment, schedule=schedule)
    return OnCallRead(at=moment, entries=[_entry(e) for e in entries])


@router.get("/schedules", response_model=list[ScheduleRead])
def list_schedules(ctx: CtxDep, uow: UowDep, who: Viewer) -> list[ScheduleRead]:
    """Every schedule, configured (`source: config`) and API-defined (`source: api`)."""
    return [_read(d) for d in service.list_schedules(uow.session, config=ctx.config)]


@router.post("/schedules", status_code=201, response_model=ScheduleRead)
def create_schedule(
    data: ScheduleCreate, ctx: CtxDep, uow: UowDep, who: Admin, response: Response
) -> ScheduleRead:
    """Define a schedule: the same fields as a `schedules:` item of the YAML."""
    defined = service.create(
        uow.session, config=ctx.config, spec=data, actor=who, now=ctx.clock.now()
    )
    uow.commit()
    response.headers["Location"] = f"/api/v1/schedules/{quote(defined.name, safe='')}"
    return _read(defined)


@router.get("/schedules/{name}", response_model=ScheduleRead)
def show_schedule(name: str, ctx: CtxDep, uow: UowDep, who: Viewer) -> ScheduleRead:
    return _read(service.get_or_raise(uow.session, config=ctx.config, name=name))


@router.delete("/schedules/{name}", response_model=ScheduleRead)
def delete_schedule(name: str, ctx: CtxDep, uow: UowDep, who: Admin) -> ScheduleRead:
    """Delete an API-defined schedule (configured ones are removed from the YAML)."""
    defined = service.delete(uow.session, config=ctx.config, name=name, now=ctx.clock.now())
    uow.commit()
    return _read(defined)


@router.get("/schedules/{name}/shifts", response_model=ShiftsRead)
def schedule_shifts(
    name: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    start: FromQuery = None,
    end: ToQuery = None,
) -> ShiftsRead:
    """The rendered schedule: every shift overlapping the window, overrides applied."""
    start, end = _window(ctx.clock.now(), start, end)
    defined, found = service.schedule_shifts(
        uow.session, config=ctx.config, name=name, start=start, end=end
    )
    return ShiftsRead(schedule=defined.name, from_=start, to=end, shifts=[_entry(s) for s in found])


@router.get(
    "/schedules/{name}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def schedule_calendar(
    name: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """The schedule's shifts as iCalendar (RFC 5545)."""
    now = ctx.clock.now()
    start, end = _window(now, start, end)
    defined, body = service.schedule_calendar(
        uow.session, config=ctx.config, name=name, start=start, end=end, now=now
    )
    return _calendar(body, defined.name)


@router.get(
    "/users/{handle}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def user_calendar(
    handle: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    start: FromQuery = None,
    end: ToQuery = None,
) -> Response:
    """One person's shifts across every schedule, as iCalendar (RFC 5545)."""
    now = ctx.clock.now()
    start, end = _window(now, start, end)
    body = service.user_calendar(
        uow.session, config=ctx.config, handle=handle, start=start, end=end, now=now
    )
    return _calendar(body, handle)


# --- calendar feeds: secret URLs for calendar apps ------------------------------------------


def feed_url(base_url: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}{FEED_PATH}/{secret}.ics"


def _with_url(row: CalendarFeed, base_url: str, secret: str) -> FeedWithUrl:
    url = feed_url(base_url, secret)
    webcal = "webcal://" + url.split("://", 1)[1]
    return FeedWithUrl.model_validate(
        {**FeedRead.model_validate(row).model_dump(), "url": url, "webcal_url": webcal}
    )


@router.get("/calendar-feeds", response_model=list[FeedRead])
def list_feeds(
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    include_revoked: Annotated[bool, Query(alias="all", description="Also revoked feeds.")] = False,
) -> list[FeedRead]:
    """Calendar feeds: an admin sees all, anyone else those they made or of their shifts."""
    rows = service.list_feeds(uow.session, viewer=who, include_revoked=include_revoked)
    return [FeedRead.model_validate(r) for r in rows]


@router.post("/calendar-feeds", status_code=201, response_model=FeedWithUrl)
def create_feed(data: FeedCreate, ctx: CtxDep, uow: UowDep, who: Viewer) -> FeedWithUrl:
    """A secret URL a calendar app subscribes to, without a token. Shown this once."""
    kind: Literal["user", "schedule"] = "user" if data.user is not None else "schedule"
    row, secret = service.create_feed(
        uow.session,
        config=ctx.config,
        kind=kind,
        target=data.user or data.schedule or "",
        label=data.label,
        actor=who,
        now=ctx.clock.now(),
    )
    uow.commit()
    return _with_url(row, ctx.settings.base_url, secret)


@router.post("/calendar-feeds/{feed_id}/rotate", response_model=FeedWithUrl)
def rotate_feed(feed_id: IdPath, ctx: CtxDep, uow: UowDep, who: Viewer) -> FeedWithUrl:
    """A new secret URL for the feed; the old one answers 404 from now on."""
    row, secret = service.rotate_feed(uow.session, feed_id=feed_id, who=who, now=ctx.clock.now())
    uow.commit()
    return _with_url(row, ctx.settings.base_url, secret)


@router.delete("/calendar-feeds/{feed_id}", response_model=FeedRead)
def revoke_feed(feed_id: IdPath, ctx: CtxDep, uow: UowDep, who: Viewer) -> FeedRead:
    """Revoke a feed: its URL answers 404 from now on."""
    row = service.revoke_feed(uow.session, feed_id=feed_id, who=who, now=ctx.clock.now())
    uow.commit()
    return FeedRead.model_validate(row)


#: Where subscribed calendars fetch: outside /api/v1, which always wants a Bearer token
#: (and outside the OpenAPI description, which covers /api/v1; docs/oncall.md has it).
FEED_PATH = "/calendars"
feeds_router = APIRouter(tags=["on-call"])


@feeds_router.head(FEED_PATH + "/{secret}.ics", include_in_schema=False)
@feeds_router.get(FEED_PATH + "/{secret}.ics", response_class=Response, include_in_schema=False)
def subscribed_calendar(secret: str, ctx: CtxDep, uow: UowDep) -> Response:
    """A calendar feed, opened by the secret in its URL alone (no Authorization header).

    The last 7 days and the next 60. An unknown, rotated or revoked secret, and a feed
    whose person or schedule is gone, all answer the same 404.
    """
    now = ctx.clock.now()
    row = service.feed_by_secret(uow.session, secret=secret, now=now)
    if row is None:
        raise NotFound("no such calendar feed")
    start, end = _window(now, None, None)
    try:
        if row.kind == "user":
            body = service.user_calendar(
                uow.session,
                config=ctx.config,
                handle=row.target,
                start=start,
                end=end,
                now=now,
                feed=True,
            )
        else:
            _, body = service.schedule_calendar(
                uow.session,
                config=ctx.config,
                name=row.target,
                start=start,
                end=end,
                now=now,
                feed=True,
            )
    except WarroomError:
        raise NotFound("no such calendar feed") from None
    uow.commit()  # last_used_at
    response = _calendar(body, "on-call")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@router.get("/schedules/{name}/overrides", response_model=list[OverrideRead])
def list_overrides(
    name: str,
    ctx: CtxDep,
    uow: UowDep,
    who: Viewer,
    include_past: Annotated[
        bool, Query(alias="all", description="Also past and cancelled overrides.")
    ] = False,
) -> list[OverrideRead]:
    """The schedule's overrides in the order they apply (later ones on top)."""
    rows = service.list_overrides(
        uow.session,
        config=ctx.config,
        schedule=name,
        now=ctx.clock.now(),
        include_past=include_past,
    )
    return [OverrideRead.model_validate(r) for r in rows]


@router.post("/schedules/{name}/overrides", status_code=201, response_model=OverrideRead)
def create_override(
    name: str, data: OverrideCreate, ctx: CtxDep, uow: UowDep, who: Responder
) -> OverrideRead:
    """Add someone, remove a layer or a person, or replace someone, for a window of time."""
    row = service.create_override(
        uow.session, config=ctx.config, schedule=name, data=data, actor=who, now=ctx.clock.now()
    )
    uow.commit()
    return OverrideRead.model_validate(row)


@router.delete("/schedules/{name}/overrides/{override_id}", response_model=OverrideRead)
def cancel_override(
    name: str, override_id: IdPath, ctx: CtxDep, uow: UowDep, who: Responder
) -> OverrideRead:
    """Cancel an override; it stays on record (`?all=true` lists it)."""
    row = service.cancel_override(
        uow.session,
        config=ctx.config,
        schedule=name,
        override_id=override_id,
        now=ctx.clock.now(),
    )
    uow.commit()
    return OverrideRead.model_validate(row)
