"""`warroom status-page …`: components, public updates and maintenance from the command
line (through the API), and `publish` (local: render the snapshot from the database);
`warroom update`: a stakeholder update by audience."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from warroom.client import DEFAULT_URL, ApiClient, ApiError, Unreachable
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import err, out

API = "/api/v1/status-page"

app = typer.Typer()
page_app = typer.Typer(
    help="The public status page: components, public updates, maintenance.",
    no_args_is_help=True,
)
app.add_typer(page_app, name="status-page")


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


class PublicState(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


def _fail(message: str) -> NoReturn:
    err.print(f"error: {escape(message)}")
    raise typer.Exit(1)


@contextmanager
def _api(url: str, token: str | None) -> Iterator[ApiClient]:
    with ApiClient(url, token) as client:
        try:
            yield client
        except ApiError as exc:
            _fail(exc.describe())
        except Unreachable as exc:
            _fail(str(exc))


def _components(pairs: list[str]) -> dict[str, str]:
    """`API=major_outage` pairs → a mapping; a bad pair is a usage error naming it."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, status = pair.rpartition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{pair!r}: write NAME=STATUS", param_hint="--component")
        try:
            found[name.strip()] = ComponentState(status.strip()).value
        except ValueError:
            known = ", ".join(s.value for s in ComponentState)
            raise typer.BadParameter(
                f"{status!r} is not a component status ({known})", param_hint="--component"
            ) from None
    return found


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@page_app.command("components")
def list_components(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List the components and their status."""
    with _api(url, token) as client:
        rows = client.get(f"{API}/components")
    if as_json:
        _print(rows)
        return
    table = Table("Component", "Group", "Status", "Set by")
    for row in rows:
        table.add_row(
            escape(row["name"]), escape(row["group"] or ""), row["status"], row["status_source"]
        )
    out.print(table)


@page_app.command("component")
def set_component(
    name: Annotated[str, typer.Argument(help="The component, e.g. API.")],
    status: Annotated[ComponentState, typer.Argument(help="Its new status.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a component's status by hand."""
    with _api(url, token) as client:
        row = client.patch(f"{API}/components/{name}", {"status": status.value})
    if as_json:
        _print(row)
    else:
        out.print(f"{escape(row['name'])} is now {row['status']}")


@page_app.command("update")
def public_update(
    incident: Annotated[str, typer.Argument(metavar="INCIDENT", help="e.g. INC-42")],
    status: Annotated[PublicState, typer.Argument(help="The public status.")],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="What customers read.")
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="The public title (first update).")
    ] = None,
    component: Annotated[
        list[str] | None,
        typer.Option("--component", "-c", help="NAME=STATUS, e.g. API=major_outage (repeat)."),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a public update of an incident (its own words; nothing internal)."""
    body: dict[str, Any] = {"status": status.value, "components": _components(component or [])}
    if message:
        body["message"] = message
    if title:
        body["title"] = title
    with _api(url, token) as client:
        public = client.post(f"{API}/incidents/{incident}", body)
    if as_json:
        _print(public)
    else:
        out.print(f"{escape(public['name'])}: {public['status']} (impact {public['impact']})")


@page_app.command("maintenance")
def schedule_maintenance(
    name: Annotated[str, typer.Argument(help="What customers read, e.g. 'Database upgrade'.")],
    start: Annotated[datetime, typer.Option("--start", help="ISO 8601 with an offset.")],
    end: Annotated[datetime, typer.Option("--end", help="ISO 8601 with an offset.")],
    component: Annotated[list[str], typer.Option("--component", "-c", help="Repeat.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Details.")] = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Schedule maintenance (its services' alerts are suppressed during it)."""
    for field, value in (("--start", start), ("--end", end)):
        if value.tzinfo is None:
            raise typer.BadParameter("give a time zone offset, e.g. +00:00", param_hint=field)
    body = {
        "name": name,
        "body": message,
        "components": component,
        "scheduled_for": start.isoformat(),
        "scheduled_until": end.isoformat(),
    }
    with _api(url, token) as client:
        made = client.post(f"{API}/maintenances", body)
    if as_json:
        _print(made)
    else:
        out.print(f"maintenance {made['id']} {escape(made['name'])}: {made['status']}")


class Audience(StrEnum):
    INTERNAL = "internal"
    EXECUTIVE = "executive"
    TECHNICAL = "technical"
    CUSTOMER = "customer"


@app.command("update")
def stakeholder_update(
    incident: Annotated[str, typer.Argument(metavar="INCIDENT", help="e.g. INC-42")],
    audience: Annotated[
        list[Audience], typer.Option("--audience", "-a", help="Who hears it (repeatable).")
    ],
    message: Annotated[str, typer.Option("--message", "-m", help="What happened since.")],
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="email and/or chat (default both).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a stakeholder update by audience (rendered from its template; customers also
    get a public status page update)."""
    body: dict[str, Any] = {"audiences": [a.value for a in audience], "message": message}
    if channel:
        body["channels"] = channel
    with _api(url, token) as client:
        sent = client.post(f"/api/v1/incidents/{incident}/updates", body)
    if as_json:
        _print(sent)
        return
    for item in sent["sent"]:
        where = f"{len(item['recipients'])} recipient(s)"
        if item["published"]:
            where += " and the status page"
        out.print(f"{item['audience']}: {escape(item['subject'])} → {where}")
