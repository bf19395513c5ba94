"""`warroom handoff`: hand command of an incident to someone, and confirm taking it."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, fail, out, print_json

app = typer.Typer()


@app.command("handoff")
def handoff(
    words: Annotated[
        list[str],
        typer.Argument(
            metavar="[confirm] INCIDENT",
            help="`INC-42 --to bob` drafts a handoff; `confirm INC-42` (the incoming IC) takes it.",
            show_default=False,
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="The incoming IC.", show_default=False),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft a handoff of command (--to), or confirm the one waiting for you."""
    if len(words) == 2 and words[0] == "confirm":
        incident = words[1]
        with api(url, token) as client:
            waiting = [
                h
                for h in client.get(f"{API}/incidents/{incident}/handoffs")
                if h["status"] == "draft"
            ]
            if not waiting:
                fail(f"no handoff of {incident} is waiting for confirmation")
            data = client.post(f"{API}/incidents/{incident}/handoffs/{waiting[-1]['id']}/confirm")
        if as_json:
            print_json(data)
        else:
            out.print(
                f"{data['incident_id']}: {data['to']} is now the Incident Commander "
                f"(from {data['from_user'] or 'nobody'})",
                markup=False,
            )
        return
    if len(words) != 1:
        raise typer.BadParameter("give INCIDENT --to USER, or confirm INCIDENT")
    if not to:
        raise typer.BadParameter("who takes over? give --to USER", param_hint="'--to'")
    with api(url, token) as client:
        data = client.post(f"{API}/incidents/{words[0]}/handoffs", {"to": to})
    if as_json:
        print_json(data)
        return
    doc = data["document"]
    out.print(
        f"{data['incident_id']}: handoff {data['id']} drafted from {data['from_user'] or 'nobody'}"
        f" to {data['to']}; {len(doc['pending_actions'])} pending actions, "
        f"{len(doc['actions_taken'])} actions taken. {data['to']} confirms with "
        f"`warroom handoff confirm {data['incident_id']}`.",
        markup=False,
    )
