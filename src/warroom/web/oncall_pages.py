"""On-call in the console: `/oncall` (who is on call now, by service and schedule; the
week ahead; your shifts and calendar link), `/schedules` and `/schedules/{name}` (a week
grid, overrides made and cancelled from the page).

Times are shown in the viewer's zone, named on the page (`warroom.web.console.viewer_zone`).
Everything goes through `warroom.oncall.service`, as the API does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from warroom.api import CtxDep, IdPath, UowDep
from warroom.auth.logic import Role
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import ValidationFailed, WarroomError
from warroom.escalation import paging
from warroom.oncall import service as oncall
from warroom.oncall.logic import Shift
from warroom.oncall.schemas import OverrideCreate
from warroom.oncall.views import feed_url
from warroom.web.console import act, page, render, viewer_zone
from warroom.web.shell import FormStr, WebUser, render_template, router

DAYS = 7
MY_SHIFTS_AHEAD = timedelta(days=28)


# --- view models --------------------------------------------------------------------------


@dataclass(frozen=True)
class DayPart:
    """A shift's part within one local day: `start`/`end` clipped to the day."""

    shift: Shift
    start: datetime
    end: datetime
    label: str  # "all day", "09:00-17:00", "17:00-24:00" (en dash) in the day's zone


@dataclass
class Cell:
    """Who is on call in one layer during one local day."""

    shifts: list[DayPart] = field(default_factory=list)


@dataclass
class GridRow:
    schedule: str
    title: str
    layer: str
    cells: list[Cell]


@dataclass(frozen=True)
class ServiceOnCall:
    name: str
    title: str
    policy: str | None  # its title
    policy_name: str | None
    people: list[tuple[str, str]]  # (who, where: "platform / primary")


def _local_midnight(at: datetime, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def week_days(start: datetime, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The `DAYS` local days from the day of `start`, each as [from, to) aware instants
    (a day across a DST change lasts 23 or 25 hours)."""
    first = _local_midnight(start, zone)
    days = []
    for i in range(DAYS):
        day = (first + timedelta(days=i)).replace(tzinfo=None)
        begin = day.replace(tzinfo=zone)
        end = (day + timedelta(days=1)).replace(tzinfo=zone)
        days.append((begin, end))
    return days


def _part(shift: Shift, begin: datetime, end: datetime) -> DayPart:
    start, stop = max(shift.start, begin), min(shift.end, end)
    if start == begin and stop == end:
        return DayPart(shift, start, stop, "all day")
    zone = begin.tzinfo
    until = "24:00" if stop == end else stop.astimezone(zone).strftime("%H:%M")
    return DayPart(shift, start, stop, f"{start.astimezone(zone).strftime('%H:%M')}\u2013{until}")


def week_grid(
    shifts: Sequence[Shift], days: Sequence[tuple[datetime, datetime]], titles: dict[str, str]
) -> list[GridRow]:
    """One row per (schedule, layer), one cell per day, holding the shifts overlapping it."""
    rows: dict[tuple[str, str], GridRow] = {}
    for shift in shifts:
        layer = shift.layer or "added"
        row = rows.get((shift.schedule, layer))
        if row is None:
            title = titles.get(shift.schedule, shift.schedule)
            row = GridRow(shift.schedule, title, layer, [Cell() for _ in days])
            rows[(shift.schedule, layer)] = row
        for i, (begin, end) in enumerate(days):
            if shift.start < end and shift.end > begin:
                row.cells[i].shifts.append(_part(shift, begin, end))
    return list(rows.values())


def _titles(uow: UnitOfWork, ctx: AppContext) -> dict[str, str]:
    return {
        d.name: d.spec.title or d.name
        for d in oncall.list_schedules(uow.session, config=ctx.config)
    }


def services_on_call(ctx: AppContext, now_on_call: Sequence[Shift]) -> list[ServiceOnCall]:
    """For each configured service, who its escalation policy pages first, right now."""
    found = []
    for svc in ctx.config.services:
        policy = paging.policy_for(ctx.config, [svc.name])
        people: list[tuple[str, str]] = []
        if policy is not None and policy.steps:
            for target in policy.steps[0].targets:
                if target.kind == "user":
                    people.append((target.name, "directly"))
                elif target.kind == "schedule":
                    wanted = target.name
                    for entry in now_on_call:
                        if entry.schedule == wanted and (
                            target.layer is None or entry.layer in (target.layer, None)
                        ):
                            people.append((entry.user, f"{wanted} / {entry.layer or 'added'}"))
                else:
                    people.append((target.describe(), target.kind))
        found.append(
            ServiceOnCall(
                name=svc.name,
                title=svc.title or svc.name,
                policy=policy.label if policy else None,
                policy_name=policy.name if policy else None,
                people=people,
            )
        )
    return found


def _zone_context(request: Request, ctx: AppContext, user: WebUser) -> dict[str, Any]:
    zone, source = viewer_zone(request, ctx, user)
    return {"zone": zone, "zone_source": source, "now": ctx.clock.now()}


# --- /oncall ------------------------------------------------------------------------------


def _oncall_page(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    *,
    notice: str | None = None,
    error: str | None = None,
    new_feed_url: str | None = None,
    status_code: int = 200,
) -> Response:
    zones = _zone_context(request, ctx, user)
    now, zone = zones["now"], zones["zone"]
    entries = oncall.on_call(uow.session, config=ctx.config, at=now)
    titles = _titles(uow, ctx)
    days = week_days(now, zone)
    shifts: list[Shift] = []
    for name in titles:
        try:
            _, found = oncall.schedule_shifts(
                uow.session, config=ctx.config, name=name, start=days[0][0], end=days[-1][1]
            )
        except WarroomError:
            continue  # a schedule too busy to render for a week is shown on its own page
        shifts.extend(found)
    mine: list[Shift] = []
    feeds: list[Any] = []
    handle = user.principal.user
    if handle:
        try:
            mine = oncall.user_shifts(
                uow.session, config=ctx.config, handle=handle, start=now, end=now + MY_SHIFTS_AHEAD
            )
        except WarroomError:
            mine = []
        feeds = [
            f
            for f in oncall.list_feeds(uow.session, viewer=user.principal)
            if f.kind == "user" and f.target == handle
        ]
    by_schedule: dict[str, list[Shift]] = {name: [] for name in titles}
    for entry in entries:
        by_schedule.setdefault(entry.schedule, []).append(entry)
    return render(
        request,
        "oncall.html",
        user,
        status_code,
        **zones,
        titles=titles,
        now_by_schedule=by_schedule,
        services=services_on_call(ctx, entries),
        days=days,
        grid=week_grid(shifts, days, titles),
        mine=mine,
        feeds=feeds,
        new_feed_url=new_feed_url,
        notice=notice,
        error=error,
    )


@router.get("/oncall")
def oncall_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    return _oncall_page(request, ctx, uow, user)


@router.post("/oncall/calendar-feed")
def create_my_feed(
    request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    """A subscription link of the signed-in person's shifts; its URL is shown this once."""
    made: dict[str, str] = {}

    def create(user: WebUser) -> str:
        if not user.principal.user:
            raise ValidationFailed(
                "this token belongs to no person (no `user`), so it has no shifts to subscribe to",
                field="user",
            )
        _, secret = oncall.create_feed(
            uow.session,
            config=ctx.config,
            kind="user",
            target=user.principal.user,
            label="web console",
            actor=user.principal,
            now=ctx.clock.now(),
        )
        made["url"] = feed_url(ctx.settings.base_url or str(request.base_url), secret)
        return "Calendar link created. Copy it now: it is shown this once."

    def show(user: WebUser, **kw: Any) -> Response:
        return _oncall_page(request, ctx, uow, user, new_feed_url=made.get("url"), **kw)

    return act(request, ctx, uow, csrf_token, Role.VIEWER, create, show)


# --- /schedules ---------------------------------------------------------------------------


@router.get("/schedules")
def schedules_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    zones = _zone_context(request, ctx, user)
    entries = oncall.on_call(uow.session, config=ctx.config, at=zones["now"])
    schedules = oncall.list_schedules(uow.session, config=ctx.config)
    return render(
        request,
        "schedules.html",
        user,
        **zones,
        schedules=schedules,
        on_call={d.name: [e for e in entries if e.schedule == d.name] for d in schedules},
    )


def _schedule_page(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    name: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    defined = oncall.get(uow.session, config=ctx.config, name=name)
    if defined is None:
        return render_template(
            "error.html",
            404,
            user=user,
            title="Not found",
            message=f"There is no schedule {name!r}.",
        )
    zones = _zone_context(request, ctx, user)
    now, zone = zones["now"], zones["zone"]
    try:
        week = max(-52, min(52, int(request.query_params.get("week", "0"))))
    except ValueError:
        week = 0
    days = week_days(now + timedelta(days=DAYS * week), zone)
    _, shifts = oncall.schedule_shifts(
        uow.session, config=ctx.config, name=defined.name, start=days[0][0], end=days[-1][1]
    )
    titles = {defined.name: defined.spec.title or defined.name}
    overrides = oncall.list_overrides(
        uow.session, config=ctx.config, schedule=defined.name, now=now
    )
    return render(
        request,
        "schedule.html",
        user,
        status_code,
        **zones,
        schedule=defined,
        quoted=quote(defined.name, safe=""),
        on_call=oncall.on_call(uow.session, config=ctx.config, at=now, schedule=defined.name),
        week=week,
        days=days,
        grid=week_grid(shifts, days, titles),
        upcoming=[s for s in shifts if s.end > now][:20],
        overrides=overrides,
        users=[u.handle for u in ctx.config.users],
        layers=[layer.name for layer in defined.spec.layers],
        default_start=now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        default_end=(now + timedelta(hours=8)).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        notice=notice,
        error=error,
    )


@router.get("/schedules/{name}")
def schedule_page(name: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow)
    if not isinstance(user, WebUser):
        return user
    return _schedule_page(request, ctx, uow, user, name)


def parse_local(value: str, zone: ZoneInfo, field_name: str) -> datetime:
    """A `datetime-local` field (wall-clock time in the viewer's zone) as an aware instant."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{field_name}: give a date and time like 2024-03-15T09:30", field=field_name
        ) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zone)


@router.post("/schedules/{name}/overrides")
def create_override(
    name: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    kind: FormStr = "replace",
    start: FormStr = "",
    end: FormStr = "",
    user: FormStr = "",
    replaces: FormStr = "",
    layer: FormStr = "",
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def create(who: WebUser) -> str:
        zone, _ = viewer_zone(request, ctx, who)
        fields = {
            "kind": kind,
            "start": parse_local(start, zone, "start"),
            "end": parse_local(end, zone, "end"),
            "user": user.strip() or None,
            "replaces": replaces.strip() or None,
            "layer": layer.strip() or None,
            "reason": reason,
        }
        try:
            data = OverrideCreate.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "override"
            raise ValidationFailed(f"{where}: {first['msg']}", field=where) from None
        row = oncall.create_override(
            uow.session,
            config=ctx.config,
            schedule=name,
            data=data,
            actor=who.principal,
            now=ctx.clock.now(),
        )
        return f"Override {row.id} added: {row.kind} {row.user or ''}".rstrip() + "."

    def show(who: WebUser, **kw: Any) -> Response:
        return _schedule_page(request, ctx, uow, who, name, **kw)

    return act(request, ctx, uow, csrf_token, Role.RESPONDER, create, show)


@router.post("/schedules/{name}/overrides/{override_id}/cancel")
def cancel_override(
    name: str,
    override_id: IdPath,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    csrf_token: FormStr = "",
) -> Response:
    def cancel(who: WebUser) -> str:
        row = oncall.cancel_override(
            uow.session,
            config=ctx.config,
            schedule=name,
            override_id=override_id,
            now=ctx.clock.now(),
        )
        return f"Override {row.id} cancelled."

    def show(who: WebUser, **kw: Any) -> Response:
        return _schedule_page(request, ctx, uow, who, name, **kw)

    return act(request, ctx, uow, csrf_token, Role.RESPONDER, cancel, show)
