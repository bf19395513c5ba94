"""The output layer: consoles, `--json`, Rich lines, errors and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from warroom.client import ApiClient, ApiError, Unreachable
from warroom.config.durations import format_compact

API = "/api/v1"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def human_duration(seconds: float) -> str:
    """`45s`, `12m`, `3h 05m`, `2d 4h`: short enough for a table column."""
    return format_compact(seconds)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def local_time(value: str | None, *, short: bool = False) -> str:
    """An ISO 8601 time from the server, shown in the local timezone."""
    if not value:
        return "—"
    try:
        moment = parse_time(value).astimezone()
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S %Z")


def age(value: str | None, *, now: datetime | None = None) -> str:
    if not value:
        return "—"
    try:
        moment = parse_time(value)
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


def show_incident_line(incident: Mapping[str, Any], verb: str) -> None:
    line = Text()
    line.append(f"{incident['id']} {verb}", style="bold")
    line.append(f": {incident['title']} ({incident['severity']}, {incident['status']})")
    out.print(line)


def report(incident: Mapping[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(incident)
    else:
        show_incident_line(incident, verb)


def yes_no(value: object) -> str:
    return "yes" if value else "no"


# --- remote: reading --------------------------------------------------------------------


def fetch_page(
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


def plural(count: int, noun: str) -> str:
    """`1 runbook`, `2 runbooks`; the nouns passed in are plural already."""
    if count == 1:
        noun = noun.removesuffix("ies") + "y" if noun.endswith("ies") else noun.removesuffix("s")
    return f"{count} {noun}"
