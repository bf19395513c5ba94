"""What the console's own pages share (on-call, escalation, notifications, maintenance,
settings): the signed-in caller, the POST checks, the viewer's time zone, and two filters.

The pages live beside the incident pages on the web router (`warroom.web.shell.router`),
so they get the same session, CSRF, security headers and no-store answers. A page reads
through the same service functions as the API, and a form calls the same ones to change
anything; the role checks are the API's (viewer reads, responder acts, admin administers).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import Response

from warroom.auth.logic import Role, bind_actor
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.web.nav import active_item
from warroom.web.shell import (
    TEMPLATES,
    WebUser,
    current_user,
    forbidden_page,
    form_caller,
    render_template,
    to_login,
)

#: The cookie the console's script sets to the browser's IANA time zone.
TZ_COOKIE = "warroom_tz"
_MAX_ZONE_LENGTH = 64
_REFUSALS = (Conflict, ValidationFailed, Forbidden, NotFound)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The zone called `name`, or None for a missing, malformed or unknown name."""
    if not name or len(name) > _MAX_ZONE_LENGTH or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone(request: Request, ctx: AppContext, user: WebUser) -> tuple[ZoneInfo, str]:
    """The zone to show times in, and where it came from: `?tz=`, else the browser's
    (the `warroom_tz` cookie), else the signed-in person's configured zone, else UTC."""
    for name, source in (
        (request.query_params.get("tz"), "chosen"),
        (unquote(request.cookies.get(TZ_COOKIE) or ""), "your browser"),
    ):
        zone = zone_named(name)
        if zone is not None:
            return zone, source
    person = ctx.config.user(user.principal.user) if user.principal.user else None
    if person is not None:
        zone = zone_named(person.timezone)
        if zone is not None:
            return zone, "your configured"
    return ZoneInfo("UTC"), "the default"


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    """`value` as wall-clock time in `zone` (the zone's abbreviation is shown once per page)."""
    if value is None:
        return "—"
    return value.astimezone(zone).strftime(fmt)


TEMPLATES.filters["local"] = local_time
TEMPLATES.filters["zone_abbr"] = lambda zone, at: at.astimezone(zone).strftime("%Z")


def page(
    request: Request, ctx: AppContext, uow: UnitOfWork, role: Role = Role.VIEWER
) -> WebUser | Response:
    """The caller of a GET page, or the answer to give instead (login, 403)."""
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    if not user.principal.has(role):
        return forbidden_page(request, user, f"This page is for the {role.value} role.")
    return user


def render(
    request: Request, name: str, user: WebUser, status_code: int = 200, **context: Any
) -> Response:
    """A console page, with the navigation entry it belongs to marked."""
    return render_template(
        name, status_code, user=user, nav_here=active_item(request.url.path), **context
    )


#: Renders a console page for the caller, with a notice or an error and a status code.
Show = Callable[..., Response]


def act(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    form_csrf: str,
    role: Role,
    action: Callable[[WebUser], str],
    show: Show,
) -> Response:
    """Run one change from a console form: session, Origin, CSRF, role, then the service
    call; commit and show the page with the notice `action` returns, or roll back and
    show it with the refusal (its status code: 403, 404, 409, 422)."""
    user = form_caller(request, ctx, uow, form_csrf, role=role)
    if isinstance(user, Response):
        return user
    bind_actor(uow.session, user.principal, f"{request.method} {request.url.path}")
    try:
        notice = action(user)
    except _REFUSALS as exc:
        uow.rollback()
        return show(user, error=exc.message, status_code=exc.status_code)
    uow.commit()
    return show(user, notice=notice)
