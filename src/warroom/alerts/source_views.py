"""Alerts in from Grafana, generic JSON webhooks, and people ("report a problem").

The Grafana and webhook receivers share `ingest_batch` with Alertmanager: 2xx only after
the commit, 400 naming the field for malformed input, 503 (retried by senders) otherwise.

The report form and API are public. They use no cookies, so there is no session for a
forged cross-site post to ride on (no CSRF token is needed); what stops abuse is a
per-client and a global token bucket, a honeypot field, and length limits. A refused
report is 429 with Retry-After: people see it, senders of alerts never do.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warroom import jsonbody
from warroom.alerts.grafana import parse_grafana
from warroom.alerts.logic import AlertEvent
from warroom.alerts.models import Alert
from warroom.alerts.ratelimit import RateLimiter
from warroom.alerts.reports import (
    DESCRIPTION_MAX,
    EMAIL_MAX,
    HONEYPOT_FIELD,
    REPEAT_WINDOW_SECONDS,
    SUMMARY_MAX,
    ProblemReport,
    report_event,
    report_fingerprint,
)
from warroom.alerts.service import Applied, Source, apply_event
from warroom.alerts.views import (
    BodyTooLarge,
    ingest_batch,
    integration_key,
    read_body,
    read_json,
)
from warroom.alerts.webhook import WebhookMapping, load_mapping, parse_webhook
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.errors import Unauthorized
from warroom.integrations import service as integrations
from warroom.integrations.models import Integration
from warroom.integrations.service import IntegrationType, KeyCache
from warroom.jsonbody import Unstorable
from warroom.pages import SECURITY_HEADERS, TEMPLATE_DIR

router = APIRouter(tags=["alerts"])

# Enough for a full-length description in the worst UTF-8 percent-encoding, and little more.
MAX_REPORT_BYTES = 64 * 1024


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


# --- the key: Bearer, Basic (password), or ?key= ------------------------------------------


def basic_auth_key(request: Request) -> str | None:
    """The key sent as HTTP Basic credentials: the password (any user), or a lone user name."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return password.strip() or user.strip() or None


def _with_key(request: Request) -> Request:
    """The request as `ingest_batch` reads it: Basic credentials become a Bearer key."""
    key = basic_auth_key(request)
    if key is None:
        return request
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"authorization"]
    headers.append((b"authorization", f"Bearer {key}".encode("latin-1", "replace")))
    # The body has not been read yet, so the new request streams it from the same channel.
    return Request({**request.scope, "headers": headers}, request.receive)


# --- Grafana ------------------------------------------------------------------------------


@router.put("/api/v1/integrations/grafana", include_in_schema=False)  # Grafana may PUT
@router.post("/api/v1/integrations/grafana")
async def grafana_webhook(request: Request) -> JSONResponse:
    """Grafana Alerting webhook contact point (unified alerting; legacy alerting tolerated).

    The integration key goes in the contact point's Authorization header (`Bearer <key>`,
    or Basic auth with the key as password) or in the URL as `?key=`.
    """
    return await ingest_batch(_with_key(request), IntegrationType.GRAFANA, parse_grafana)


# --- generic JSON webhook -----------------------------------------------------------------


class _MappingCache:
    """Integration id → parsed mapping, kept briefly like the key cache."""

    def __init__(self, ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._entries: dict[int, tuple[float, WebhookMapping | Exception]] = {}
        self._lock = threading.Lock()

    def get(self, integration_id: int) -> WebhookMapping | Exception | None:
        with self._lock:
            hit = self._entries.get(integration_id)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, integration_id: int, value: WebhookMapping | Exception) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[integration_id] = (time.monotonic() + self._ttl, value)


_STATE_LOCK = threading.Lock()


def _app_singleton(request: Request, name: str, make: Any) -> Any:
    state = request.app.state
    with _STATE_LOCK:
        value = getattr(state, name, None)
        if value is None:
            value = make()
            setattr(state, name, value)
    return value


def _webhook_mapping(request: Request, key: str) -> WebhookMapping | Exception | None:
    """The mapping of the webhook integration with this key; None for an unknown key."""
    ctx = _ctx(request)
    keys: KeyCache = request.app.state.integration_keys
    cache: _MappingCache = _app_singleton(request, "webhook_mappings", _MappingCache)
    with ctx.db.unit_of_work() as uow:
        found = keys.lookup(uow.session, key, IntegrationType.WEBHOOK)
        if found is None:
            return None
        cached = cache.get(found.integration_id)
        if cached is not None:
            return cached
        settings = uow.session.scalar(
            select(Integration.settings).where(Integration.id == found.integration_id)
        )
    value: WebhookMapping | Exception
    try:
        value = load_mapping((settings or {}).get("mapping"))
    except Exception as exc:
        value = exc  # a broken mapping answers 400 until it is fixed
    cache.put(found.integration_id, value)
    return value


@router.post("/api/v1/integrations/webhook")
async def generic_webhook(request: Request) -> JSONResponse:
    """Any JSON: fields are read through the integration's `settings.mapping`.

    Without a mapping: summary/title/message, source, severity, dedup_key/id, and
    action/status/state. See docs/alert-sources.md for the mapping format.
    """
    request = _with_key(request)
    key = integration_key(request)
    if not key:
        raise Unauthorized("integration key missing: send it as a Bearer token or ?key=")
    try:
        mapping = await asyncio.to_thread(_webhook_mapping, request, key)
    except Exception:
        return JSONResponse(
            {"error": {"code": "unavailable", "message": "database unavailable; retry"}},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    if mapping is None:
        raise Unauthorized("unknown webhook integration key")

    def parse(body: Any) -> list[AlertEvent]:
        if isinstance(mapping, Exception):
            raise mapping
        return parse_webhook(body, mapping)

    return await ingest_batch(request, IntegrationType.WEBHOOK, parse)


# --- user reports: storing ----------------------------------------------------------------


class ReportsClosed(Exception):
    """The service exists but its report integration is disabled."""


def report_integration_name(service: str) -> str:
    return f"user-reports-{service}"


def _report_source(session: Session, config: WarroomConfig, service: str, now: datetime) -> Source:
    """The service's report integration, created on its first report."""
    name = report_integration_name(service)
    row = session.scalar(select(Integration).where(Integration.name == name))
    if row is None:
        row = integrations.create(
            session,
            config=config,
            name=name,
            type=IntegrationType.REPORT,
            service=service,
            now=now,
            settings={"created_by": "first user report"},
        )
    elif row.type != IntegrationType.REPORT or row.disabled_at is not None:
        raise ReportsClosed(service)
    return Source(integration_id=row.id, service=row.service)


def _recent_repeat(session: Session, source: Source, fingerprint: str, now: datetime) -> str | None:
    """The key of an open alert for the same report seen within the repeat window."""
    return session.scalar(
        select(Alert.dedup_key)
        .where(
            Alert.integration_id == source.integration_id,
            Alert.dedup_key.startswith(fingerprint + "-", autoescape=True),
            Alert.resolved_at.is_(None),
            Alert.last_seen >= now - timedelta(seconds=REPEAT_WINDOW_SECONDS),
        )
        .order_by(Alert.last_seen.desc())
        .limit(1)
    )


def file_report(ctx: AppContext, report: ProblemReport, *, reporter: str) -> Applied:
    """Store a report as an alert on its service; commit; wake routing."""
    fingerprint = report_fingerprint(report, reporter)
    for attempt in range(3):
        now = ctx.clock.now()
        try:
            with ctx.db.unit_of_work() as uow:
                source = _report_source(uow.session, ctx.config, report.service, now)
                # Each report is its own alert, unless the same person repeats it soon after.
                key = _recent_repeat(uow.session, source, fingerprint, now)
                key = key or f"{fingerprint}-{uuid.uuid4().hex[:12]}"
                event = report_event(report, dedup_key=key)
                applied = apply_event(uow.session, source=source, event=event, now=now)
                uow.commit()
        except IntegrityError:
            # Two first reports raced to create the integration: the loser uses the winner's.
            if attempt == 2:
                raise
            continue
        return applied  # its commit woke the engines (`apply_event`)
    raise AssertionError("unreachable")


# --- user reports: rate limit and input ----------------------------------------------------


def _limiter(request: Request) -> RateLimiter:
    ctx = _ctx(request)
    limiter: RateLimiter = _app_singleton(
        request, "report_limiter", lambda: RateLimiter(lambda: ctx.clock.now().timestamp())
    )
    return limiter


def _client(request: Request) -> str:
    # Behind a proxy, uvicorn's --proxy-headers puts the real client here.
    return request.client.host if request.client else "unknown"


def _retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class BadReport(Exception):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def validate_report(data: Any, config: WarroomConfig) -> ProblemReport:
    """Check a report against the limits and the configured services; raise BadReport."""
    if not isinstance(data, dict):
        raise BadReport("body", "must be a JSON object")
    try:
        jsonbody.check(data)  # the form's fields too: a NUL cannot be stored
    except Unstorable as exc:
        raise BadReport(exc.field, exc.message) from None
    try:
        report = ProblemReport.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise BadReport(field, f"{field}: {err.get('msg', 'invalid')}") from None
    if not report.is_bot and config.service(report.service) is None:
        raise BadReport("service", f"service: unknown service {report.service!r}")
    return report


async def _read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadReport("body", "send the form as application/x-www-form-urlencoded", 415)
    text = (await read_body(request, MAX_REPORT_BYTES)).decode("utf-8", errors="replace")
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=20))
    except ValueError:
        raise BadReport("body", "too many form fields") from None


# --- user reports: pages ------------------------------------------------------------------

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _page(ctx: AppContext, status_code: int = 200, **context: Any) -> HTMLResponse:
    values = {
        "services": [(s.name, s.title or s.name) for s in ctx.config.services],
        "form": {},
        "error": None,
        "error_field": None,
        "thanks": False,
        "reference": None,
        "limits": {"summary": SUMMARY_MAX, "description": DESCRIPTION_MAX, "email": EMAIL_MAX},
        "honeypot": HONEYPOT_FIELD,
        **context,
    }
    html = _templates.get_template("report.html").render(**values)
    response = HTMLResponse(html, status_code=status_code)
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/report", include_in_schema=False)
def report_form(request: Request, service: str = "") -> HTMLResponse:
    """The public "report a problem" form; `?service=` preselects a service."""
    return _page(_ctx(request), form={"service": service})


@router.post("/report", include_in_schema=False)
async def report_form_post(request: Request) -> Response:
    """Take a report from the form; answer with a thank-you page."""
    ctx = _ctx(request)
    wait = _limiter(request).acquire(_client(request))
    if wait > 0:
        response = _page(
            ctx,
            429,
            error=f"Too many reports from your network. Please try again in "
            f"{_retry_after(wait)} seconds.",
        )
        response.headers["Retry-After"] = _retry_after(wait)
        return response
    form: dict[str, str] = {}
    try:
        form = await _read_form(request)
        report = validate_report(form, ctx.config)
    except BodyTooLarge:
        return _page(ctx, 413, error="That report is too long.")
    except BadReport as exc:
        return _page(ctx, exc.status, form=form, error=exc.message, error_field=exc.field)
    if report.is_bot:
        return _page(ctx, thanks=True)  # the bot learns nothing
    try:
        applied = await asyncio.to_thread(
            file_report, ctx, report, reporter=_reporter(request, report)
        )
    except ReportsClosed:
        return _page(
            ctx, 400, form=form, error="This service does not take reports.", error_field="service"
        )
    except Exception:
        response = _page(
            ctx, 503, form=form, error="We could not save your report just now. Please try again."
        )
        response.headers["Retry-After"] = "5"
        return response
    return _page(ctx, thanks=True, reference=applied.alert_id)


def _reporter(request: Request, report: ProblemReport) -> str:
    return report.email or f"ip:{_client(request)}"


# --- user reports: JSON API ----------------------------------------------------------------


def _json_error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    details = {"field": field} if field else None
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


_REPORT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": ProblemReport.model_json_schema()}},
}


@router.post(
    "/api/v1/reports/problem",
    status_code=202,
    tags=["reports"],
    openapi_extra={"requestBody": _REPORT_BODY},
    responses={
        400: {"description": "A field is missing, too long, or names an unknown service"},
        429: {"description": "Too many reports; retry after `Retry-After` seconds"},
    },
)
async def report_problem(request: Request) -> JSONResponse:
    """Report a problem with a service (public, no token): it becomes an alert on the service.

    → 202 `{status: "accepted", alert_id}`. Limits: summary ≤ 200 characters, description
    ≤ 5000; a few reports per minute per client.
    """
    ctx = _ctx(request)
    wait = _limiter(request).acquire(_client(request))
    if wait > 0:
        response = _json_error(429, "too_many_requests", "too many reports; retry later")
        response.headers["Retry-After"] = _retry_after(wait)
        return response
    try:
        report = validate_report(await read_json(request, MAX_REPORT_BYTES), ctx.config)
    except BodyTooLarge:
        return _json_error(413, "payload_too_large", "body exceeds 64 KB", "body")
    except (BadReport, Unstorable) as exc:
        return _json_error(400, "bad_request", exc.message, exc.field)
    except ValueError:
        return _json_error(400, "bad_request", "body is not valid JSON", "body")
    if report.is_bot:
        return JSONResponse({"status": "accepted"}, status_code=202)
    try:
        applied = await asyncio.to_thread(
            file_report, ctx, report, reporter=_reporter(request, report)
        )
    except ReportsClosed:
        return _json_error(400, "bad_request", "this service does not take reports", "service")
    except Exception:
        response = _json_error(503, "unavailable", "report not saved; retry")
        response.headers["Retry-After"] = "5"
        return response
    return JSONResponse({"status": "accepted", "alert_id": applied.alert_id}, status_code=202)
