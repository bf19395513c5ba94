"""On-call commands (remote): who is on call, and secret calendar feeds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt, parse_when
from warroom.terminal.output import (
    API,
    api,
    err,
    human_duration,
    local_time,
    out,
    parse_time,
    print_json,
)

app = typer.Typer()


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
    moment = parse_time(data["at"])
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("SCHEDULE", "LAYER", "USER", "UNTIL"):
        table.add_column(column, no_wrap=True)
    for entry in found:
        left = (parse_time(entry["end"]) - moment).total_seconds()
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
