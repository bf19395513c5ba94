"""Administration in the console (admin role only; 403 for everyone else).

- `/settings`: API tokens (create — the secret is shown once —, revoke, last used,
  expiry) and the configuration's problems: the file on disk as the loader reads it now
  (`warroom.configuration.validate_path`), and the notification channels people and
  policies need but the settings leave out (`warroom doctor`'s channel check);
- `/integrations`: create one, copy its key and URL, rotate its key.

Each form calls the service functions the API's admin routes call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from warroom.adapters.channels import Finding, channel_findings
from warroom.api import CtxDep, IdPath, UowDep
from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.configuration import validate_path
from warroom.context import AppContext
from warroom.db import UnitOfWork
from warroom.errors import ValidationFailed
from warroom.integrations import service as integrations
from warroom.integrations.service import IntegrationType
from warroom.integrations.views import create_integration_row, to_read
from warroom.web.console import act, page, render, viewer_zone
from warroom.web.shell import FormStr, WebUser, router

#: How long a token made from the page lasts, by the form's choice ("" = until revoked).
EXPIRIES = {"": None, "1": 1, "7": 7, "30": 30, "90": 90, "365": 365}


def configuration_problems(ctx: AppContext) -> tuple[list[str], list[Finding]]:
    """The loader's problems with the configuration files now, and the channel findings."""
    problems = [str(p) for p in validate_path(ctx.settings.config)]
    from warroom.adapters.registry import configured_channels

    try:
        configured = configured_channels(ctx.settings)
    except ValueError as exc:
        return problems, [Finding("channels", "fail", f"the settings are incomplete: {exc}")]
    findings = [f for f in channel_findings(ctx.config, configured) if f.level != "ok"]
    return problems, findings


# --- /settings ------------------------------------------------------------------------------


def _settings_page(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    *,
    notice: str | None = None,
    error: str | None = None,
    secret: str | None = None,
    status_code: int = 200,
) -> Response:
    zone, source = viewer_zone(request, ctx, user)
    problems, findings = configuration_problems(ctx)
    now = ctx.clock.now()
    return render(
        request,
        "settings.html",
        user,
        status_code,
        zone=zone,
        zone_source=source,
        now=now,
        tokens=list(reversed(tokens.list_tokens(uow.session))),
        roles=[r.value for r in Role],
        users=[u.handle for u in ctx.config.users],
        expiries=EXPIRIES,
        config_path=str(ctx.settings.config) if ctx.settings.config else None,
        problems=problems,
        findings=findings,
        secret=secret,
        notice=notice,
        error=error,
    )


@router.get("/settings")
def settings_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow, Role.ADMIN)
    if not isinstance(user, WebUser):
        return user
    return _settings_page(request, ctx, uow, user)


@router.post("/settings/tokens")
def create_token(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    name: FormStr = "",
    role: FormStr = "viewer",
    user: FormStr = "",
    expires_in_days: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    made: dict[str, str] = {}

    def create(who: WebUser) -> str:
        label = name.strip()
        if not label or len(label) > 128:
            raise ValidationFailed("name: 1 to 128 characters", field="name")
        try:
            wanted = Role(role)
        except ValueError:
            raise ValidationFailed(f"role: unknown role {role!r}", field="role") from None
        if expires_in_days not in EXPIRIES:
            raise ValidationFailed("expires_in_days: choose one of the offered", field="expires")
        handle = user.strip() or None
        if handle is not None and ctx.config.users and ctx.config.user(handle) is None:
            raise ValidationFailed(f"unknown user {handle!r}", field="user")
        now = ctx.clock.now()
        days = EXPIRIES[expires_in_days]
        row, plaintext = tokens.create(
            uow.session,
            name=label,
            role=wanted,
            user=handle,
            now=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
        made["secret"] = plaintext
        return f"Token {row.name} created. Copy it now: it is shown this once."

    def show(who: WebUser, **kw: Any) -> Response:
        return _settings_page(request, ctx, uow, who, secret=made.get("secret"), **kw)

    return act(request, ctx, uow, csrf_token, Role.ADMIN, create, show)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(
    token_id: IdPath, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def revoke(who: WebUser) -> str:
        row = tokens.revoke(uow.session, token_id=token_id, now=ctx.clock.now())
        return f"Token {row.name} revoked."

    def show(who: WebUser, **kw: Any) -> Response:
        return _settings_page(request, ctx, uow, who, **kw)

    return act(request, ctx, uow, csrf_token, Role.ADMIN, revoke, show)


# --- /integrations --------------------------------------------------------------------------


def _integrations_page(
    request: Request,
    ctx: AppContext,
    uow: UnitOfWork,
    user: WebUser,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    zone, source = viewer_zone(request, ctx, user)
    base = ctx.settings.base_url or str(request.base_url)
    return render(
        request,
        "integrations.html",
        user,
        status_code,
        zone=zone,
        zone_source=source,
        now=ctx.clock.now(),
        integrations=[to_read(i, base) for i in integrations.list_integrations(uow.session)],
        types=[t.value for t in IntegrationType],
        services=[s.name for s in ctx.config.services],
        notice=notice,
        error=error,
    )


@router.get("/integrations")
def integrations_page(request: Request, ctx: CtxDep, uow: UowDep) -> Response:
    user = page(request, ctx, uow, Role.ADMIN)
    if not isinstance(user, WebUser):
        return user
    return _integrations_page(request, ctx, uow, user)


@router.post("/integrations")
def create_integration(
    request: Request,
    ctx: CtxDep,
    uow: UowDep,
    name: FormStr = "",
    type: FormStr = "",
    service: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def create(who: WebUser) -> str:
        label, service_name = name.strip(), service.strip()
        if not label or len(label) > 128:
            raise ValidationFailed("name: 1 to 128 characters", field="name")
        if not service_name or len(service_name) > 64:
            raise ValidationFailed("service: choose a service", field="service")
        try:
            kind = IntegrationType(type)
        except ValueError:
            raise ValidationFailed(f"type: unknown type {type!r}", field="type") from None
        row = create_integration_row(
            ctx, uow.session, name=label, type=kind, service_name=service_name, settings={}
        )
        return f"Integration {row.name} created."

    def show(who: WebUser, **kw: Any) -> Response:
        if "notice" in kw:
            request.app.state.integration_keys.clear()
        return _integrations_page(request, ctx, uow, who, **kw)

    return act(request, ctx, uow, csrf_token, Role.ADMIN, create, show)


@router.post("/integrations/{integration_id}/rotate")
def rotate_integration(
    integration_id: IdPath, request: Request, ctx: CtxDep, uow: UowDep, csrf_token: FormStr = ""
) -> Response:
    def rotate(who: WebUser) -> str:
        row = integrations.rotate_key(uow.session, integration_id=integration_id)
        return f"Integration {row.name} has a new key; the old one no longer works."

    def show(who: WebUser, **kw: Any) -> Response:
        if "notice" in kw:
            request.app.state.integration_keys.clear()
        return _integrations_page(request, ctx, uow, who, **kw)

    return act(request, ctx, uow, csrf_token, Role.ADMIN, rotate, show)
