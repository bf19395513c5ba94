"""`warroom drill start|list|report|declare|finish`: through the API (docs/drills.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, err, fail, out, print_json

drill_app = typer.Typer(help="Drills and game days: scripted exercises.", no_args_is_help=True)
app = typer.Typer()
app.add_typer(drill_app, name="drill")


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}s" if value < 120 else f"{value / 60:.1f}m"


@drill_app.command("start")
def start(
    scenario: Annotated[
        Path, typer.Option("--scenario", help="The scenario YAML file.", exists=True)
    ],
    integration: Annotated[
        str | None, typer.Option(help="The integration the alerts arrive through.")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a drill: its alerts arrive through the integration at their offsets."""
    try:
        data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        fail(f"{scenario}: not YAML ({exc})", code=2)
    body: dict[str, Any] = {"scenario": data}
    if integration:
        body["integration"] = integration
    with api(url, token) as client:
        result = client.post(f"{API}/drills", body)
    if as_json:
        print_json(result)
        return
    out.print(
        f"{result['id']} started: {result['title']} — {result['alerts_sent']} of "
        f"{result['alerts_planned']} alerts sent; paging only {', '.join(result['participants'])}"
    )


@drill_app.command("list")
def list_drills(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List drills, newest first."""
    with api(url, token) as client:
        result = client.get(f"{API}/drills")
    if as_json:
        print_json(result)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("DRILL", "SCENARIO", "STATUS", "STARTED", "ALERTS", "INCIDENT"):
        table.add_column(column)
    for d in result["drills"]:
        table.add_row(
            d["id"],
            d["name"],
            d["status"],
            str(d["started_at"]),
            f"{d['alerts_sent']}/{d['alerts_planned']}",
            d["incident"] or "—",
        )
    out.print(table)


@drill_app.command("report")
def report(
    drill: Annotated[str, typer.Argument(metavar="DRILL")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score the drill: times against targets, roles, runbook steps done and skipped."""
    with api(url, token) as client:
        data = client.get(f"{API}/drills/{drill}/report")
    if as_json:
        print_json(data)
        return
    out.print(
        f"{data['id']} {data['title']} ({data['status']}), incident {data['incident'] or '—'}"
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("MEASURE", "TOOK", "TARGET", "MET"):
        table.add_column(column)
    for m in data["measures"]:
        met = "—" if m["met"] is None else ("yes" if m["met"] else "NO")
        table.add_row(m["name"], _seconds(m["seconds"]), _seconds(m["target_seconds"]), met)
    out.print(table)
    score = data["score"]
    out.print(f"score: {score['met']} of {score['of']} targets met")
    roles = data.get("roles")
    if roles and roles["missing"]:
        out.print(f"roles not filled: {', '.join(roles['missing'])}")
    runbook = data.get("runbook")
    if runbook:
        out.print(f"runbook: {runbook['done']} of {runbook['steps']} steps done")
        for step in runbook["skipped"]:
            out.print(f"  not done ({step['state']}): {step['text']}")
        for wanted in runbook["expected_not_done"]:
            out.print(f"  expected, not done: {wanted}")
    for note in data.get("notes", []):
        err.print(f"note: {note}")


@drill_app.command("declare")
def declare(
    drill: Annotated[str, typer.Argument(metavar="DRILL")],
    severity: Annotated[str | None, typer.Option(help="Default: the scenario's.")] = None,
    title: Annotated[str | None, typer.Option(help="Default: the scenario's.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare the drill's incident by hand (its alerts join it)."""
    body = {k: v for k, v in {"severity": severity, "title": title}.items() if v}
    with api(url, token) as client:
        result = client.post(f"{API}/drills/{drill}/declare", body)
    if as_json:
        print_json(result)
        return
    out.print(f"{result['incident']} declared for {result['drill']} (a drill)")


@drill_app.command("finish")
def finish(
    drill: Annotated[str, typer.Argument(metavar="DRILL")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """End the drill: its alerts are resolved."""
    with api(url, token) as client:
        result = client.post(f"{API}/drills/{drill}/finish", {})
    if as_json:
        print_json(result)
        return
    out.print(f"{result['id']} finished")
