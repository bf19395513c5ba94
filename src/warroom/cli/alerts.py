"""Alert commands (remote): `warroom alerts list|show`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, age, api, fetch_page, local_time, out, print_json

alerts_app = typer.Typer(help="Alerts received from monitoring.", no_args_is_help=True)


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
    page = fetch_page(url, token, "alerts", params, as_json)
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
