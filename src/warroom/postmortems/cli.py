"""`warroom postmortem`, `warroom actions` and `warroom action`: through the API.

Only the HTTP client is imported here, so the commands start as quickly as the rest of
the remote command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, fail, out, print_json

SECTIONS = (
    "summary", "impact", "root_cause", "contributing_factors", "resolution",
    "went_well", "went_poorly", "prevention", "lessons_learned",
)  # fmt: skip

app = typer.Typer()
action_app = typer.Typer(help="Add or change one action item.", no_args_is_help=True)
app.add_typer(action_app, name="action")


class Format(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    JSON = "json"


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class ActionType(StrEnum):
    DETECTIVE = "detective"
    PREVENTIVE = "preventive"
    CORRECTIVE = "corrective"


class ActionStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"


def parse_section(text: str) -> tuple[str, str]:
    """`NAME=TEXT`; `NAME=@FILE` reads the text from a file."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in SECTIONS:
        raise typer.BadParameter(f"use NAME=TEXT with NAME one of: {', '.join(SECTIONS)}")
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as handle:
                value = handle.read()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {value[1:]}: {exc.strerror}") from None
    return name, value


def parse_why(text: str) -> dict[str, str]:
    """`WHY => BECAUSE`."""
    why, sep, because = text.partition("=>")
    if not sep or not why.strip() or not because.strip():
        raise typer.BadParameter(
            "use 'WHY => BECAUSE', e.g. 'did checkout fail? => pool exhausted'"
        )
    return {"why": why.strip(), "because": because.strip()}


def parse_moment(text: str) -> str:
    """An ISO date (midnight UTC) or date-time (UTC unless it has an offset)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _short(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "—"


def _postmortem_table(items: list[Mapping[str, Any]]) -> Table:
    table = Table(title="Postmortems", title_justify="left")
    for column in ("incident", "status", "owner", "due", "missing"):
        table.add_column(column)
    for pm in items:
        due = _short(pm.get("deadline_at")) + (" (overdue)" if pm.get("overdue") else "")
        table.add_row(pm["incident"], pm["status"], pm.get("owner") or "—", due,
                      ", ".join(pm.get("missing_sections") or []) or "—")  # fmt: skip
    return table


@app.command()
def postmortem(
    incident: Annotated[
        str | None, typer.Argument(metavar="[INCIDENT]", help="The incident, e.g. INC-42.")
    ] = None,
    output_format: Annotated[
        Format, typer.Option("--format", "-f", case_sensitive=False)
    ] = Format.MARKDOWN,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the export to this file.")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="List overdue postmortems.")] = False,
    sections: Annotated[
        list[str] | None, typer.Option("--set", metavar="NAME=TEXT", help="Edit a section.")
    ] = None,
    whys: Annotated[
        list[str] | None,
        typer.Option("--why", metavar="'WHY => BECAUSE'", help="The five whys, in order."),
    ] = None,
    category: Annotated[str | None, typer.Option(help="Root-cause category.")] = None,
    owner: Annotated[str | None, typer.Option(help="Hand the postmortem to someone.")] = None,
    related: Annotated[list[str] | None, typer.Option(help="A related incident.")] = None,
    start: Annotated[
        bool, typer.Option("--start", help="Start one (optional severities).")
    ] = False,
    submit: Annotated[bool, typer.Option("--submit", help="Move it to review.")] = False,
    publish: Annotated[bool, typer.Option("--publish", help="Publish it.")] = False,
    reopen: Annotated[
        bool, typer.Option("--reopen", help="Back to draft (a new revision).")
    ] = False,
    review_at: Annotated[
        str | None, typer.Option("--review-at", help="Reschedule the review (ISO time).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show, edit, review and publish an incident's postmortem; --overdue lists late ones."""
    if overdue:
        with api(url, token) as client:
            data = client.get(f"{API}/postmortems", params={"overdue": "true"})
        if as_json:
            print_json(data)
        elif not data["items"]:
            out.print("No overdue postmortems.")
        else:
            out.print(_postmortem_table(data["items"]))
        return
    if incident is None:
        fail("name an incident (e.g. INC-42), or pass --overdue", code=2)
    path = f"{API}/incidents/{incident}/postmortem"
    edit: dict[str, Any] = {}
    if sections:
        edit["sections"] = dict(parse_section(s) for s in sections)
    if whys:
        edit["five_whys"] = [parse_why(w) for w in whys]
    if category is not None:
        edit["root_cause_category"] = category
    if owner is not None:
        edit["owner"] = owner
    if related:
        edit["related_incidents"] = related
    moves = [s for s, wanted in (("in_review", submit), ("published", publish),
                                 ("draft", reopen)) if wanted]  # fmt: skip
    if len(moves) > 1:
        fail("pass one of --submit, --publish, --reopen", code=2)
    changed = bool(start or edit or moves or review_at)
    with api(url, token) as client:
        if start:
            client.post(path)
        if edit:
            client.put(path, edit)
        if review_at:
            client.post(f"{path}/review", {"at": parse_moment(review_at)})
        if moves:
            client.post(f"{path}/status", {"status": moves[0]})
        if as_json or output_format is Format.JSON:
            print_json(client.get(path))
        elif changed:
            pm = client.get(path)
            missing = ", ".join(pm["missing_sections"]) or "none"
            out.print(f"{pm['incident']} postmortem: {pm['status']}, revision {pm['version']}, "
                      f"missing: {missing}")  # fmt: skip
        elif output is not None or output_format is Format.PDF:
            target = output or f"postmortem-{incident.upper()}.pdf"
            body = client._send("GET", path, params={"format": output_format.value}).content
            try:
                with open(target, "wb") as handle:
                    handle.write(body)
            except OSError as exc:
                fail(f"cannot write {target}: {exc.strerror}")
            out.print(f"Wrote {target} ({len(body)} bytes).")
        else:
            typer.echo(client.get_text(path, params={"format": output_format.value}), nl=False)


@app.command()
def actions(
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue items.")] = False,
    incident: Annotated[str | None, typer.Option(help="Only this incident's.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    status: Annotated[list[ActionStatus] | None, typer.Option(help="Only these statuses.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List action items, soonest due first."""
    params: dict[str, Any] = {
        "overdue": "true" if overdue else None, "incident": incident, "owner": owner,
        "status": [s.value for s in status or []], "limit": 500,
    }  # fmt: skip
    with api(url, token) as client:
        data = client.get(f"{API}/action-items", params=params)
    if as_json:
        print_json(data)
        return
    if not data["items"]:
        out.print("No action items." if not overdue else "No overdue action items.")
        return
    table = Table(title=f"Action items ({data['total']})", title_justify="left")
    for column in ("id", "incident", "priority", "type", "title", "owner", "due", "status"):
        table.add_column(column)
    for item in data["items"]:
        due = _short(item["due"])[:10] + (" (overdue)" if item["overdue"] else "")
        table.add_row(str(item["id"]), item["incident"], item["priority"], item["type"],
                      escape(item["title"]), item["owner"], due, item["status"])  # fmt: skip
    out.print(table)


@action_app.command("add")
def action_add(
    incident: Annotated[str, typer.Argument(metavar="INCIDENT", help="e.g. INC-42")],
    title: Annotated[str, typer.Option(help="What to do.")],
    priority: Annotated[Priority, typer.Option(help="P0-P3; sets the default due date.")],
    action_type: Annotated[ActionType, typer.Option("--type", help="What it improves.")],
    owner: Annotated[str, typer.Option(help="Who does it.")],
    due: Annotated[str | None, typer.Option(help="ISO date; default from the priority.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an action item to an incident (and its postmortem)."""
    body: dict[str, Any] = {"incident": incident, "title": title, "priority": priority.value,
                            "type": action_type.value, "owner": owner}  # fmt: skip
    if due:
        body["due"] = parse_moment(due)
    with api(url, token) as client:
        item = client.post(f"{API}/action-items", body)
    if as_json:
        print_json(item)
    else:
        out.print(f"Action item #{item['id']} added to {item['incident']}, "
                  f"due {item['due'][:10]}: {escape(item['title'])}")  # fmt: skip


@action_app.command("set")
def action_set(
    item_id: Annotated[int, typer.Argument(metavar="ID", min=1)],
    status: Annotated[
        ActionStatus | None, typer.Option(help="open, in_progress, done, wont_do")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (needed for wont_do).")] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    due: Annotated[str | None, typer.Option(help="ISO date.")] = None,
    priority: Annotated[Priority | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an action item."""
    body: dict[str, Any] = {
        k: v for k, v in (
            ("status", status.value if status else None), ("reason", reason), ("owner", owner),
            ("due", parse_moment(due) if due else None),
            ("priority", priority.value if priority else None), ("title", title),
        ) if v is not None
    }  # fmt: skip
    if not body:
        fail("nothing to change: pass --status, --owner, --due, --priority or --title", code=2)
    with api(url, token) as client:
        response = client._send("PATCH", f"{API}/action-items/{item_id}", body=body)
        item = client._json(response)
    if as_json:
        print_json(item)
    else:
        out.print(f"Action item #{item['id']}: {item['status']}, due {item['due'][:10]}")
