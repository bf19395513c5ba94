"""The FastAPI application: API, web UI, health."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Imported for their side effect: they register event subscribers and timer handlers.
import warroom.authority.staffing
import warroom.chat.outbox  # the chat outbox, listed in GET /api/v1/notifications
import warroom.escalation.service
import warroom.handoffs.web  # the pending handoff and its form, on the web router
import warroom.runbooks.web  # the incident room's forms, on the web router
import warroom.security.web  # evidence and breach clocks on the incident page
import warroom.sla.service
import warroom.web.admin_pages  # settings, tokens, integrations (admin), on the web router
import warroom.web.alerts_pages  # /alerts, on the web router
import warroom.web.declare  # /declare, on the web router
import warroom.web.incident_run  # the incident page's forms and live refresh
import warroom.web.oncall_pages  # on-call, schedules, overrides, on the web router
import warroom.web.ops_pages  # noqa: F401  (escalation, notifications, maintenance)
from warroom import __version__
from warroom.alerts.ingest import BatchWriter
from warroom.alerts.manual_views import router as alert_actions_router
from warroom.alerts.source_views import router as alert_sources_router
from warroom.alerts.views import alertmanager_webhook, pagerduty_enqueue
from warroom.alerts.views import router as alerts_router
from warroom.auth import service as tokens
from warroom.auth.views import router as tokens_router
from warroom.authority.views import router as authority_router
from warroom.changes.views import router as changes_router
from warroom.chat.views import router as chat_router
from warroom.clock import Clock, SystemClock
from warroom.config.schema import WarroomConfig
from warroom.configuration import load_config
from warroom.context import ALERTS, AppContext, wake_local
from warroom.db import Database, WalCheckpointer
from warroom.direct_routes import DirectApp, error_response, internal_error
from warroom.drills.views import router as drills_router
from warroom.engine.apart import EngineProcess, child_environment, engine_argv, refusal
from warroom.engine.runner import Engine
from warroom.errors import WarroomError
from warroom.escalation.views import router as escalation_router
from warroom.handoffs.views import router as handoffs_router
from warroom.handoffs.views import users_router as roles_history_router
from warroom.hardening.faults import FAULTS, RETRY_AFTER_SECONDS
from warroom.hardening.setup import install_guard
from warroom.heartbeats.views import router as heartbeats_router
from warroom.incidents.views import router as incidents_router
from warroom.integrations.service import KeyCache
from warroom.integrations.views import router as integrations_router
from warroom.jobs import all_jobs
from warroom.maintenance.views import router as maintenance_router
from warroom.migrations import at_head, upgrade
from warroom.notifications.views import router as notifications_router
from warroom.oncall.views import feeds_router
from warroom.oncall.views import router as oncall_router
from warroom.postmortems.views import router as postmortems_router
from warroom.reports.exposition import router as prometheus_router
from warroom.reports.views import router as reports_router
from warroom.runbooks.views import router as runbooks_router
from warroom.security.audit_views import router as audit_router
from warroom.security.breach_views import router as breach_router
from warroom.security.views import router as security_router
from warroom.settings import Settings, get_settings
from warroom.severity.views import router as classify_router
from warroom.statuspage.serve import url_to_file
from warroom.statuspage.views import mount_status_page
from warroom.triage.views import router as triage_router
from warroom.web.views import mount_web

log = logging.getLogger("warroom")


def build_context(
    settings: Settings | None = None,
    *,
    config: WarroomConfig | None = None,
    clock: Clock | None = None,
    db: Database | None = None,
) -> AppContext:
    settings = settings or get_settings()
    if db is None:
        settings.ensure_data_dir()
    return AppContext(
        settings=settings,
        db=db or Database(settings.database_url, timeout=settings.db_timeout),
        config=config or load_config(settings.config),
        clock=clock or SystemClock(),
    )


def prepare(ctx: AppContext) -> None:
    """Bring the schema up to date and make sure the bootstrap token exists."""
    if ctx.settings.auto_migrate and not at_head(ctx.db.engine):
        upgrade(ctx.db.engine)  # imports Alembic only when there is something to do
    if ctx.settings.bootstrap_token:
        with ctx.db.unit_of_work() as uow:
            tokens.ensure_bootstrap(
                uow.session, value=ctx.settings.bootstrap_token, now=ctx.clock.now()
            )
            uow.commit()


def create_app(ctx: AppContext | None = None) -> FastAPI:
    ctx = ctx or build_context()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare(ctx)
        # Everything loaded at start lives as long as the process: keep it out of the
        # collector's generations, which otherwise rescans it in ~100 ms pauses.
        gc.collect()
        gc.freeze()
        checkpointer = WalCheckpointer(ctx.db)
        checkpointer.start()
        engine: Engine | EngineProcess | None = None
        if ctx.settings.engine and ctx.settings.engine_process:
            problem = refusal(ctx.settings)
            if problem is not None:
                raise RuntimeError(problem)
            engine = EngineProcess(engine_argv(), child_environment(os.environ))
        elif ctx.settings.engine:
            engine = Engine(ctx, all_jobs(ctx))
        if engine is not None:
            engine.start()
        yield
        if engine is not None:
            engine.stop()
        await app.state.ingest.close()
        checkpointer.stop()
        ctx.db.dispose()

    app = DirectApp(
        title="warroom",
        version=__version__,
        lifespan=lifespan,
        # The bundled docs pages load assets from a CDN; warroom runs offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    # Every engine of this process, as a commit that notified does (`wakeup.own_session`).
    app.state.ingest = BatchWriter(ctx.db, ctx.clock, on_commit=partial(wake_local, ALERTS))
    app.state.integration_keys = KeyCache()
    _install_error_handlers(app)

    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        reason = ctx.db.unavailable_reason()
        if reason is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "database unavailable", "reason": reason},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.include_router(incidents_router)
    app.include_router(authority_router)
    app.include_router(runbooks_router)
    app.include_router(handoffs_router)
    app.include_router(roles_history_router)
    app.include_router(classify_router)
    app.include_router(triage_router)
    app.include_router(tokens_router)
    app.include_router(alerts_router)
    app.include_router(alert_actions_router)
    app.include_router(integrations_router)
    app.include_router(notifications_router)
    app.include_router(alert_sources_router)
    app.include_router(heartbeats_router)
    app.include_router(changes_router)
    app.include_router(maintenance_router)
    app.include_router(oncall_router)
    app.include_router(feeds_router)
    app.include_router(escalation_router)
    app.include_router(postmortems_router)
    app.include_router(chat_router)
    app.include_router(security_router)
    app.include_router(breach_router)
    app.include_router(audit_router)
    app.include_router(reports_router)
    app.include_router(drills_router)
    app.include_router(prometheus_router)
    mount_web(app)
    mount_status_page(app, ctx)
    install_guard(app, ctx.settings, never_blocks=lambda path: url_to_file(path) is not None)
    # The hottest routes skip FastAPI's layers, its routing and the guard's per-request
    # task (same handlers, same rules; see direct_routes).
    app.serve_directly(
        DIRECT_ROUTES,
        max_body=ctx.settings.max_body_bytes,
        timeout=ctx.settings.request_timeout_seconds,
    )
    return app


async def healthz(_: Request) -> JSONResponse:
    """Liveness: the process answers. No database (that is /readyz)."""
    return JSONResponse({"status": "ok"})


DIRECT_ROUTES = {
    ("GET", "/healthz"): healthz,
    ("POST", "/v2/enqueue"): pagerduty_enqueue,
    ("POST", "/api/v1/integrations/alertmanager"): alertmanager_webhook,
}


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "too_many_requests"}  # fmt: skip


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WarroomError)
    async def domain_error(_: Request, exc: WarroomError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": _field_path(tuple(err.get("loc", ()))), "message": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return _error(422, "validation_error", f"{first['field']}: {first['message']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        response = _error(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        FAULTS.report("unhandled error", exc)
        return internal_error()
