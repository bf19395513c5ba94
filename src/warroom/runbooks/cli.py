"""`warroom checklist`: the incident's runbook steps, and ticking them (through the API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from warroom.client import DEFAULT_URL
from warroom.terminal.options import IncidentArg, JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, local_time, out, print_json

app = typer.Typer()


def _show(data: Mapping[str, Any]) -> None:
    current = data.get("current_phase")
    out.print(f"{data['incident_id']}: current phase {current or '(all steps done)'}", markup=False)
    for book in data["runbooks"]:
        out.print(f"  runbook {book['name']} ({book['matched_by']})", markup=False)
    table = Table("phase", "step", "state", "due", "by")
    for phase in data["phases"]:
        for step in phase["steps"]:
            state = step["state"] + (" OVERDUE" if step["overdue"] else "")
            table.add_row(
                escape(phase["name"]),
                escape(step["text"]) + f"\n[dim]{escape(step['key'])}[/dim]",
                state,
                local_time(step["due_at"], short=True) if step["due_at"] else "",
                escape(step["done_by"] or step["role"] or ""),
            )
    out.print(table)


@app.command("checklist")
def checklist(
    incident: IncidentArg,
    done: Annotated[
        str | None,
        typer.Option("--done", metavar="STEP", help="Tick it.", show_default=False),
    ] = None,
    skip: Annotated[
        str | None,
        typer.Option(
            "--skip", metavar="STEP", help="Skip this step (needs --note).", show_default=False
        ),
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", "-m", help="Why, for the timeline.", show_default=False)
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the incident's runbook checklist by phase, or tick (--done) or skip (--skip) a step."""
    if done and skip:
        raise typer.BadParameter("give --done or --skip, not both", param_hint="'--done'")
    with api(url, token) as client:
        if done or skip:
            body: dict[str, Any] = {"state": "done" if done else "skipped"}
            if note:
                body["note"] = note
            step = client.post(f"{API}/incidents/{incident}/checklist/{done or skip}", body)
            if as_json:
                print_json(step)
                return
            out.print(f"{step['state']}: {step['text']}", markup=False)
            return
        data = client.get(f"{API}/incidents/{incident}/checklist")
    if as_json:
        print_json(data)
    else:
        _show(data)
