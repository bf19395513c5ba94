"""API tokens and alert integrations (local, on the database)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from warroom.cli.local import config_problems_exit, database, settings_from
from warroom.terminal.options import JsonOpt, parse_details
from warroom.terminal.output import err, fail, local_time, out, print_json

token_app = typer.Typer(help="API tokens (local, on the database).", no_args_is_help=True)
integration_app = typer.Typer(
    help="Alert integrations (local, on the database).", no_args_is_help=True
)


class TokenRole(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    VIEWER = "viewer"


class IntegrationTypeOpt(StrEnum):
    PAGERDUTY = "pagerduty"
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    WEBHOOK = "webhook"
    HEARTBEAT = "heartbeat"


@integration_app.command("create")
def integration_create(
    name: Annotated[str, typer.Option("--name", help="A unique name.")],
    type_: Annotated[IntegrationTypeOpt, typer.Option("--type", case_sensitive=False)],
    service: Annotated[str, typer.Option("--service", help="The service its alerts belong to.")],
    setting: Annotated[
        list[str] | None,
        typer.Option("--setting", help="key=value (repeatable), e.g. interval=5m for heartbeats."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an integration and print its key and where senders post."""
    from warroom.clock import SystemClock
    from warroom.configuration import load_config
    from warroom.integrations import service as integrations
    from warroom.integrations.service import IntegrationType
    from warroom.integrations.views import to_read

    settings = settings_from()
    config = load_config(settings.config)
    with database(settings, migrate=True) as db, db.unit_of_work() as uow:
        row = integrations.create(
            uow.session,
            config=config,
            name=name.strip(),
            type=IntegrationType(type_.value),
            service=service.strip(),
            settings=parse_details(setting or []),
            now=SystemClock().now(),
        )
        _register_extras(uow.session, row)
        uow.commit()
        shown = to_read(row, settings.base_url).model_dump(mode="json")
    if as_json:
        print_json(shown)
        return
    typer.echo(shown["key"])
    err.print(
        f"created {shown['type']} integration {shown['name']!r} for {shown['service']}: "
        f"post to {shown['url']}",
        markup=False,
    )


def _register_extras(session: Any, row: Any) -> None:
    """Per-type rows an integration needs (a heartbeat's deadline)."""
    if row.type == "heartbeat":
        from warroom.clock import SystemClock
        from warroom.heartbeats import service as heartbeats

        heartbeats.register(session, integration=row, now=SystemClock().now())


@integration_app.command("list")
def integration_list(as_json: JsonOpt = False) -> None:
    """List integrations with their keys."""
    from warroom.integrations import service as integrations
    from warroom.integrations.views import to_read

    settings = settings_from()
    with database(settings, migrate=True) as db, db.unit_of_work() as uow:
        rows = [
            to_read(r, settings.base_url).model_dump(mode="json")
            for r in integrations.list_integrations(uow.session)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "TYPE", "SERVICE", "KEY", "URL"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(str(r["id"]), Text(r["name"]), r["type"], r["service"], r["key"], r["url"])
    out.print(table)


def _token_json(row: Any) -> dict[str, Any]:
    from warroom.auth.schemas import TokenRead

    data: dict[str, Any] = TokenRead.model_validate(row).model_dump(mode="json")
    return data


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="A unique name for the token.")],
    role: Annotated[TokenRole, typer.Option("--role", case_sensitive=False)],
    user: Annotated[
        str | None,
        typer.Option("--user", help="The person it acts for (their handle).", show_default=False),
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(
            "--expires-in",
            help="It stops working by itself after this long (e.g. 90d, 12h); default never.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it: this is the only time it is shown."""
    from warroom.auth import service as tokens
    from warroom.auth.logic import Role
    from warroom.clock import SystemClock

    name = name.strip()
    if not name:
        raise typer.BadParameter("must not be empty", param_hint="'--name'")
    settings = settings_from()
    if user is not None and settings.config is not None:
        _check_user_configured(settings.config, user)
    now = SystemClock().now()
    expires_at = None
    if expires_in is not None:
        from warroom.config.durations import parse_duration

        try:
            lifetime = parse_duration(expires_in)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--expires-in'") from None
        if lifetime.total_seconds() <= 0:
            raise typer.BadParameter("must be longer than zero", param_hint="'--expires-in'")
        expires_at = now + lifetime
    with database(settings, migrate=True) as db, db.unit_of_work() as uow:
        row, plaintext = tokens.create(
            uow.session,
            name=name,
            role=Role(role.value),
            user=user,
            now=now,
            expires_at=expires_at,
        )
        uow.commit()
        metadata = _token_json(row)
    if as_json:
        print_json({**metadata, "token": plaintext})
        return
    # The token alone on stdout, so that `TOKEN=$(warroom token create ...)` works.
    typer.echo(plaintext)
    owner = f", user {user}" if user else ""
    err.print(
        f"created token {name!r} (id {metadata['id']}, role {role.value}{owner}); "
        "store it now: it is not shown again",
        markup=False,
    )


def _check_user_configured(config_path: Path, user: str) -> None:
    from warroom.config.loader import ConfigError
    from warroom.configuration import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        err.print(f"error: the configuration at {config_path} has problems:", markup=False)
        config_problems_exit(exc.problems)
    if config.users and config.user(user) is None:
        fail(f"user: unknown user {user!r} in {config_path}")


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    """List API tokens (their names and prefixes, never their values)."""
    from warroom.auth import service as tokens

    with database(settings_from(), migrate=True) as db, db.unit_of_work() as uow:
        rows = [_token_json(t) for t in tokens.list_tokens(uow.session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("no tokens")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in (
        "ID", "NAME", "ROLE", "USER", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATE",
    ):  # fmt: skip
        wraps = column in ("NAME", "USER")
        table.add_column(column, no_wrap=not wraps, min_width=10 if wraps else None)
    for row in rows:
        table.add_row(
            str(row["id"]),
            Text(row["name"]),
            row["role"],
            Text(row["user"] or "—"),
            Text(row["prefix"] + "…"),
            local_time(row["created_at"], short=True),
            local_time(row["last_used_at"], short=True),
            local_time(row.get("expires_at"), short=True),
            "revoked" if row["revoked_at"] else _expiry_state(row.get("expires_at")),
        )
    out.print(table)


def _expiry_state(expires_at: str | None) -> str:
    from datetime import UTC, datetime

    if expires_at and datetime.fromisoformat(expires_at) <= datetime.now(UTC):
        return "expired"
    return "active"


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (token list).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API token; requests with it are refused from now on."""
    from warroom.auth import service as tokens
    from warroom.clock import SystemClock

    with database(settings_from(), migrate=True) as db, db.unit_of_work() as uow:
        row = tokens.revoke(uow.session, token_id=token_id, now=SystemClock().now())
        uow.commit()
        data = _token_json(row)
    if as_json:
        print_json(data)
    else:
        out.print(Text(f"revoked token {data['id']} ({data['name']})"))
