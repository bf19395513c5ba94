"""`warroom report …` and `warroom import incidents FILE`: through the API."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from warroom.client import DEFAULT_URL
from warroom.terminal.options import JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, err, fail, out, print_json

report_app = typer.Typer(help="Incident metrics and periodic reports.", no_args_is_help=True)
import_app = typer.Typer(help="Import incident history.", no_args_is_help=True)


class GroupByOpt(StrEnum):
    SEVERITY = "severity"
    SERVICE = "service"
    TEAM = "team"
    TYPE = "type"


class FormatOpt(StrEnum):
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"
    PDF = "pdf"


# `report` and `import`, added to the `warroom` command by one line in warroom.cli.
app = typer.Typer()
app.add_typer(report_app, name="report")
app.add_typer(import_app, name="import")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _metrics_table(title: str, m: dict[str, Any]) -> Table:
    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for column in ("METRIC", "MEAN", "MEDIAN", "P90", "MEASURED", "MISSING"):
        table.add_column(column)
    for name in ("mttd", "mtta", "mttm", "mttr"):
        s = m[name]
        table.add_row(
            name.upper(),
            _duration(s["mean"]),
            _duration(s["median"]),
            _duration(s["p90"]),
            str(s["measured"]),
            str(s["missing"]),
        )
    return table


@report_app.command("metrics")
def metrics(
    since: Annotated[str | None, typer.Option(help="ISO 8601 with a time zone.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 with a time zone.")] = None,
    group_by: Annotated[GroupByOpt | None, typer.Option("--group-by")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show MTTD, MTTA, MTTM and MTTR (mean, median, p90), counts and rates."""
    params: dict[str, Any] = {
        "since": since,
        "until": until,
        "group_by": group_by.value if group_by else None,
    }
    with api(url, token) as client:
        data = client.get(f"{API}/reports/metrics", params=params)
    if as_json:
        print_json(data)
        return
    mix = ", ".join(f"{k} {v}" for k, v in sorted(data["by_severity"].items()))
    out.print(f"{data['count']} incidents" + (f" ({mix})" if mix else ""))
    out.print(_metrics_table("all", data))
    for group in data.get("groups", []):
        out.print(_metrics_table(f"{data['group_by']} {group['key']}: {group['count']}", group))
    for note in data.get("notes", []):
        err.print(f"note: {note}")


def _period(period: str) -> Any:
    def command(
        fmt: Annotated[FormatOpt, typer.Option("--format", case_sensitive=False)] = (
            FormatOpt.MARKDOWN
        ),
        on: Annotated[
            str | None, typer.Option(help="A date (YYYY-MM-DD) in the period; default: the last.")
        ] = None,
        tz: Annotated[str | None, typer.Option(help="IANA time zone; default: configured.")] = None,
        output: Annotated[
            str | None,
            typer.Option("--output", "-o", help="Write to this file (PDF: report-PERIOD.pdf)."),
        ] = None,
        url: UrlOpt = DEFAULT_URL,
        token: TokenOpt = None,
    ) -> None:
        params: dict[str, Any] = {"format": fmt.value, "on": on, "tz": tz}
        with api(url, token) as client:
            if output is not None or fmt is FormatOpt.PDF:
                target = output or f"report-{period}.pdf"
                body = client._send("GET", f"{API}/reports/{period}", params=params).content
                try:
                    with open(target, "wb") as handle:
                        handle.write(body)
                except OSError as exc:
                    fail(f"cannot write {target}: {exc.strerror}")
                out.print(f"Wrote {target} ({len(body)} bytes).")
            elif fmt is FormatOpt.JSON:
                print_json(client.get(f"{API}/reports/{period}", params=params))
            else:
                typer.echo(client.get_text(f"{API}/reports/{period}", params=params), nl=False)

    command.__doc__ = f"Print the {period} incident report."
    return command


for _name in ("daily", "weekly", "monthly", "quarterly", "annual"):
    report_app.command(_name)(_period(_name))


@import_app.command("incidents")
def import_incidents(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="FILE.json or FILE.csv", exists=True)
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count only.")] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import incident history with explicit timestamps (all or nothing, idempotent)."""
    text = path.read_text(encoding="utf-8-sig")
    body: dict[str, Any]
    if path.suffix.lower() == ".csv":
        body = {"csv": text}
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            fail(f"{path}: not JSON ({exc})", code=2)
        body = {"incidents": data} if isinstance(data, list) else data
    else:
        fail(f"{path}: give a .json or .csv file", code=2)
    suffix = "?dry_run=true" if dry_run else ""
    with api(url, token) as client:
        result = client.post(f"{API}/import/incidents{suffix}", body)
    if as_json:
        print_json(result)
        return
    verb = "would be created" if dry_run else "created"
    out.print(f"{result['created']} {verb}, {result['skipped']} already imported (skipped)")


def _documents(path: Path) -> list[Any]:
    """The JSON files of DIR (sorted by name), or FILE."""
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if path.is_dir()
        else [path]
    )
    if not files:
        fail(f"{path}: no .json files", code=2)
    documents = []
    for file in files:
        try:
            documents.append(json.loads(file.read_text(encoding="utf-8-sig")))
        except ValueError as exc:
            fail(f"{file}: not JSON ({exc})", code=2)
    return documents


def _vendor(vendor: str) -> Any:
    def command(
        path: Annotated[
            Path,
            typer.Argument(
                metavar="DIR_OR_FILE", help="API list responses saved as .json", exists=True
            ),
        ],
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would be created; write nothing.")
        ] = False,
        config_out: Annotated[
            Path | None,
            typer.Option("--config-out", help="Write users, schedules and policies here (YAML)."),
        ] = None,
        url: UrlOpt = DEFAULT_URL,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        body = {"documents": _documents(path)}
        suffix = "?dry_run=true" if dry_run else ""
        with api(url, token) as client:
            result = client.post(f"{API}/import/{vendor}{suffix}", body)
        if config_out is not None and result["config"] and not dry_run:
            config_out.write_text(result["config"], encoding="utf-8")
        if as_json:
            print_json(result)
            return
        verb = "would be created" if dry_run else "created"
        counts = result["incidents"]
        out.print(f"incidents: {counts['created']} {verb}, {counts['skipped']} already imported")
        if result.get("schedules_created"):
            out.print(f"schedules {verb} in the database: {', '.join(result['schedules_created'])}")
        out.print(
            f"configuration: {result['users']} users, "
            f"{result['schedules'] - len(result.get('schedules_created', []))} schedules, "
            f"{result['escalation_policies']} escalation policies"
            + (f" (written to {config_out})" if config_out and not dry_run else "")
        )
        for note in result["unmapped"]:
            err.print(f"not mapped: {note['kind']} {note['id']}: {note['reason']}")
        for note in result["warnings"]:
            err.print(f"warning: {note['kind']} {note['id']}: {note['reason']}")
        if dry_run and result["config"] and config_out is None:
            typer.echo(result["config"], nl=False)

    command.__doc__ = (
        f"Import {vendor} history: incidents into warroom; users, schedules and escalation "
        "policies as a configuration fragment."
    )
    return command


for _vendor_name in ("pagerduty", "opsgenie", "grafana-oncall"):
    import_app.command(_vendor_name)(_vendor(_vendor_name))
