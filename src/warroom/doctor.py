"""`warroom doctor`: is anything in the way of a page reaching a person?

Five areas, each checked without changing anything (no database is created or migrated):

* configuration: does it load;
* database: is it there, does it answer, is its schema the one this code expects;
* channels: which notification channels are configured, and can every person be reached
  through at least one of them (and every channel an escalation policy names);
* chat: Slack configured or not, its token and signing secret set (never shown), and with
  `--slack` whether Slack accepts the token (`auth.test`); Teams/Mattermost webhooks;
* engine: is one running (its heartbeat), are timers and notifications waiting longer
  than they should, which notifications failed lately and why.

A finding is `ok`, `warn` (worth knowing) or `fail` (a page would not get through);
`warroom doctor` exits 1 when any finding fails. The channel check also runs at engine
start (one log line each) and feeds the web dashboard's banner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from warroom.adapters.channels import Finding, channel_findings, name_list
from warroom.config.schema import WarroomConfig

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from warroom.settings import Settings


#: Work waiting longer than this past its time means no engine is doing it.
OVERDUE = timedelta(minutes=2)
#: How far back failed notifications are summed up.
RECENT = timedelta(hours=24)


def _schema_heads() -> set[str]:
    """The schema revisions this code brings (its migrations' heads)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from warroom.migrations import HERE

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def _database_findings(settings: Settings) -> tuple[list[Finding], Engine | None]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from warroom.db import make_engine
    from warroom.migrations import current

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    path = settings.sqlite_path
    if path is not None and not path.exists():
        return [
            Finding(
                "database",
                "fail",
                f"no database at {path}: `warroom serve` creates it (or `warroom db upgrade`); "
                "if yours is elsewhere, set WARROOM_DATABASE_URL",
            )
        ], None
    engine = make_engine(settings.database_url, timeout=5)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc).splitlines()[0]
        return [Finding("database", "fail", f"{where} does not answer: {reason}")], None
    heads = _schema_heads()
    if revision is None:
        finding = Finding(
            "database", "fail", f"{where} has no warroom schema: run `warroom db upgrade`"
        )
        return [finding], None
    if revision not in heads:
        finding = Finding(
            "database",
            "fail",
            f"{where} is at schema revision {revision}, this warroom expects "
            f"{name_list(heads)}: run `warroom db upgrade` (`warroom serve` does at start "
            "unless --no-migrate)",
        )
        return [finding], None
    return [Finding("database", "ok", f"{where}, schema at revision {revision}")], engine


def _ago(moment: datetime, now: datetime) -> str:
    from warroom.config.durations import format_compact

    return f"{moment:%Y-%m-%d %H:%M:%S} UTC, {format_compact((now - moment).total_seconds())} ago"


def _engine_findings(engine: Engine, now: datetime) -> list[Finding]:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from warroom.engine.beat import SILENT_AFTER
    from warroom.engine.models import EngineBeat, Notification, Timer

    findings: list[Finding] = []
    with Session(engine) as session:
        beats = list(session.scalars(select(EngineBeat).order_by(EngineBeat.beat_at.desc())))
        alive = [b for b in beats if now - b.beat_at <= SILENT_AFTER]
        if alive:
            owners = name_list(b.owner for b in alive)
            findings.append(
                Finding(
                    "engine",
                    "ok",
                    f"{len(alive)} engine(s) running ({owners}), "
                    f"last beat {_ago(alive[0].beat_at, now)}",
                )
            )
        elif beats:
            findings.append(
                Finding(
                    "engine",
                    "fail",
                    f"no engine is running: the last one ({beats[0].owner}) was last seen "
                    f"{_ago(beats[0].beat_at, now)}; start `warroom serve` or `warroom engine`",
                )
            )
        else:
            findings.append(
                Finding(
                    "engine",
                    "fail",
                    "no engine has run against this database: start `warroom serve` (which "
                    "runs one) or `warroom engine`",
                )
            )
        overdue = Timer.status == "pending", Timer.due_at < now - OVERDUE
        count, oldest = session.execute(
            select(func.count(), func.min(Timer.due_at)).where(*overdue)
        ).one()
        if count:
            findings.append(
                Finding(
                    "engine",
                    "fail",
                    f"{count} timer(s) overdue (escalations, reminders): the oldest was due "
                    f"{_ago(oldest, now)}",
                )
            )
        else:
            upcoming = session.scalar(
                select(func.min(Timer.due_at)).where(Timer.status == "pending")
            )
            when = ""
            if upcoming is not None:
                when = f"; the next is due at {upcoming:%Y-%m-%d %H:%M:%S} UTC"
            findings.append(Finding("engine", "ok", f"no timer overdue{when}"))
        waiting = Notification.status.in_(("pending", "sending"))
        count, oldest = session.execute(
            select(func.count(), func.min(Notification.next_attempt_at)).where(
                waiting, Notification.next_attempt_at < now - OVERDUE
            )
        ).one()
        if count:
            findings.append(
                Finding(
                    "engine",
                    "fail",
                    f"{count} notification(s) waiting to be sent, the oldest since "
                    f"{_ago(oldest, now)}",
                )
            )
        stuck = session.scalar(
            select(func.count()).where(
                Notification.status == "sending", Notification.lease_until < now
            )
        )
        if stuck:
            findings.append(
                Finding(
                    "engine",
                    "warn",
                    f"{stuck} notification(s) were being sent by an engine whose lease ran "
                    "out (it stopped mid-send); a running engine takes them over",
                )
            )
        errors = Counter(
            session.scalars(
                select(Notification.last_error).where(
                    Notification.status == "failed", Notification.created_at >= now - RECENT
                )
            )
        )
        if errors:
            common = "; ".join(
                f"{error or 'no reason'} ({n})" for error, n in errors.most_common(3)
            )
            findings.append(
                Finding(
                    "engine",
                    "warn",
                    f"{sum(errors.values())} notification(s) failed in the last 24 hours: {common}",
                )
            )
    return findings


def check(
    settings: Settings,
    *,
    now: datetime,
    load: Callable[..., WarroomConfig] | None = None,
    ask_slack: bool = False,
) -> list[Finding]:
    """Every finding, area by area; `ask_slack` also calls Slack's `auth.test`."""
    from warroom.adapters.registry import configured_channels
    from warroom.chat.health import chat_findings
    from warroom.config.loader import ConfigError
    from warroom.configuration import load_config

    findings: list[Finding] = []
    config: WarroomConfig | None = None
    try:
        config = (load or load_config)(settings.config)
    except ConfigError as exc:
        first = "; ".join(str(p) for p in exc.problems[:3])
        more = f" (and {len(exc.problems) - 3} more)" if len(exc.problems) > 3 else ""
        findings.append(
            Finding(
                "configuration",
                "fail",
                f"{settings.config} does not load: {first}{more}; "
                "`warroom config validate` lists every problem",
            )
        )
    else:
        source = settings.config or "built-in defaults (WARROOM_CONFIG is not set)"
        findings.append(
            Finding(
                "configuration",
                "ok",
                f"{source}: {len(config.users)} users, {len(config.schedules)} schedules, "
                f"{len(config.escalation_policies)} escalation policies",
            )
        )

    database, engine = _database_findings(settings)
    findings += database

    try:
        configured = configured_channels(settings)
    except ValueError as exc:
        findings.append(Finding("channels", "fail", f"the settings are incomplete: {exc}"))
    else:
        if config is None:
            findings.append(
                Finding(
                    "channels",
                    "warn",
                    f"configured: {', '.join(sorted(configured))}; who needs which is "
                    "checked once the configuration loads",
                )
            )
        else:
            findings += channel_findings(config, configured)
    findings += chat_findings(settings, config, ask_slack=ask_slack)

    if engine is None:
        findings.append(
            Finding("engine", "warn", "not checked: the database is not usable (see above)")
        )
    else:
        try:
            findings += _engine_findings(engine, now)
        finally:
            engine.dispose()
    return findings
