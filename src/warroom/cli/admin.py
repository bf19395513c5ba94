"""Local administration: serve, engine, db, config validate, doctor."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from warroom import __version__
from warroom.cli.local import config_problems_exit, database, note_database, safe_url, settings_from
from warroom.terminal.options import JsonOpt
from warroom.terminal.output import err, fail, out, plural, print_json

app = typer.Typer()
db_app = typer.Typer(help="The database schema (local).", no_args_is_help=True)
config_app = typer.Typer(help="The YAML configuration (local).", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Listen address (default: WARROOM_HOST, else 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Listen port (default: WARROOM_PORT, else 8080).",
            show_default=False,
        ),
    ] = None,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not upgrade the schema at start.")
    ] = False,
    no_engine: Annotated[
        bool,
        typer.Option(
            "--no-engine",
            help="Serve only: leave routing, timers and notifications to `warroom engine`.",
        ),
    ] = False,
    engine_process: Annotated[
        bool,
        typer.Option(
            "--engine-process",
            help="Run the engine in a child process (PostgreSQL): it then takes no time "
            "from the API under a storm.",
        ),
    ] = False,
) -> None:
    """Run the API, the web UI and (unless --no-engine) the engine."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from warroom.app import build_context, create_app
    from warroom.config.loader import ConfigError
    from warroom.engine.apart import refusal

    settings = settings_from(
        host=host,
        port=port,
        auto_migrate=False if no_migrate else None,
        engine=False if no_engine else None,
        engine_process=True if engine_process else None,
    )
    problem = refusal(settings)
    if problem is not None:
        fail(problem)
    note_database(settings, creating_is_normal=True)
    try:
        ctx = build_context(settings)
    except ConfigError as exc:
        err.print(f"error: the configuration at {settings.config} has problems:", markup=False)
        config_problems_exit(exc.problems)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {safe_url(settings.database_url)}: {exc}")
    application = create_app(ctx)

    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    err.print(
        f"warroom {__version__} on http://{shown_host}:{settings.port} "
        f"(database {safe_url(settings.database_url)}, "
        f"config {settings.config or 'built-in defaults'})",
        markup=False,
    )
    lean_log_records()
    uvicorn.run(application, host=settings.host, port=settings.port, log_config=log_config())


#: What a log record says about where it was made, which `lean_log_records` stops working
#: out: no format of `log_config` may name these.
UNRECORDED = (
    "pathname", "filename", "module", "funcName", "lineno", "thread", "threadName",
    "process", "processName",
)  # fmt: skip


def lean_log_records() -> None:
    """Stop working out, for every record, the caller's frame, thread and process: no line
    the server writes shows them, and it writes one per request (the logging HOWTO's
    "Optimization" section names these switches). With `logsafe.AccessLine`, an access
    line costs 12 µs of CPU where it cost 28 (docs/benchmarks.md, sixth round)."""
    import logging

    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with everything on stderr (the access log included), secrets taken
    out of access lines, access lines written without uvicorn's copies of each record
    (`logsafe.AccessLine`), and warroom's own log beside uvicorn's."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["formatters"]["access"]["()"] = "warroom.logsafe.AccessLine"
    config.setdefault("filters", {})["redact"] = {"()": "warroom.logsafe.RedactSecrets"}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["loggers"]["warroom"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@app.command()
def engine(
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="Seconds between passes when idle.")
    ] = 1.0,
    with_parent: Annotated[
        bool,
        typer.Option(
            "--with-parent",
            hidden=True,
            help="Started by `serve --engine-process`: stop when standard input ends, "
            "leave Ctrl-C to the server.",
        ),
    ] = False,
) -> None:
    """Run the engine alone: alert routing, auto-declaration, heartbeats, timers."""
    import gc
    import signal

    from sqlalchemy.exc import SQLAlchemyError

    from warroom.app import build_context, prepare
    from warroom.config.loader import ConfigError
    from warroom.engine.runner import Engine
    from warroom.jobs import all_jobs

    settings = settings_from()
    note_database(settings, creating_is_normal=True)
    try:
        ctx = build_context(settings)
        prepare(ctx)
    except ConfigError as exc:
        err.print(f"error: the configuration at {settings.config} has problems:", markup=False)
        config_problems_exit(exc.problems)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {safe_url(settings.database_url)}: {exc}")
    runner = Engine(ctx, all_jobs(ctx), poll_seconds=poll)
    gc.collect()
    gc.freeze()  # start-up objects live as long as the process (see app.py)
    signal.signal(signal.SIGTERM, lambda *_: runner.request_stop())
    if with_parent:
        from warroom.engine.apart import stop_when_parent_goes

        # Ctrl-C reaches the whole terminal group: the server stops its child itself.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_when_parent_goes(runner.request_stop)
    err.print(f"warroom engine {__version__} on {safe_url(settings.database_url)}", markup=False)
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ctx.db.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the schema at WARROOM_DATABASE_URL to the latest revision."""
    from warroom.migrations import current

    settings = settings_from()
    with database(settings, migrate=True) as db:
        revision = current(db.engine)
    err.print(f"database {safe_url(settings.database_url)} is at revision {revision}", markup=False)


@config_app.command("validate")
def config_validate(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            envvar="WARROOM_CONFIG",
            exists=True,
            help="A YAML file or a folder of them (default: WARROOM_CONFIG).",
            show_default=False,
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Check a configuration; print every problem as file:line: field: message."""
    from warroom.config.loader import ConfigError
    from warroom.configuration import load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "problems": [
                        {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                        for p in exc.problems
                    ],
                }
            )
        config_problems_exit(exc.problems)
    counts = {
        "severities": len(config.severities),
        "incident_types": len(config.incident_types),
        "roles": len(config.roles),
        "users": len(config.users),
        "teams": len(config.teams),
        "services": len(config.services),
        "runbooks": len(config.runbooks),
    }
    if as_json:
        print_json(
            {"ok": True, "severities": [s.name for s in config.severities], "counts": counts}
        )
        return
    summary = ", ".join(plural(n, k.replace("_", " ")) for k, n in counts.items())
    names = "/".join(s.name for s in config.severities)
    out.print(Text(f"ok: {path}: {summary} (severities {names})"))


@app.command()
def doctor(
    as_json: JsonOpt = False,
    slack: Annotated[
        bool, typer.Option("--slack", help="Also ask Slack (auth.test) whether the token works.")
    ] = False,
) -> None:
    """Check the configuration, the database, the notification channels, chat and the
    engine; say what would stop a page. Exit status 1 when something would."""
    from warroom.clock import SystemClock
    from warroom.doctor import check

    settings = settings_from()
    findings = check(settings, now=SystemClock().now(), ask_slack=slack)
    failed = any(f.level == "fail" for f in findings)
    if as_json:
        print_json({"ok": not failed, "findings": [f.as_dict() for f in findings]})
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column()
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for finding in findings:
            table.add_row(
                finding.area,
                Text(finding.level.upper(), style=style[finding.level]),
                Text(finding.message),
            )
        out.print(table)
        if failed:
            err.print("a page would not get through: see FAIL above", markup=False)
    if failed:
        raise typer.Exit(1)


def publish_status_page() -> None:
    """Render the public page from the database into WARROOM_STATUS_DIR now (local)."""
    from warroom.app import build_context
    from warroom.statuspage.publish import publish, status_dir

    ctx = build_context()
    try:
        publish(ctx)
    finally:
        ctx.db.dispose()
    out.print(f"published to {status_dir(ctx)}")
