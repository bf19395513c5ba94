"""`warroom demo`: a fresh database filled with a living console (local)."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.cli.local import config_problems_exit, database, settings_from
from warroom.terminal.output import err, fail, out

app = typer.Typer()


@app.command()
def demo(
    force: Annotated[
        bool,
        typer.Option("--force", help="Add the demo even to a database that holds incidents."),
    ] = False,
) -> None:
    """Fill the database with three days of incidents, alerts, schedules and pages.

    Runs the real service functions and engine jobs with a clock walked from three days
    ago to now. Refuses a database that already holds incidents, alerts, overrides,
    maintenance windows, integrations or notifications, unless --force. Prints an admin
    token to log in with.
    """
    from warroom.clock import SystemClock
    from warroom.config.loader import ConfigError
    from warroom.configuration import load_config
    from warroom.context import AppContext
    from warroom.demo import NotFresh, UnsuitableConfig, run

    settings = settings_from()
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        err.print(f"error: the configuration at {settings.config} has problems:", markup=False)
        config_problems_exit(exc.problems)
    with database(settings, migrate=True) as db:
        ctx = AppContext(settings=settings, db=db, config=config, clock=SystemClock())
        try:
            summary = run(ctx, now=ctx.clock.now(), force=force)
        except NotFresh as exc:
            fail(f"{exc}; `warroom demo --force` adds the demo anyway")
        except UnsuitableConfig as exc:
            fail(str(exc))
    counts = ", ".join(f"{n} {table}" for table, n in summary.counts.items())
    out.print(f"demo: {counts}", markup=False)
    out.print(f"incidents: {', '.join(summary.incidents)}", markup=False)
    out.print(
        f"log in with the admin token {summary.token_name!r} (shown this once):", markup=False
    )
    out.print(summary.token, markup=False)
    out.print("then: warroom serve, and open http://127.0.0.1:8080/login", markup=False)
