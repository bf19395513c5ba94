"""The web shell: server-rendered pages and HTMX fragments over the same services as the API.

Security model, in one place:

- Logging in with an API token opens a server-side session (`warroom.auth.sessions`): the
  cookie (`warroom_session`) holds the session's own random id, never the token; HttpOnly
  (scripts cannot read it), SameSite=Strict (other sites cannot send it), Secure when the
  base URL is https. Logout revokes the session; it also ends when idle, at its maximum
  age, and when the token is revoked.
- Every state-changing POST carries a CSRF token, the HMAC of the session id: htmx
  sends it in a header (`hx-headers` on <body>), plain forms in a hidden field. A
  present `Origin` (or, failing that, `Referer`) must name this host.
- Templates autoescape; the Content-Security-Policy allows scripts and styles from
  /static only, so an injected tag could neither run nor load anything.
- Restricted incidents go through the services' visibility rules: an outsider gets the
  same 404 page as for a number that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from os import PathLike, stat_result
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.types import Scope

from warroom.adapters.channels import setup_warnings
from warroom.api import CtxDep, UowDep
from warroom.auth import sessions
from warroom.auth.logic import Principal, Role
from warroom.authority.logic import decide
from warroom.config.authority import Action as Governed
from warroom.config.durations import format_compact
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import Conflict, Forbidden, NotFound, ValidationFailed
from warroom.incidents import reads, service
from warroom.incidents.logic import OPEN_STATUSES, Status, allowed_transitions
from warroom.incidents.models import Incident
from warroom.incidents.schemas import EventCreate
from warroom.pages import SECURITY_HEADERS, STATIC_DIR, TEMPLATE_DIR
from warroom.timeline.logic import EventType
from warroom.web.nav import NAV

SESSION_COOKIE = "warroom_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

# htmx reads its settings from this meta tag. Under the CSP above it must not evaluate
# strings (trigger filters, hx-on) nor inject its indicator <style>; 403, 409 and 422 answers
# carry the refreshed incident with the reason, so they are swapped in, not dropped.
HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "historyCacheSize": 0,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "403|409|422", "swap": True, "error": False},
        {"code": "[45]..", "swap": False, "error": True},
    ],
}

ACTIVE_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
_STATUS_ORDER = list(Status)
# The kinds of entry a person adds by hand from the incident page.
NOTE_TYPES = (
    EventType.NOTE,
    EventType.INVESTIGATION,
    EventType.ACTION,
    EventType.DECISION,
    EventType.COMMUNICATION,
)
_MAX_TOKEN_LENGTH = 512
_RECENTLY_RESOLVED = 5


# --- small pure helpers -----------------------------------------------------------------


def make_csrf_token(session_token: str) -> str:
    """Return the CSRF token bound to a session token.

    Keyed by the session token itself, so every front end of a scale-out deployment
    computes the same value without sharing a secret, and only a holder of the session
    token (which is HttpOnly) can produce it.
    """
    return hmac.new(session_token.encode(), b"warroom web csrf v1", hashlib.sha256).hexdigest()


def safe_next(target: str | None) -> str:
    """Return `target` when it is a path on this site, else `/` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def format_age(seconds: float) -> str:
    """A compact age for tables: `45s`, `12m`, `3h 05m`, `2d 4h`."""
    return format_compact(seconds)


def format_time(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def plain(value: Any) -> str:
    """Render a JSON detail value as text (the template escapes it)."""
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _rank(config: WarroomConfig, name: str) -> int:
    """1 is the most severe; a name the scheme no longer has sorts last."""
    try:
        return config.severity_rank(name)
    except KeyError:
        return len(config.severities) + 1


def severity_class(config: WarroomConfig, name: str) -> str:
    """A CSS class by rank, so renamed schemes (P0-P3, P1-P4) keep their colours."""
    if config.severity(name) is None:
        return "sev sev-unknown"
    return f"sev sev-{min(_rank(config, name), 5)}"


def _session_from_cookie(request: Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    return raw if raw and 0 < len(raw) <= sessions.MAX_ID_LENGTH else None


def _lifetimes(ctx: AppContext) -> sessions.Lifetimes:
    return sessions.Lifetimes(
        idle=timedelta(seconds=ctx.settings.session_idle_seconds),
        max_age=timedelta(seconds=ctx.settings.session_max_age_seconds),
    )


# --- templates ----------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["when_s"] = lambda value: format_time(value, seconds=True)
    env.filters["age"] = format_age
    env.filters["plain"] = plain
    env.filters["iso"] = lambda value: value.isoformat() if value else ""
    env.globals["htmx_config"] = json.dumps(HTMX_CONFIG, separators=(",", ":"))
    env.globals["csrf_field"] = CSRF_FIELD
    env.globals["nav"] = NAV
    return env


_templates = _environment()


def _render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status_code)


# --- the caller ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    token: str
    csrf: str

    @property
    def can_act(self) -> bool:
        return self.principal.has(Role.RESPONDER)

    @property
    def hx_headers(self) -> str:
        return json.dumps({CSRF_HEADER: self.csrf})


def _current_user(request: Request, ctx: AppContext, uow: UnitOfWork) -> WebUser | None:
    session_id = _session_from_cookie(request)
    if session_id is None:
        return None
    # Resolved (and its last use stamped) in a transaction of its own: the request's
    # own unit of work stays read-only unless the request changes something.
    with ctx.db.unit_of_work() as own:
        principal = sessions.resolve(
            own.session, session_id=session_id, now=ctx.clock.now(), life=_lifetimes(ctx)
        )
        own.commit()
    if principal is None:
        return None
    return WebUser(principal=principal, token=session_id, csrf=make_csrf_token(session_id))


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _to_login(request: Request) -> Response:
    """Send an anonymous caller to the login page, then back to where they were."""
    here = request.url.path
    if request.method != "GET" or here.startswith("/fragments/"):
        here = request.headers.get("hx-current-url", "") or "/"
        here = safe_next(urlsplit(here).path or "/")
    location = "/login?" + urlencode({"next": here})
    if _is_htmx(request):
        # A fetch cannot follow a redirect to a page; htmx navigates on this header.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _same_origin(request: Request, ctx: AppContext) -> bool:
    """True unless Origin (or Referer) names another site."""
    host = request.headers.get("host", "")
    allowed = {host.lower(), urlsplit(ctx.settings.base_url).netloc.lower()} - {""}
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True  # same-site requests from older browsers may carry neither
    return urlsplit(claimed).netloc.lower() in allowed


def _csrf_ok(request: Request, session_token: str, form_value: str) -> bool:
    """The header (htmx) or the hidden field (plain forms) must carry this session's token."""
    presented = request.headers.get(CSRF_HEADER) or form_value
    expected = make_csrf_token(session_token)
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


def _forbidden(request: Request, user: WebUser | None, message: str) -> HTMLResponse:
    if _is_htmx(request):
        response = _render("_message.html", 403, level="error", message=message)
        # htmx does not swap a 403; reloading shows what this session may really do (a
        # stale page after logging in as someone else in another tab, for instance).
        response.headers["HX-Refresh"] = "true"
        return response
    return _render("error.html", 403, user=user, title="Forbidden", message=message)


def _not_found(request: Request, user: WebUser | None) -> HTMLResponse:
    message = "There is no such incident, or you may not see it."
    if _is_htmx(request):
        return _render("_message.html", 404, level="error", message=message)
    return _render("error.html", 404, user=user, title="Not found", message=message)


# --- view models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    key: str
    number: int
    title: str
    severity: str
    severity_class: str
    rank: int
    status: str
    services: list[str]
    commander: str | None
    restricted: bool
    declared_at: datetime
    resolved_at: datetime | None
    age_seconds: float


def _row(config: WarroomConfig, incident: Incident, now: datetime) -> IncidentRow:
    began = incident.started_at or incident.declared_at
    return IncidentRow(
        key=incident.key,
        number=incident.id,
        title=incident.title,
        severity=incident.severity,
        severity_class=severity_class(config, incident.severity),
        rank=_rank(config, incident.severity),
        status=incident.status,
        services=[s.service for s in incident.services],
        commander=next((r.user for r in incident.roles if r.role == "incident_commander"), None),
        restricted=incident.restricted,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        age_seconds=(now - began).total_seconds(),
    )


def _dashboard(ctx: AppContext, uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    now = ctx.clock.now()
    active, total = service.list_incidents(
        uow.session,
        viewer=principal,
        filters=service.Filters(status=ACTIVE_STATUSES),
        limit=200,
        offset=0,
    )
    done, _ = service.list_incidents(
        uow.session,
        viewer=principal,
        filters=service.Filters(status=(Status.RESOLVED, Status.CLOSED)),
        limit=4 * _RECENTLY_RESOLVED,
        offset=0,
    )
    rows = sorted(
        (_row(ctx.config, i, now) for i in active),
        key=lambda r: (r.rank, r.declared_at),
    )
    resolved = sorted(
        (_row(ctx.config, i, now) for i in done),
        key=lambda r: r.resolved_at or r.declared_at,
        reverse=True,
    )[:_RECENTLY_RESOLVED]
    return {
        "active": rows,
        "active_total": total,
        "resolved": resolved,
        "now": now,
        "setup_warnings": setup_warnings(ctx),
        "nav_here": "/",
        **{name: panel(uow.session, principal, now) for name, panel in DASHBOARD_PANELS.items()},
    }


#: What capabilities add to the dashboard: a name its template reads, and a function of
#: (session, viewer, now) that reads it (the failing-channels banner: `warroom.web.ops_pages`).
DASHBOARD_PANELS: dict[str, Callable[[Session, Principal, datetime], object]] = {}


@dataclass(frozen=True)
class RoleSlot:
    name: str
    title: str
    holder: str | None


def _role_slots(config: WarroomConfig, incident: Incident) -> list[RoleSlot]:
    held = {r.role: r.user for r in incident.roles}
    slots = [
        RoleSlot(name, spec.title, held.pop(name, None)) for name, spec in config.roles.items()
    ]
    # A role the configuration no longer defines is still shown while someone holds it.
    slots.extend(RoleSlot(name, name.replace("_", " ").title(), who) for name, who in held.items())
    return slots


def _transition_choices(current: Status) -> list[tuple[str, str]]:
    """(value, label) for the status select: the way forward first, then the way back."""
    here = _STATUS_ORDER.index(current)
    choices = []
    for target in sorted(allowed_transitions(current), key=_STATUS_ORDER.index):
        label = target.value
        if _STATUS_ORDER.index(target) < here:
            label = f"{target.value} (reopen)" if current is Status.RESOLVED else f"back to {label}"
        choices.append((target.value, label))
    return sorted(choices, key=lambda c: _STATUS_ORDER.index(Status(c[0])) < here)


def _incident_context(
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    incident: Incident,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    now = ctx.clock.now()
    current = Status(incident.status)
    incident_type = ctx.config.incident_type(incident.type) if incident.type else None
    return {
        "user": user,
        "incident": service.to_read(incident, now=now),
        "severity_class": severity_class(ctx.config, incident.severity),
        "type_title": incident_type.title if incident_type else incident.type,
        "roles": _role_slots(ctx.config, incident),
        "events": service.timeline(uow.session, incident=incident),
        "transitions": _transition_choices(current),
        "can_ack": incident.acknowledged_at is None and current in OPEN_STATUSES,
        "note_types": [t.value for t in NOTE_TYPES],
        "refusals": _refusals(ctx.config, incident, user.principal),
        "nav_here": "/",
        **{name: panel(uow.session, incident, now) for name, panel in INCIDENT_PANELS.items()},
        "notice": notice,
        "error": error,
    }


def _refusals(config: WarroomConfig, incident: Incident, who: Principal) -> dict[str, str]:
    """What the authority rules would say to this person, per action (absent: allowed)."""
    holders = {r.role: r.user for r in incident.roles}
    found = {}
    for action in (Governed.CHANGE_SEVERITY, Governed.ASSIGN_ROLES, Governed.RESOLVE):
        decision = decide(
            config, action=action, severity=incident.severity, holders=holders, actor=who
        )
        if not decision.allowed:
            found[action.value] = decision.message
        elif decision.override:
            found[action.value] = f"as an admin you may; otherwise {decision.message}"
    return found


#: What capabilities add to the incident page: a name its template reads, and a function
#: of (session, incident, now) that reads (never writes) it. They register themselves
#: (the incident room: `warroom.runbooks.web`), so the web shell imports none of them.
INCIDENT_PANELS: dict[str, Callable[[Session, Incident, datetime], object]] = {}


# --- routes -------------------------------------------------------------------------------


class _WebRoute(APIRoute):
    """Every web response carries the security headers and is never cached."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return with_headers


class _StaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router = APIRouter(include_in_schema=False, route_class=_WebRoute)

FormStr = Annotated[str, Form()]


@router.get("/login")
def login_page(next: str = "/") -> HTMLResponse:
    return _render("login.html", user=None, next=safe_next(next), error=None)


@router.post("/login")
def login(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    token: FormStr = "",
    next: FormStr = "/",
) -> Response:
    target = safe_next(next)
    if not _same_origin(request, ctx):
        return _render(
            "error.html", 403, user=None, title="Forbidden", message="Cross-site login refused."
        )
    token = token.strip()
    row = None
    if 0 < len(token) <= _MAX_TOKEN_LENGTH:
        row = sessions.token_row(uow.session, token=token)
    if row is None:
        # Unknown, revoked or malformed: the page does not say which.
        error = "That token was not accepted."
        return _render("login.html", 401, user=None, next=target, error=error)
    session_id = sessions.start(uow.session, token=row, now=ctx.clock.now(), life=_lifetimes(ctx))
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
    session_id = _session_from_cookie(request)
    if not _same_origin(request, ctx) or (
        session_id is not None and not _csrf_ok(request, session_id, csrf_token)
    ):
        return _render("error.html", 403, user=None, title="Forbidden", message="Logout refused.")
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
    user = _current_user(request, ctx, uow)
    if user is None:
        return _to_login(request)
    return _render("dashboard.html", user=user, **_dashboard(ctx, uow, user.principal))


@router.get("/fragments/incidents")
def incidents_fragment(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = _current_user(request, ctx, uow)
    if user is None:
        return _to_login(request)
    return _render("_incidents.html", user=user, **_dashboard(ctx, uow, user.principal))


@router.get("/incidents/{key}")
def incident_page(key: str, request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = _current_user(request, ctx, uow)
    if user is None:
        return _to_login(request)
    try:
        incident = service.get(uow.session, key=key, viewer=user.principal)
    except NotFound:
        return _not_found(request, user)
    reads.record_read(uow, user.principal, incident, f"GET /incidents/{incident.key}")
    template = "_incident.html" if _is_htmx(request) else "incident.html"
    return _render(template, **_incident_context(ctx, uow, user, incident))


Action = Callable[[Incident, Principal], str]


def _act(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    key: str,
    form_csrf: str,
    action: Action,
) -> Response:
    """Run one change for a responder: check session, CSRF and role, commit, re-render."""
    user = _current_user(request, ctx, uow)
    if user is None:
        return _to_login(request)
    if not _same_origin(request, ctx) or not _csrf_ok(request, user.token, form_csrf):
        return _forbidden(request, user, "The request was refused (bad or missing CSRF token).")
    if not user.can_act:
        return _forbidden(request, user, "Your token may only read incidents.")
    try:
        incident = service.get(uow.session, key=key, viewer=user.principal, for_update=True)
    except NotFound:
        return _not_found(request, user)
    try:
        notice = action(incident, user.principal)
    except (Conflict, ValidationFailed, Forbidden) as exc:
        # A refusal by the authority rules (403) names who may act, next to the incident.
        uow.rollback()
        incident = service.get(uow.session, key=key, viewer=user.principal)
        status = exc.status_code
        context = _incident_context(ctx, uow, user, incident, error=exc.message)
        template = "_incident.html" if _is_htmx(request) else "incident.html"
        return _render(template, status, **context)
    uow.commit()
    if not _is_htmx(request):
        return RedirectResponse(f"/incidents/{incident.key}", status_code=303)
    return _render("_incident.html", **_incident_context(ctx, uow, user, incident, notice=notice))


@router.post("/incidents/{key}/ack")
def acknowledge(
    key: str, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def ack(incident: Incident, who: Principal) -> str:
        done = service.acknowledge(uow.session, incident=incident, actor=who, now=ctx.clock.now())
        return "Acknowledged." if done else "It was already acknowledged."

    return _act(request, ctx, uow, key, csrf_token, ack)


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

    return _act(request, ctx, uow, key, csrf_token, move)


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

    return _act(request, ctx, uow, key, csrf_token, note)


def mount_web(app: FastAPI) -> None:
    """Mount the web UI routes and its static assets."""
    app.include_router(router)
    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")
