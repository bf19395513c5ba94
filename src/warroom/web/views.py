"""The web shell's own routes: login, logout, the dashboard and the incident page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from warroom.api import CtxDep, UowDep
from warroom.auth import sessions
from warroom.auth.logic import Principal
from warroom.errors import NotFound, ValidationFailed
from warroom.incidents import reads, service
from warroom.incidents.logic import Status
from warroom.incidents.models import Incident
from warroom.incidents.schemas import EventCreate
from warroom.pages import STATIC_DIR
from warroom.web.incident_page import (
    NOTE_TYPES,
    act_on_incident,
    dashboard_context,
    incident_context,
)
from warroom.web.shell import (
    SESSION_COOKIE,
    FormStr,
    StaticAssets,
    csrf_ok,
    current_user,
    is_htmx,
    not_found_page,
    render_template,
    router,
    safe_next,
    same_origin,
    session_from_cookie,
    session_lifetimes,
    to_login,
)

_MAX_TOKEN_LENGTH = 512


@router.get("/login")
def login_page(next: str = "/") -> HTMLResponse:
    return render_template("login.html", user=None, next=safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    target = safe_next(next)
    if not same_origin(request, ctx):
        return render_template(
            "error.html", 403, user=None, title="Forbidden", message="Cross-site login refused."
        )
    token = token.strip()
    row = None
    if 0 < len(token) <= _MAX_TOKEN_LENGTH:
        row = sessions.token_row(uow.session, token=token)
    if row is None:
        # Unknown, revoked or malformed: the page does not say which.
        error = "That token was not accepted."
        return render_template("login.html", 401, user=None, next=target, error=error)
    session_id = sessions.start(
        uow.session, token=row, now=ctx.clock.now(), life=session_lifetimes(ctx)
    )
    uow.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=ctx.settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = "") -> Response:
    session_id = session_from_cookie(request)
    if not same_origin(request, ctx) or (
        session_id is not None and not csrf_ok(request, session_id, csrf_token)
    ):
        return render_template(
            "error.html", 403, user=None, title="Forbidden", message="Logout refused."
        )
    if session_id is not None:
        sessions.revoke(uow.session, session_id=session_id, now=ctx.clock.now())
        uow.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=ctx.settings.secure_cookies,
    )
    return response


@router.get("/")
def dashboard(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    return render_template(
        "dashboard.html", user=user, **dashboard_context(ctx, uow, user.principal)
    )


@router.get("/fragments/incidents")
def incidents_fragment(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    return render_template(
        "_incidents.html", user=user, **dashboard_context(ctx, uow, user.principal)
    )


@router.get("/incidents/{key}")
def incident_page(key: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    try:
        incident = service.get(uow.session, key=key, viewer=user.principal)
    except NotFound:
        return not_found_page(request, user)
    reads.record_read(uow, user.principal, incident, f"GET /incidents/{incident.key}")
    template = "_incident.html" if is_htmx(request) else "incident.html"
    return render_template(template, **incident_context(ctx, uow, user, incident))


@router.post("/incidents/{key}/ack")
def acknowledge(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def ack(incident: Incident, who: Principal) -> str:
        done = service.acknowledge(uow.session, incident=incident, actor=who, now=ctx.clock.now())
        return "Acknowledged." if done else "It was already acknowledged."

    return act_on_incident(request, ctx, uow, key, csrf_token, ack)


@router.post("/incidents/{key}/status")
def change_status(
    key: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    status: FormStr = "",
    message: FormStr = "",
    public: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def move(incident: Incident, who: Principal) -> str:
        try:
            target = Status(status)
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", field="status") from None
        text = message.strip()[:5000] or None
        service.change_status(
            uow.session,
            incident=incident,
            status=target,
            message=text,
            public=public == "1",
            actor=who,
            now=ctx.clock.now(),
        )
        return f"Status changed to {target.value}."

    return act_on_incident(request, ctx, uow, key, csrf_token, move)


@router.post("/incidents/{key}/events")
def add_event(
    key: str,
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    type: FormStr = "note",
    description: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def note(incident: Incident, who: Principal) -> str:
        if type not in {t.value for t in NOTE_TYPES}:
            raise ValidationFailed(f"unknown entry type {type!r}", field="type")
        try:
            data = EventCreate(type=type, description=description)
        except ValidationError:
            raise ValidationFailed(
                "the note needs a description (at most 10,000 characters)", field="description"
            ) from None
        service.add_event(uow.session, incident=incident, data=data, actor=who, now=ctx.clock.now())
        return "Added to the timeline."

    return act_on_incident(request, ctx, uow, key, csrf_token, note)


def mount_web(app: FastAPI) -> None:
    """Mount the web UI routes and its static assets."""
    app.include_router(router)
    app.mount("/static", StaticAssets(directory=STATIC_DIR), name="static")
