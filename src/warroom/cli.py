"""The `warroom` command line.

`serve`, `db`, `token` and `config` act locally, on the database and the configuration
files; every other command talks to a server through the API (`--url`/`WARROOM_URL`,
`--token`/`WARROOM_TOKEN`).

Exit status: 0 success; 1 the action was refused or failed (the reason is on stderr);
2 bad usage. `--json` prints machine-readable output on stdout, with the server's
ISO 8601 times; people get local times.

Server-side modules (FastAPI, SQLAlchemy, the configuration loader) are imported inside
the local commands only, so that the remote commands start quickly.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from warroom import __version__
from warroom.cli_client import DEFAULT_URL, ApiClient, ApiError, Unreachable
from warroom.config.durations import format_compact

if TYPE_CHECKING:
    from warroom.db import Database
    from warroom.settings import Settings

API = "/api/v1"

app = typer.Typer(
    name="warroom",
    help="Incident response from the command line: declare, coordinate, resolve.",
    no_args_is_help=True,
    add_completion=False,
    # Plain tracebacks: Rich's, with locals, would show the API token.
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="The database schema (local).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (local, on the database).", no_args_is_help=True)
config_app = typer.Typer(help="The YAML configuration (local).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(config_app, name="config")
integration_app = typer.Typer(
    help="Alert integrations (local, on the database).", no_args_is_help=True
)
app.add_typer(integration_app, name="integration")
alerts_app = typer.Typer(help="Alerts received from monitoring.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


# --- shared options ---------------------------------------------------------------------

UrlOpt = Annotated[
    str,
    typer.Option(
        "--url", envvar="WARROOM_URL", help="The warroom server.", rich_help_panel="Server"
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="WARROOM_TOKEN",
        help="API token (never printed).",
        show_default=False,
        rich_help_panel="Server",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
IncidentArg = Annotated[
    str, typer.Argument(metavar="INCIDENT", help="The incident, e.g. INC-42.", show_default=False)
]
MessageOpt = Annotated[
    str | None, typer.Option("--message", "-m", help="A note for the timeline.", show_default=False)
]
PublicOpt = Annotated[
    bool,
    typer.Option(
        "--public",
        help="Mark the message as a public update on the timeline (for the status page, "
        "which warroom does not serve yet).",
    ),
]


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


class TokenRole(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    VIEWER = "viewer"


ROLE_KEYS = (
    "incident_commander",
    "technical_lead",
    "communications_lead",
    "scribe",
    "sme",
    "operations_lead",
)
ROLE_ALIASES: dict[str, str] = {
    **{key: key for key in ROLE_KEYS},
    "ic": "incident_commander",
    "commander": "incident_commander",
    "incident_manager": "incident_commander",
    "tl": "technical_lead",
    "tech_lead": "technical_lead",
    "tech": "technical_lead",
    "lead": "technical_lead",
    "comms": "communications_lead",
    "comms_lead": "communications_lead",
    "communications": "communications_lead",
    "cl": "communications_lead",
    "notes": "scribe",
    "expert": "sme",
    "subject_matter_expert": "sme",
    "ops": "operations_lead",
    "ops_lead": "operations_lead",
    "operations": "operations_lead",
}


# --- small pure helpers (tests/unit/test_cli_parsing.py pins them) -----------------------


def role_key(name: str) -> str:
    """Map a role name or a friendly alias (`ic`, `tl`, `comms`...) to the API's role key."""
    normalised = re.sub(r"[\s\-]+", "_", name.strip().lower())
    try:
        return ROLE_ALIASES[normalised]
    except KeyError:
        aliases = ", ".join(sorted(a for a in ROLE_ALIASES if a not in ROLE_KEYS))
        raise typer.BadParameter(
            f"unknown role {name!r}; one of: {', '.join(ROLE_KEYS)} (aliases: {aliases})",
            param_hint="'ROLE'",
        ) from None


def parse_details(pairs: Sequence[str]) -> dict[str, Any]:
    """Turn `key=value` pairs into a dict; values that read as JSON (3, true, [..]) are typed."""
    details: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="'--detail'")
        try:
            value: Any = json.loads(raw, parse_constant=_not_a_json_constant)
        except ValueError:
            value = raw
        details[key] = value
    return details


def _not_a_json_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: keep them as the text that was typed.
    raise ValueError(name)


_RELATIVE = re.compile(r"^-?\s*(\d+(?:\.\d+)?)\s*([smhd])(?:\s*ago)?$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, *, now: datetime) -> datetime:
    """An event time: ISO 8601 (naive means local time), `HH:MM` today, `now`, or `15m ago`."""
    value = text.strip().lower()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), _UNITS[relative.group(2)]
        return now - timedelta(**{unit: amount})
    local_now = now.astimezone()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", value)
    if clock:
        hour, minute, second = (int(g or 0) for g in clock.groups())
        try:
            return local_now.replace(hour=hour, minute=minute, second=second, microsecond=0)
        except ValueError:
            pass
    else:
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=local_now.tzinfo)
            return parsed
    raise typer.BadParameter(
        f"{text!r} is not a time; use ISO 8601 (2024-03-15T09:30:00+00:00), HH:MM, "
        "'now' or '15m ago'",
        param_hint="'--at'",
    )


def human_duration(seconds: float) -> str:
    """`45s`, `12m`, `3h 05m`, `2d 4h`: short enough for a table column."""
    return format_compact(seconds)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def local_time(value: str | None, *, short: bool = False) -> str:
    """An ISO 8601 time from the server, shown in the local timezone."""
    if not value:
        return "—"
    try:
        moment = _parse_time(value).astimezone()
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S %Z")


def age(value: str | None, *, now: datetime | None = None) -> str:
    if not value:
        return "—"
    try:
        moment = _parse_time(value)
    except ValueError:
        return "?"
    return human_duration(((now or datetime.now(UTC)) - moment).total_seconds())


# --- output and failure -----------------------------------------------------------------


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def api(url: str, token: str | None) -> Iterator[ApiClient]:
    """A client whose failures end the command with exit status 1 and the reason on stderr."""
    with ApiClient(url, token) as client:
        try:
            yield client
        except ApiError as exc:
            fail(exc.describe())
        except Unreachable as exc:
            fail(str(exc))


def _show_incident_line(incident: Mapping[str, Any], verb: str) -> None:
    line = Text()
    line.append(f"{incident['id']} {verb}", style="bold")
    line.append(f": {incident['title']} ({incident['severity']}, {incident['status']})")
    out.print(line)


def _report(incident: Mapping[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(incident)
    else:
        _show_incident_line(incident, verb)


def _yes_no(value: object) -> str:
    return "yes" if value else "no"


# --- remote: incidents ------------------------------------------------------------------


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
    _report(incident, "declared", as_json)


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
    _report(data, "acknowledged", as_json)


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
    _report(data, f"is now {data['status']}", as_json)


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
    _report(data, "severity changed", as_json)


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


# --- remote: reading --------------------------------------------------------------------


def _page(
    url: str,
    token: str | None,
    what: str,
    params: dict[str, str | int | list[str] | None],
    as_json: bool,
) -> dict[str, Any] | None:
    """Fetch one page of a list route; print it as JSON, or say it is empty, and return None
    then — otherwise return it for a table."""
    with api(url, token) as client:
        page: dict[str, Any] = client.get(f"{API}/{what}", params=params)
    if as_json:
        print_json(page)
        return None
    if not page.get("items"):
        err.print(f"no {what}")
        return None
    return page


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
    page = _page(url, token, "incidents", params, as_json)
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


class AlertStatusOpt(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@alerts_app.command("list")
def list_alerts(
    status_filter: Annotated[
        list[AlertStatusOpt] | None,
        typer.Option("--status", help="Only these statuses (repeatable).", case_sensitive=False),
    ] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Only alerts of this incident.")
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500)] = 50,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts, newest first, with their occurrence counts."""
    params: dict[str, str | int | list[str] | None] = {
        "status": [s.value for s in status_filter or []],
        "incident": incident,
        "service": service,
        "limit": limit,
    }
    page = _page(url, token, "alerts", params, as_json)
    if page is None:
        return
    items: list[dict[str, Any]] = page["items"]
    now = datetime.now(UTC)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "STATUS", "SEVERITY", "SERVICE", "SUMMARY", "COUNT", "LAST", "INCIDENT"):
        table.add_column(column, no_wrap=column not in ("SUMMARY",))
    for item in items:
        table.add_row(
            str(item["id"]),
            item["status"] + (" (maintenance)" if item.get("suppressed") else ""),
            item["severity"],
            Text(item["service"]),
            Text(item["summary"]),
            str(item["occurrences"]),
            age(item.get("last_seen"), now=now),
            item.get("incident") or "—",
        )
    out.print(table)


@alerts_app.command("show")
def show_alert(
    alert_id: Annotated[int, typer.Argument(help="The alert's number.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one alert with its source payload."""
    with api(url, token) as client:
        alert = client.get(f"{API}/alerts/{alert_id}")
    if as_json:
        print_json(alert)
        return
    facts = Table.grid(padding=(0, 2))
    for label, key in (
        ("Status", "status"),
        ("Severity", "severity"),
        ("Service", "service"),
        ("Source", "source"),
        ("Dedup key", "dedup_key"),
        ("Occurrences", "occurrences"),
        ("First seen", "first_seen"),
        ("Last seen", "last_seen"),
        ("Incident", "incident"),
    ):
        value = alert.get(key)
        shown = (
            local_time(value) if key.endswith("_seen") else str(value if value is not None else "—")
        )
        facts.add_row(Text(label, style="bold"), Text(shown))
    payload = Text(json.dumps(alert.get("payload", {}), indent=2, sort_keys=True))
    out.print(
        Panel(Group(facts, Text(""), payload), title=Text(f"alert {alert_id}: {alert['summary']}"))
    )


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
    facts.add_row("Restricted", _yes_no(incident.get("restricted")))
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


@app.command()
def oncall(
    schedule: Annotated[
        str | None,
        typer.Argument(metavar="SCHEDULE", help="One schedule (default: all).", show_default=False),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When: ISO 8601, HH:MM today, or '15m ago' (default: now).",
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show who is on call now (or at --at): one line per schedule and layer."""
    params: dict[str, str | None] = {"schedule": schedule}
    if at:
        params["at"] = parse_when(at, now=datetime.now(UTC)).isoformat()
    with api(url, token) as client:
        data = client.get(f"{API}/oncall", params=params)
    if as_json:
        print_json(data)
        return
    found: list[dict[str, Any]] = data.get("entries", [])
    if not found:
        err.print(f"nobody is on call{f' in {schedule}' if schedule else ''}", markup=False)
        return
    moment = _parse_time(data["at"])
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("SCHEDULE", "LAYER", "USER", "UNTIL"):
        table.add_column(column, no_wrap=True)
    for entry in found:
        left = (_parse_time(entry["end"]) - moment).total_seconds()
        table.add_row(
            Text(entry["schedule"]),
            Text(entry["layer"] or "(override)"),
            Text(entry["user"]),
            f"{local_time(entry['end'], short=True)} (in {human_duration(left)})",
        )
    out.print(table)


# --- remote: calendar feeds --------------------------------------------------------------

feed_app = typer.Typer(
    help="Secret calendar URLs (webcal) of a person's or a schedule's shifts.",
    no_args_is_help=True,
)
app.add_typer(feed_app, name="calendar-feed")
FeedIdArg = Annotated[int, typer.Argument(metavar="ID", help="The feed's id (calendar-feed list).")]


def _print_feed_url(data: Mapping[str, Any], verb: str) -> None:
    # The URL alone on stdout, so that `URL=$(warroom calendar-feed create ...)` works.
    typer.echo(data["url"])
    err.print(
        f"{verb} calendar feed {data['id']} ({data['kind']} {data['target']}); subscribe to "
        "this URL in a calendar app (or its webcal:// form). It is shown once: anyone who has "
        "it sees these shifts, so keep it to yourself; `warroom calendar-feed rotate` "
        "replaces it.",
        markup=False,
    )


@feed_app.command("create")
def feed_create(
    user: Annotated[
        str | None,
        typer.Option("--user", help="A person's shifts in every schedule.", show_default=False),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option("--schedule", help="Every shift of one schedule.", show_default=False),
    ] = None,
    label: Annotated[
        str, typer.Option("--label", help="A note to tell your feeds apart, e.g. 'phone'.")
    ] = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a secret URL that calendar apps subscribe to, without a token."""
    if (user is None) == (schedule is None):
        raise typer.BadParameter("give --user or --schedule", param_hint="'--user'")
    body: dict[str, Any] = {"label": label}
    body.update({"user": user} if user is not None else {"schedule": schedule})
    with api(url, token) as client:
        data = client.post(f"{API}/calendar-feeds", body)
    if as_json:
        print_json(data)
    else:
        _print_feed_url(data, "created")


@feed_app.command("list")
def feed_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also revoked feeds.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List calendar feeds (never their URLs): yours, or all of them for an admin."""
    with api(url, token) as client:
        rows: list[dict[str, Any]] = client.get(
            f"{API}/calendar-feeds", params={"all": "true" if include_revoked else None}
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("no calendar feeds")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "OF", "LABEL", "CREATED BY", "CREATED", "LAST USED", "STATE"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            str(row["id"]),
            Text(f"{row['kind']} {row['target']}"),
            Text(row["label"] or "—"),
            Text(row["created_by"]),
            local_time(row["created_at"], short=True),
            local_time(row["last_used_at"], short=True),
            "revoked" if row["revoked_at"] else "active",
        )
    out.print(table)


@feed_app.command("rotate")
def feed_rotate(
    feed_id: FeedIdArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a feed a new URL; the old one stops working at once."""
    with api(url, token) as client:
        data = client.post(f"{API}/calendar-feeds/{feed_id}/rotate")
    if as_json:
        print_json(data)
    else:
        _print_feed_url(data, "rotated")


@feed_app.command("revoke")
def feed_revoke(
    feed_id: FeedIdArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a feed: its URL answers 404 from now on."""
    with api(url, token) as client:
        data = client.delete(f"{API}/calendar-feeds/{feed_id}")
    if as_json:
        print_json(data)
    else:
        out.print(Text(f"revoked calendar feed {data['id']} ({data['kind']} {data['target']})"))


# --- remote: classify and triage --------------------------------------------------------


def number_answer(low: float, high: float | None = None) -> Any:
    """A prompt's reader for a number in [low, high]; a bad answer makes the prompt ask again."""

    def read(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise typer.BadParameter(f"{text.strip()!r} is not a number") from None
        if value != value or value < low or (high is not None and value > high):  # NaN too
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise typer.BadParameter(f"{value:g} is not {bounds}")
        return value

    return read


def yes_no_answer(text: str) -> bool:
    """A prompt's reader for y/n (yes/no, true/false, 1/0)."""
    answer = text.strip().lower()
    if answer in ("y", "yes", "true", "1"):
        return True
    if answer in ("n", "no", "false", "0"):
        return False
    raise typer.BadParameter(f"{text.strip()!r}: answer y or n")


def _ask(prompt: str, read: Any, *, to_stderr: bool) -> Any:
    """Ask one question until the answer reads; running out of input is a usage error.

    The answers come from stdin, a terminal or a pipe alike, so that
    `printf '15\\n30\\n...' | warroom classify` answers the questions in order.
    """
    stream = sys.stderr if to_stderr else sys.stdout
    piped = not sys.stdin.isatty()
    while True:
        stream.write(f"{prompt}: ")
        stream.flush()
        line = sys.stdin.readline()
        if not line:
            stream.write("\n")
            fail("stdin ended before every question was answered; give the values as options", 2)
        answer = line.strip()
        if piped:
            # Nobody typed it: show it, so that the transcript reads like a session.
            stream.write(answer + "\n")
        if not answer:
            continue
        try:
            return read(answer)
        except typer.BadParameter as exc:
            stream.write(f"Error: {exc.message}\n")


def _ask_yes_no(prompt: str, *, to_stderr: bool) -> bool:
    return bool(_ask(f"{prompt} (y/n)", yes_no_answer, to_stderr=to_stderr))


def _print_classification(result: Mapping[str, Any]) -> None:
    req: Mapping[str, Any] = result.get("requirements") or {}
    rule = "=" * 40
    out.print(rule)
    out.print(Text(f"SEVERITY: {result['severity']}", style="bold"))
    out.print(rule)
    out.print(Text(f"Why: {result.get('explanation', '')}"))
    rows = (
        ("Response time", req.get("response_time")),
        ("Update frequency", req.get("update_frequency")),
        ("Required roles", ", ".join(req.get("required_roles") or [])),
        ("Status page", req.get("status_page")),
        ("Notify leadership", req.get("leadership_notification")),
        ("Bridge call needed", req.get("bridge_call")),
    )
    for label, value in rows:
        if value is not None:
            out.print(Text(f"{label}: {value}"))


@app.command()
def classify(
    error_rate: Annotated[
        float | None,
        typer.Option(
            "--error-rate", min=0, max=100, help="Current error rate (%).", show_default=False
        ),
    ] = None,
    affected_users: Annotated[
        float | None,
        typer.Option(
            "--affected-users", min=0, max=100, help="Affected users (%).", show_default=False
        ),
    ] = None,
    revenue: Annotated[
        float | None,
        typer.Option("--revenue", min=0, help="Revenue impact per hour ($).", show_default=False),
    ] = None,
    security: Annotated[
        bool | None, typer.Option("--security/--no-security", show_default=False)
    ] = None,
    data_loss: Annotated[
        bool | None, typer.Option("--data-loss/--no-data-loss", show_default=False)
    ] = None,
    core_feature: Annotated[
        bool | None, typer.Option("--core-feature/--no-core-feature", show_default=False)
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify severity from impact (seed 000); asks for whatever the options leave out.

    Without a terminal the answers are read from stdin, one a line, in the order:
    error rate, affected users, revenue, security, data loss, core feature.
    """
    missing = None in (error_rate, affected_users, revenue, security, data_loss, core_feature)
    # With --json the questions go to stderr so that stdout stays parseable.
    to_stderr = as_json
    if missing:
        header = "Incident Severity Classifier\n" + "-" * 40
        (err if to_stderr else out).print(header)
    if error_rate is None:
        error_rate = _ask("Current error rate (%)", number_answer(0, 100), to_stderr=to_stderr)
    if affected_users is None:
        affected_users = _ask("Affected users (%)", number_answer(0, 100), to_stderr=to_stderr)
    if revenue is None:
        revenue = _ask("Revenue impact per hour ($)", number_answer(0), to_stderr=to_stderr)
    if security is None:
        security = _ask_yes_no("Security incident?", to_stderr=to_stderr)
    if data_loss is None:
        data_loss = _ask_yes_no("Data loss occurred?", to_stderr=to_stderr)
    if core_feature is None:
        core_feature = _ask_yes_no("Core feature affected?", to_stderr=to_stderr)
    body = {
        "error_rate_percent": error_rate,
        "affected_users_percent": affected_users,
        "revenue_impact_per_hour": revenue,
        "is_security_incident": security,
        "is_data_loss": data_loss,
        "core_feature_affected": core_feature,
    }
    with api(url, token) as client:
        result = client.post(f"{API}/classify", body)
    if as_json:
        print_json(result)
        return
    if missing:
        out.print()
    _print_classification(result)


@app.command()
def triage(
    impact: Annotated[
        str,
        typer.Option("--impact", help="service_outage, service_degradation, data_breach, ..."),
    ],
    urgency: Annotated[str, typer.Option("--urgency", help="immediate, high, medium or low.")],
    affected_users: Annotated[int, typer.Option("--affected-users", min=0)] = 0,
    service: Annotated[str | None, typer.Option("--service", show_default=False)] = None,
    incident: Annotated[
        str | None,
        typer.Option(
            "--incident",
            help="Update this incident (a new one is declared when it does not exist).",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option("--title", help="Title of a declared incident.", show_default=False),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Triage a report (seed 003): priority, severity, teams; declare or update the incident."""
    body: dict[str, Any] = {"impact": impact, "urgency": urgency, "affected_users": affected_users}
    optional = {"service": service, "incident": incident, "title": title}
    body.update({k: v for k, v in optional.items() if v is not None})
    with api(url, token) as client:
        data = client.post(f"{API}/triage", body)
    if as_json:
        print_json(data)
        return
    outcome: Mapping[str, Any] = data["triage"]
    found: Mapping[str, Any] = data["incident"]
    out.print(Text(f"Priority: {outcome['priority']}", style="bold"))
    out.print(Text(f"Severity: {outcome['severity']}"))
    out.print(Text(f"Teams: {', '.join(outcome.get('teams') or []) or '—'}"))
    if outcome.get("incident_type"):
        out.print(Text(f"Incident type: {outcome['incident_type']}"))
    if outcome.get("explanation"):
        out.print("Why:")
        for step in outcome["explanation"]:
            out.print(Text(f"  - {step}"))
    action = data["action"]
    out.print(
        Text(
            f"{action.capitalize()} {found['id']}: {found['title']} "
            f"({found['severity']}, {found['status']})",
            style="bold",
        )
    )


# --- local: serve, db, token, config ----------------------------------------------------


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from warroom.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors():
            name = "WARROOM_" + ".".join(str(p) for p in problem["loc"]).upper()
            err.print(f"error: {name}: {escape(problem['msg'])}")
        raise typer.Exit(1) from None


def _safe_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _note_database(settings: Settings, *, creating_is_normal: bool = False) -> None:
    """Say so when a command is about to create a new SQLite database, or when a
    `warroom.db` in the current directory is not the one in use."""
    path = settings.sqlite_path
    here = Path("warroom.db").absolute()
    if settings.uses_default_database and here.exists() and here != path:
        err.print(
            f"note: {here} is not used; the database is {path} "
            f"(WARROOM_DATABASE_URL=sqlite:///{here} uses the one here)",
            markup=False,
        )
    if path is not None and not path.exists() and not creating_is_normal:
        err.print(f"note: no database at {path} yet; creating it", markup=False)
    settings.ensure_data_dir()


@contextmanager
def _database(settings: Settings, *, migrate: bool) -> Iterator[Database]:
    """The database, migrated to the latest schema when asked; failures exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from warroom.db import Database
    from warroom.errors import WarroomError
    from warroom.migrations import upgrade

    where = _safe_url(settings.database_url)
    _note_database(settings)
    try:
        db = Database(settings.database_url)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {where}: {exc}")
    try:
        if migrate:
            upgrade(db.engine)
        yield db
    except WarroomError as exc:
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        fail(f"{field}: {exc.message}" if field else exc.message)
    except SQLAlchemyError as exc:
        fail(f"database {where}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    finally:
        db.dispose()


def _config_problems_exit(problems: Sequence[object]) -> NoReturn:
    for problem in problems:
        err.print(escape(str(problem)), soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Listen address (default: WARROOM_HOST, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Listen port (default: WARROOM_PORT, else 8080).",
            show_default=False,
        ),
    ] = None,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not upgrade the schema at start.")
    ] = False,
    no_engine: Annotated[
        bool,
        typer.Option(
            "--no-engine",
            help="Serve only: leave routing, timers and notifications to `warroom engine`.",
        ),
    ] = False,
) -> None:
    """Run the API, the web UI and (unless --no-engine) the engine."""
    import copy

    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError
    from uvicorn.config import LOGGING_CONFIG

    from warroom.app import build_context, create_app
    from warroom.config.loader import ConfigError

    settings = _settings(
        host=host,
        port=port,
        auto_migrate=False if no_migrate else None,
        engine=False if no_engine else None,
    )
    _note_database(settings, creating_is_normal=True)
    try:
        ctx = build_context(settings)
    except ConfigError as exc:
        err.print(f"error: the configuration at {settings.config} has problems:", markup=False)
        _config_problems_exit(exc.problems)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {_safe_url(settings.database_url)}: {exc}")
    application = create_app(ctx)

    # Everything on stderr, the access log included, and warroom's own log beside uvicorn's.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    log_config.setdefault("filters", {})["redact"] = {"()": "warroom.logsafe.RedactSecrets"}
    log_config["handlers"]["access"]["filters"] = ["redact"]
    log_config["loggers"]["warroom"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    err.print(
        f"warroom {__version__} on http://{shown_host}:{settings.port} "
        f"(database {_safe_url(settings.database_url)}, "
        f"config {settings.config or 'built-in defaults'})",
        markup=False,
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=log_config)


@app.command()
def engine(
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="Seconds between passes when idle.")
    ] = 1.0,
) -> None:
    """Run the engine alone: alert routing, auto-declaration, heartbeats, timers."""
    import gc
    import signal

    from sqlalchemy.exc import SQLAlchemyError

    from warroom.app import build_context, prepare
    from warroom.config.loader import ConfigError
    from warroom.engine.jobs import all_jobs
    from warroom.engine.runner import Engine

    settings = _settings()
    _note_database(settings, creating_is_normal=True)
    try:
        ctx = build_context(settings)
        prepare(ctx)
    except ConfigError as exc:
        err.print(f"error: the configuration at {settings.config} has problems:", markup=False)
        _config_problems_exit(exc.problems)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {_safe_url(settings.database_url)}: {exc}")
    runner = Engine(ctx, all_jobs(ctx), poll_seconds=poll)
    gc.collect()
    gc.freeze()  # start-up objects live as long as the process (see app.py)
    signal.signal(signal.SIGTERM, lambda *_: runner.request_stop())
    err.print(f"warroom engine {__version__} on {_safe_url(settings.database_url)}", markup=False)
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ctx.db.dispose()


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
    from warroom.config import load_config
    from warroom.integrations import service as integrations
    from warroom.integrations.service import IntegrationType
    from warroom.integrations.views import to_read

    settings = _settings()
    config = load_config(settings.config)
    with _database(settings, migrate=True) as db, db.unit_of_work() as uow:
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

    settings = _settings()
    with _database(settings, migrate=True) as db, db.unit_of_work() as uow:
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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the schema at WARROOM_DATABASE_URL to the latest revision."""
    from warroom.migrations import current

    settings = _settings()
    with _database(settings, migrate=True) as db:
        revision = current(db.engine)
    err.print(
        f"database {_safe_url(settings.database_url)} is at revision {revision}", markup=False
    )


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
    as_json: JsonOpt = False,
) -> None:
    """Create an API token and print it: this is the only time it is shown."""
    from warroom.auth import service as tokens
    from warroom.auth.logic import Role
    from warroom.clock import SystemClock

    name = name.strip()
    if not name:
        raise typer.BadParameter("must not be empty", param_hint="'--name'")
    settings = _settings()
    if user is not None and settings.config is not None:
        _check_user_configured(settings.config, user)
    with _database(settings, migrate=True) as db, db.unit_of_work() as uow:
        row, plaintext = tokens.create(
            uow.session, name=name, role=Role(role.value), user=user, now=SystemClock().now()
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
    from warroom.config.loader import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        err.print(f"error: the configuration at {config_path} has problems:", markup=False)
        _config_problems_exit(exc.problems)
    if config.users and config.user(user) is None:
        fail(f"user: unknown user {user!r} in {config_path}")


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    """List API tokens (their names and prefixes, never their values)."""
    from warroom.auth import service as tokens

    with _database(_settings(), migrate=True) as db, db.unit_of_work() as uow:
        rows = [_token_json(t) for t in tokens.list_tokens(uow.session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("no tokens")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "ROLE", "USER", "PREFIX", "CREATED", "LAST USED", "STATE"):
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
            "revoked" if row["revoked_at"] else "active",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (token list).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API token; requests with it are refused from now on."""
    from warroom.auth import service as tokens
    from warroom.clock import SystemClock

    with _database(_settings(), migrate=True) as db, db.unit_of_work() as uow:
        row = tokens.revoke(uow.session, token_id=token_id, now=SystemClock().now())
        uow.commit()
        data = _token_json(row)
    if as_json:
        print_json(data)
    else:
        out.print(Text(f"revoked token {data['id']} ({data['name']})"))


@config_app.command("validate")
def config_validate(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            envvar="WARROOM_CONFIG",
            exists=True,
            help="A YAML file or a folder of them (default: WARROOM_CONFIG).",
            show_default=False,
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Check a configuration; print every problem as file:line: field: message."""
    from warroom.config.loader import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "problems": [
                        {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
        _config_problems_exit(exc.problems)
    counts = {
        "severities": len(config.severities),
        "incident_types": len(config.incident_types),
        "roles": len(config.roles),
        "users": len(config.users),
        "teams": len(config.teams),
        "services": len(config.services),
        "runbooks": len(config.runbooks),
    }
    if as_json:
        print_json(
            {"ok": True, "severities": [s.name for s in config.severities], "counts": counts}
        )
        return
    summary = ", ".join(_plural(n, k.replace("_", " ")) for k, n in counts.items())
    names = "/".join(s.name for s in config.severities)
    out.print(Text(f"ok: {path}: {summary} (severities {names})"))


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the configuration, the database, the notification channels and the engine;
    say what would stop a page. Exit status 1 when something would."""
    from warroom.clock import SystemClock
    from warroom.doctor import check

    settings = _settings()
    findings = check(settings, now=SystemClock().now())
    failed = any(f.level == "fail" for f in findings)
    if as_json:
        print_json({"ok": not failed, "findings": [f.as_dict() for f in findings]})
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for finding in findings:
            table.add_row(
                finding.area,
                Text(finding.level.upper(), style=style[finding.level]),
                Text(finding.message),
            )
        out.print(table)
        if failed:
            err.print("a page would not get through: see FAIL above", markup=False)
    if failed:
        raise typer.Exit(1)


def _plural(count: int, noun: str) -> str:
    """`1 runbook`, `2 runbooks`; the nouns passed in are plural already."""
    if count == 1:
        noun = noun.removesuffix("ies") + "y" if noun.endswith("ies") else noun.removesuffix("s")
    return f"{count} {noun}"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"warroom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Incident response from the command line: declare, coordinate, resolve."""


from warroom.reports.cli import register as _register_reports  # noqa: E402

_register_reports(app)


def main() -> None:
    """The `warroom` entry point."""
    app()


if __name__ == "__main__":
    main()
