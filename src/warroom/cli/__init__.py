"""The `warroom` command line.

`serve`, `db`, `token` and `config` act locally, on the database and the configuration
files; every other command talks to a server through the API (`--url`/`WARROOM_URL`,
`--token`/`WARROOM_TOKEN`).

Exit status: 0 success; 1 the action was refused or failed (the reason is on stderr);
2 bad usage. `--json` prints machine-readable output on stdout, with the server's
ISO 8601 times; people get local times.

Server-side modules (FastAPI, SQLAlchemy, the configuration loader) are imported inside
the local commands only, so that the remote commands start quickly.

One module per command group; this face assembles them into `app`. A new group is a
Typer sub-app in its own module (or its package's `cli.py`), added here with one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from warroom import __version__
from warroom.cli import admin, alerts, credentials, demo, incidents, oncall, triage
from warroom.drills.cli import app as drills_app
from warroom.handoffs.cli import app as handoffs_app
from warroom.postmortems.cli import app as postmortems_app
from warroom.reports.cli import app as reports_app
from warroom.runbooks.cli import app as runbooks_app
from warroom.security.cli import app as security_app
from warroom.statuspage.cli import app as statuspage_app
from warroom.statuspage.cli import page_app

__all__ = ["app", "main"]

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

# Top-level commands, in the order `warroom --help` lists them.
for group in (incidents.app, oncall.app, triage.app, admin.app, demo.app):
    app.registered_commands.extend(group.registered_commands)
app.add_typer(admin.db_app, name="db")
app.add_typer(credentials.token_app, name="token")
app.add_typer(admin.config_app, name="config")
app.add_typer(credentials.integration_app, name="integration")
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(oncall.feed_app, name="calendar-feed")
app.add_typer(postmortems_app)  # postmortem, actions, action (docs/postmortems.md)
app.add_typer(security_app)  # evidence, breach, audit (docs/security.md)
app.add_typer(statuspage_app)  # status-page, update (docs/status-page.md)
# Local: it needs the whole application's context, which lives above the capabilities.
page_app.command("publish")(admin.publish_status_page)
app.add_typer(runbooks_app)  # checklist (docs/runbooks.md)
app.add_typer(handoffs_app)  # handoff, handoff confirm (docs/handoffs.md)
app.add_typer(reports_app)  # report, import (docs/reports.md)
app.add_typer(drills_app)  # drill (docs/drills.md)


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


def main() -> None:
    """The `warroom` entry point."""
    app()
