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
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

from warroom.auth import sessions
from warroom.auth.logic import Principal, Role
from warroom.config.durations import format_compact
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.pages import SECURITY_HEADERS, TEMPLATE_DIR
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


def severity_rank(config: WarroomConfig, name: str) -> int:
    """1 is the most severe; a name the scheme no longer has sorts last."""
    try:
        return config.severity_rank(name)
    except KeyError:
        return len(config.severities) + 1


def severity_class(config: WarroomConfig, name: str) -> str:
    """A CSS class by rank, so renamed schemes (P0-P3, P1-P4) keep their colours."""
    if config.severity(name) is None:
        return "sev sev-unknown"
    return f"sev sev-{min(severity_rank(config, name), 5)}"


def session_from_cookie(request: Request) -> str | None:
    raw = request.cookies.get(SESSION_COOKIE)
    return raw if raw and 0 < len(raw) <= sessions.MAX_ID_LENGTH else None


def session_lifetimes(ctx: AppContext) -> sessions.Lifetimes:
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


TEMPLATES = _environment()


def render_template(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**context), status_code=status_code)


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


def current_user(request: Request, ctx: AppContext, uow: UnitOfWork) -> WebUser | None:
    session_id = session_from_cookie(request)
    if session_id is None:
        return None
    # Resolved (and its last use stamped) in a transaction of its own: the request's
    # own unit of work stays read-only unless the request changes something.
    with ctx.db.unit_of_work() as own:
        principal = sessions.resolve(
            own.session, session_id=session_id, now=ctx.clock.now(), life=session_lifetimes(ctx)
        )
        own.commit()
    if principal is None:
        return None
    return WebUser(principal=principal, token=session_id, csrf=make_csrf_token(session_id))


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def to_login(request: Request) -> Response:
    """Send an anonymous caller to the login page, then back to where they were."""
    here = request.url.path
    if request.method != "GET" or here.startswith("/fragments/"):
        here = request.headers.get("hx-current-url", "") or "/"
        here = safe_next(urlsplit(here).path or "/")
    location = "/login?" + urlencode({"next": here})
    if is_htmx(request):
        # A fetch cannot follow a redirect to a page; htmx navigates on this header.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def same_origin(request: Request, ctx: AppContext) -> bool:
    """True unless Origin (or Referer) names another site."""
    host = request.headers.get("host", "")
    allowed = {host.lower(), urlsplit(ctx.settings.base_url).netloc.lower()} - {""}
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True  # same-site requests from older browsers may carry neither
    return urlsplit(claimed).netloc.lower() in allowed


def csrf_ok(request: Request, session_token: str, form_value: str) -> bool:
    """The header (htmx) or the hidden field (plain forms) must carry this session's token."""
    presented = request.headers.get(CSRF_HEADER) or form_value
    expected = make_csrf_token(session_token)
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


def forbidden_page(request: Request, user: WebUser | None, message: str) -> HTMLResponse:
    if is_htmx(request):
        response = render_template("_message.html", 403, level="error", message=message)
        # htmx does not swap a 403; reloading shows what this session may really do (a
        # stale page after logging in as someone else in another tab, for instance).
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template("error.html", 403, user=user, title="Forbidden", message=message)


def not_found_page(request: Request, user: WebUser | None) -> HTMLResponse:
    message = "There is no such incident, or you may not see it."
    if is_htmx(request):
        return render_template("_message.html", 404, level="error", message=message)
    return render_template("error.html", 404, user=user, title="Not found", message=message)


# --- routes -------------------------------------------------------------------------------


def form_caller(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    csrf: str,
    *,
    role: Role | None = Role.RESPONDER,
    refusal: str | None = None,
) -> WebUser | Response:
    """The signed-in caller behind a state-changing POST, or the answer refusing it: the
    login page for nobody, 403 for another site's request or a bad CSRF token, 403 (with
    `refusal`) for a caller without `role`."""
    user = current_user(request, ctx, uow)
    if user is None:
        return to_login(request)
    if not same_origin(request, ctx) or not csrf_ok(request, user.token, csrf):
        return forbidden_page(request, user, "The request was refused (bad or missing CSRF token).")
    if role is not None and not user.principal.has(role):
        return forbidden_page(request, user, refusal or f"Only the {role.value} role may do this.")
    return user


class WebRoute(APIRoute):
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


class StaticAssets(StaticFiles):
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


router = APIRouter(include_in_schema=False, route_class=WebRoute)

FormStr = Annotated[str, Form()]
