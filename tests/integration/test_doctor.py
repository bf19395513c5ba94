"""`warroom doctor`'s checks on a real database (SQLite and PostgreSQL), the warning at
engine start, and the dashboard's banner when pages cannot get through."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import EXAMPLES, Tokens
from warroom.adapters.registry import build_notifiers, configured_channels
from warroom.alerts import routing
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.people import User
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.doctor import Finding, channel_findings, check
from warroom.engine import outbox, timers
from warroom.engine.beat import Beat
from warroom.jobs import all_jobs
from warroom.migrations import upgrade
from warroom.settings import Settings

SMTP = {"smtp_host": "127.0.0.1", "smtp_from": "warroom@example.com"}
TWILIO = {
    "twilio_account_sid": "AC1",
    "twilio_auth_token": "secret-token",
    "twilio_from_number": "+15550000",
}


def settings(db: Database, **extra: Any) -> Settings:
    return Settings(database_url=db.url, config=EXAMPLES, auto_migrate=False, **extra)


def levels(findings: list[Finding], area: str) -> list[str]:
    return [f.level for f in findings if f.area == area]


def messages(findings: list[Finding], area: str | None = None) -> str:
    return "\n".join(f.message for f in findings if area is None or f.area == area)


# --- channels (pure) ----------------------------------------------------------------------


def test_with_no_channel_every_page_fails_and_doctor_says_so(config: WarroomConfig) -> None:
    found = channel_findings(config, frozenset({"teams"}))
    assert found[0].level == "fail"
    assert "no notification channel is configured" in found[0].message
    assert "WARROOM_SMTP_HOST" in found[0].message
    assert len(found) == 1  # what each channel would serve is told once one is configured
    with_sms = channel_findings(config, frozenset({"teams", "sms", "voice"}))
    warned = messages([f for f in with_sms if f.level == "warn"])
    assert "email is not configured" in warned and "11 people have it" in warned


def test_people_reachable_only_on_unconfigured_channels_are_named(
    config: WarroomConfig,
) -> None:
    # Every example user has an email address: with email configured, all can be reached.
    with_email = channel_findings(config, frozenset({"teams", "email"}))
    assert "fail" not in {f.level for f in with_email}
    # Someone reachable by phone only cannot be paged while only email is configured.
    nina = User(handle="nina", name="Nina", phone="+1 555 0199")
    more = config.model_copy(update={"users": [*config.users, nina]})
    (failed,) = [
        f for f in channel_findings(more, frozenset({"teams", "email"})) if f.level == "fail"
    ]
    assert failed.message == (
        "1 person has no contact method on a configured channel and cannot be paged: "
        "nina (sms/voice)"
    )


@pytest.mark.parametrize(
    "extra",
    [{}, SMTP, TWILIO, {**SMTP, **TWILIO}, {"slack_token": "xoxb-1"}, {"webhook_secret": "w"}],
)
def test_configured_channels_are_the_ones_the_engine_builds(extra: dict[str, Any]) -> None:
    given = Settings(database_url="sqlite://", **extra)
    with build_notifiers(given) as built:
        assert configured_channels(given) == frozenset(built)


def test_settings_given_in_part_are_refused_alike() -> None:
    partial = Settings(database_url="sqlite://", smtp_host="127.0.0.1")
    with pytest.raises(ValueError, match="WARROOM_SMTP_FROM"):
        configured_channels(partial)
    with pytest.raises(ValueError, match="WARROOM_SMTP_FROM"):
        build_notifiers(partial)


# --- the whole check, on a database -------------------------------------------------------


def test_a_healthy_setup_passes(db: Database, clock: FakeClock, ctx: AppContext) -> None:
    Beat("host:1:abc")(ctx)
    found = check(settings(db, **SMTP), now=clock.now())
    assert "fail" not in {f.level for f in found}, messages(found)
    assert levels(found, "engine")[0] == "ok" and "host:1:abc" in messages(found, "engine")
    assert "schema at revision" in messages(found, "database")


def test_no_engine_stale_engine_and_overdue_work_fail(
    db: Database, clock: FakeClock, ctx: AppContext
) -> None:
    found = check(settings(db, **SMTP), now=clock.now())
    assert "no engine has run against this database" in messages(found, "engine")
    assert "fail" in levels(found, "engine")

    Beat("host:1:abc")(ctx)
    clock.advance(timedelta(minutes=5))
    with db.unit_of_work() as uow:
        timers.schedule(
            uow.session, kind="escalate", key="k", due_at=clock.now() - timedelta(minutes=10),
            now=clock.now(),
        )  # fmt: skip
        outbox.enqueue(
            uow.session,
            outbox.NewNotification(
                idempotency_key="n1", channel="email", address="a@example.com", reason="page",
                subject="s", body="b", due_at=clock.now() - timedelta(minutes=3),
            ),
            now=clock.now(),
        )  # fmt: skip
        uow.session.execute(
            text(
                "INSERT INTO notifications (idempotency_key, channel, address, reason, subject,"
                " body, payload, status, due_at, next_attempt_at, attempts, last_error,"
                " created_at) VALUES ('n2', 'sms', '+15550100', 'page', '', '', '{}', 'failed',"
                " :t, :t, 1, 'channel sms is not configured (warroom doctor)', :t)"
            ),
            {"t": clock.now().replace(tzinfo=None) if db.dialect == "sqlite" else clock.now()},
        )
        uow.commit()
    found = check(settings(db, **SMTP), now=clock.now())
    engine = messages(found, "engine")
    assert "no engine is running: the last one (host:1:abc) was last seen" in engine
    assert "1 timer(s) overdue" in engine
    assert "1 notification(s) waiting to be sent" in engine
    assert "1 notification(s) failed in the last 24 hours: channel sms is not configured" in engine
    assert levels(found, "engine").count("fail") == 3


def test_an_old_schema_is_named_and_not_upgraded(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "old.db"
    old = Database(f"sqlite:///{path}")
    upgrade(old.engine, "0006")
    old.dispose()
    given = Settings(database_url=f"sqlite:///{path}", config=EXAMPLES, **SMTP)
    found = check(given, now=clock.now())
    assert "at schema revision 0006" in messages(found, "database")
    assert "warroom db upgrade" in messages(found, "database")
    assert levels(found, "database") == ["fail"]
    again = Database(f"sqlite:///{path}")
    with again.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"
    again.dispose()


def test_a_missing_database_is_named_and_not_created(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "nowhere" / "warroom.db"
    found = check(Settings(database_url=f"sqlite:///{path}", config=EXAMPLES), now=clock.now())
    assert f"no database at {path}" in messages(found, "database")
    assert not path.exists() and not path.parent.exists()


def test_a_configuration_that_does_not_load_fails(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "users.yaml").write_text(
        "users:\n  - handle: ann\n    name: Ann\n    timezone: Nowhere/Else\n"
    )
    found = check(Settings(database_url=db.url, config=tmp_path, **SMTP), now=clock.now())
    assert levels(found, "configuration") == ["fail"]
    assert "unknown time zone 'Nowhere/Else'" in messages(found, "configuration")


# --- at engine start and on the dashboard -------------------------------------------------


def test_the_engine_warns_at_start_when_no_channel_is_configured(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="warroom"):
        jobs = all_jobs(ctx)
    for job in jobs:
        if job.close is not None:
            job.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "warroom"]
    assert sum("no notification channel is configured" in line for line in lines) == 1
    assert len(lines) == 1
    assert "engine-beat" in [job.name for job in jobs]


def test_the_dashboard_shows_a_banner_until_a_channel_is_configured(
    ctx: AppContext, api_tokens: Tokens
) -> None:
    for extra, shown in (({}, True), (SMTP, False)):
        given = settings(ctx.db, engine=False, **extra)
        app_ctx = AppContext(settings=given, db=ctx.db, config=ctx.config, clock=ctx.clock)
        with TestClient(create_app(app_ctx)) as client:
            client.post("/login", data={"token": api_tokens.viewer}, follow_redirects=False)
            page = client.get("/")
            assert page.status_code == 200
            assert ("Pages cannot get through" in page.text) is shown
            assert ("no notification channel is configured" in page.text) is shown


def test_skipped_promql_rules_are_told_in_one_line_once(
    ctx: AppContext, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing, "_noted_without_source", set())
    names = sorted(r.name for r in ctx.config.auto_declare if r.enabled and r.when.kind == "promql")
    assert len(names) > 1 and ctx.config.prometheus is None
    with caplog.at_level(logging.INFO, logger="warroom"):
        routing.evaluate_rules(ctx)
        routing.evaluate_rules(ctx)
    lines = [r.getMessage() for r in caplog.records if "PromQL" in r.getMessage()]
    assert lines == [
        f"{len(names)} PromQL rule(s) skipped, no prometheus.url is configured: " + ", ".join(names)
    ]
