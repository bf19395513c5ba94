"""Incident commands (remote): declare, acknowledge, change, list, show."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from warroom.client import DEFAULT_URL
from warroom.terminal.options import (
    IncidentArg,
    JsonOpt,
    MessageOpt,
    PublicOpt,
    TokenOpt,
    UrlOpt,
    parse_details,
    parse_when,
    role_key,
)
from warroom.terminal.output import (
    API,
    age,
    api,
    err,
    fetch_page,
    human_duration,
    local_time,
    out,
    print_json,
    report,
    yes_no,
)

app = typer.Typer()


class IncidentStatus(StrEnum):
    # The public Statuspage vocabulary of CONTRACT.md, in lifecycle order.
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TimelineFormat(StrEnum):
    MARKDOWN = "markdown"
    JSON = "json"


@app.command()
def declare(
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What is wrong, in a few words.")],
    severity: Annotated[
        str, typer.Option("--severity", "-s", help="A configured severity, e.g. SEV1.")
    ],
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="An affected service (repeatable).", show_default=False),
    ] = None,
    incident_type: Annotated[
        str | None, typer.Option("--type", help="The incident type.", show_default=False)
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", show_default=False)
    ] = None,
    commander: Annotated[
        str | None,
        typer.Option("--commander", help="The incident commander's handle.", show_default=False),
    ] = None,
    restricted: Annotated[
        bool | None,
        typer.Option(
            "--restricted/--unrestricted",
            help="Only participants may see it (default: from the incident type).",
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident."""
    body: dict[str, Any] = {"title": title, "severity": severity, "services": service or []}
    optional = {
        "type": incident_type,
        "description": description,
        "commander": commander,
        "restricted": restricted,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    with api(url, token) as client:
        incident = client.post(f"{API}/incidents", body)
    report(incident, "declared", as_json)


@app.command()
def ack(
    incident: IncidentArg,
    message: MessageOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an incident (stops the paging of the current escalation step)."""
    with api(url, token) as client:
        data = client.post(
            f"{API}/incidents/{incident}/ack", {"message": message} if message else None
        )
    report(data, "acknowledged", as_json)


def _change_status(
    incident: str,
    status: str,
    message: str | None,
    public: bool,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    body: dict[str, Any] = {"status": status, "public": public}
    if message:
        body["message"] = message
    with api(url, token) as client:
        data = client.post(f"{API}/incidents/{incident}/status", body)
    report(data, f"is now {data['status']}", as_json)


@app.command()
def status(
    incident: IncidentArg,
    new_status: Annotated[
        IncidentStatus,
        typer.Argument(
            metavar="STATUS",
            help="investigating, identified, monitoring, resolved or closed.",
            case_sensitive=False,
            show_default=False,
        ),
    ],
    message: MessageOpt = None,
    public: PublicOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an incident to a new status."""
    _change_status(incident, new_status.value, message, public, url, token, as_json)


@app.command()
def resolve(
    incident: IncidentArg,
    message: MessageOpt = None,
    public: PublicOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve an incident (the same as `status INC resolved`)."""
    _change_status(incident, "resolved", message, public, url, token, as_json)


@app.command()
def close(
    incident: IncidentArg,
    message: MessageOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Close a resolved incident (the same as `status INC closed`)."""
    _change_status(incident, "closed", message, False, url, token, as_json)


@app.command("severity")
def change_severity(
    incident: IncidentArg,
    severity: Annotated[
        str, typer.Argument(metavar="SEVERITY", help="The new severity, e.g. SEV1.")
    ],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why: recorded on the timeline.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Upgrade or downgrade an incident's severity."""
    with api(url, token) as client:
        data = client.post(
            f"{API}/incidents/{incident}/severity", {"severity": severity, "reason": reason}
        )
    report(data, "severity changed", as_json)


@app.command()
def assign(
    incident: IncidentArg,
    role: Annotated[
        str,
        typer.Argument(
            metavar="ROLE",
            help="incident_commander (ic), technical_lead (tl), communications_lead"
            " (comms), scribe, sme, operations_lead (ops).",
        ),
    ],
    user: Annotated[str, typer.Argument(metavar="USER", help="The user's handle.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give an incident role to someone (replacing whoever held it)."""
    key = role_key(role)
    with api(url, token) as client:
        data = client.put(f"{API}/incidents/{incident}/roles/{key}", {"user": user})
    if as_json:
        print_json(data)
    else:
        out.print(Text(f"{data['id']}: {key} is {data['roles'].get(key, user)}"))


@app.command()
def unassign(
    incident: IncidentArg,
    role: Annotated[
        str, typer.Argument(metavar="ROLE", help="The role (or its alias) to leave empty.")
    ],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take an incident role away from whoever holds it."""
    key = role_key(role)
    with api(url, token) as client:
        data = client.delete(f"{API}/incidents/{incident}/roles/{key}")
    if as_json:
        print_json(data)
    else:
        out.print(Text(f"{data['id']}: nobody is {key} now"))


@app.command()
def event(
    incident: IncidentArg,
    event_type: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="alert, declaration, escalation, investigation, action, decision, "
            "communication, resolution, note.",
        ),
    ],
    description: Annotated[str, typer.Argument(metavar="DESCRIPTION", help="What happened.")],
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who did it (default: you).", show_default=False)
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When: ISO 8601, HH:MM today, or '15m ago' (default: now).",
            show_default=False,
        ),
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option("--detail", help="key=value (repeatable).", show_default=False),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an event to an incident's timeline."""
    body: dict[str, Any] = {
        "type": event_type,
        "description": description,
        "details": parse_details(detail or []),
    }
    if actor:
        body["actor"] = actor
    if at:
        body["timestamp"] = parse_when(at, now=datetime.now(UTC)).isoformat()
    with api(url, token) as client:
        data = client.post(f"{API}/incidents/{incident}/events", body)
    if as_json:
        print_json(data)
    else:
        out.print(
            Text(f"{incident}: {data['type']} event recorded at {local_time(data['timestamp'])}")
        )


@app.command("list")
def list_incidents(
    status_filter: Annotated[
        list[IncidentStatus] | None,
        typer.Option("--status", help="Only these statuses (repeatable).", case_sensitive=False),
    ] = None,
    severity: Annotated[
        list[str] | None,
        typer.Option("--severity", help="Only these severities (repeatable).", show_default=False),
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 50,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, newest first."""
    params: dict[str, str | int | list[str] | None] = {
        "status": [s.value for s in status_filter or []],
        "severity": list(severity or []),
        "service": service,
        "limit": limit,
    }
    page = fetch_page(url, token, "incidents", params, as_json)
    if page is None:
        return
    items: list[dict[str, Any]] = page["items"]
    now = datetime.now(UTC)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "SEV", "STATUS", "TITLE", "SERVICES", "IC", "AGE"):
        table.add_column(column, no_wrap=column in ("ID", "SEV", "STATUS", "AGE"))
    for item in items:
        table.add_row(
            item["id"],
            item["severity"],
            item["status"],
            Text(item["title"]),
            Text(", ".join(item.get("services") or []) or "—"),
            Text(item.get("roles", {}).get("incident_commander") or "—"),
            age(item.get("started_at") or item.get("declared_at"), now=now),
        )
    out.print(table)
    total = page.get("total", len(items))
    if total > len(items):
        err.print(f"{len(items)} of {total} shown; use --limit for more")


_TIMESTAMPS = (
    ("Started", "started_at"),
    ("Detected", "detected_at"),
    ("Declared", "declared_at"),
    ("Acknowledged", "acknowledged_at"),
    ("Mitigated", "mitigated_at"),
    ("Resolved", "resolved_at"),
    ("Closed", "closed_at"),
)


def incident_panel(incident: Mapping[str, Any]) -> Panel:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row("Severity", Text(str(incident["severity"])))
    facts.add_row("Status", Text(str(incident["status"])))
    facts.add_row("Type", Text(str(incident.get("type") or "—")))
    facts.add_row("Services", Text(", ".join(incident.get("services") or []) or "—"))
    facts.add_row("Restricted", yes_no(incident.get("restricted")))
    facts.add_row("Duration", human_duration(float(incident.get("duration_seconds") or 0)))
    roles = Table.grid(padding=(0, 2))
    roles.add_column(no_wrap=True)
    roles.add_column()
    for key, user in (incident.get("roles") or {}).items():
        roles.add_row(key.replace("_", " "), Text(str(user)))
    facts.add_row("Roles", roles if roles.row_count else Text("none assigned"))
    times = Table.grid(padding=(0, 2))
    times.add_column(no_wrap=True)
    times.add_column()
    for label, key in _TIMESTAMPS:
        if incident.get(key):
            times.add_row(label, local_time(incident[key]))
    facts.add_row("Times", times)
    if incident.get("participants"):
        facts.add_row("Participants", Text(", ".join(incident["participants"])))
    if incident.get("unfilled_roles"):
        facts.add_row("Still empty", Text(", ".join(incident["unfilled_roles"]), style="bold red"))
    parts: list[Any] = [Text(str(incident["title"]), style="bold"), Text(""), facts]
    if incident.get("description"):
        parts += [Text(""), Text(str(incident["description"]))]
    return Panel(Group(*parts), title=str(incident["id"]), title_align="left", expand=False)


@app.command()
def show(
    incident: IncidentArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one incident: its roles and timestamps."""
    with api(url, token) as client:
        data = client.get(f"{API}/incidents/{incident}")
    if as_json:
        print_json(data)
    else:
        out.print(incident_panel(data))


@app.command()
def timeline(
    incident: IncidentArg,
    output_format: Annotated[
        TimelineFormat, typer.Option("--format", "-f", case_sensitive=False)
    ] = TimelineFormat.MARKDOWN,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print an incident's timeline: the server's Markdown, or JSON."""
    path = f"{API}/incidents/{incident}/timeline"
    with api(url, token) as client:
        if as_json or output_format is TimelineFormat.JSON:
            print_json(client.get(path, params={"format": "json"}))
        else:
            typer.echo(client.get_text(path, params={"format": "markdown"}), nl=False)


@app.command()
def whoami(url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Show who the server takes the token for."""
    with api(url, token) as client:
        data = client.get(f"{API}/whoami")
    if as_json:
        print_json(data)
    else:
        user = f", user {data['user']}" if data.get("user") else ""
        out.print(Text(f"{data['name']} ({data['role']}{user}) at {client.url}"))
