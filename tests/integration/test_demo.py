"""`warroom demo` (issue 19, item 8): a fresh database filled through the real services and
engine jobs, on both databases; the console then shows it; a used database is refused."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import EXAMPLES
from tests.integration.test_web import login
from warroom.app import create_app
from warroom.cli import app as cli
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.demo import NotFresh, content_counts, run
from warroom.engine.models import Notification
from warroom.incidents.models import Incident
from warroom.settings import Settings


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock) -> AppContext:
    """As the suite's, with a long request timeout: these pages are checked for what they
    show, and a busy test machine must not turn a slow answer into a 503."""
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, request_timeout_seconds=120
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


def test_the_demo_fills_a_fresh_database_and_the_console_shows_it(ctx: AppContext) -> None:
    now = ctx.clock.now()
    summary = run(ctx, now=now)
    assert summary.counts == {
        "incidents": 6,
        "alerts": 2,
        "notifications": summary.counts["notifications"],
        "schedule_overrides": 1,
        "maintenance_windows": 1,
        "integrations": 1,
    }
    assert summary.counts["notifications"] > 10
    assert summary.incidents == [f"INC-{n}" for n in range(1, 7)]
    with ctx.db.unit_of_work() as uow:
        incidents = list(uow.session.scalars(select(Incident).order_by(Incident.id)))
        outcomes = Counter(uow.session.scalars(select(Notification.status)))
        channels = set(uow.session.scalars(select(Notification.channel)))
        statuses = Counter(i.status for i in incidents)
        severities = {i.severity for i in incidents}
        restricted = [i.title for i in incidents if i.restricted]
        declared = [i.declared_at for i in incidents]
    assert statuses["closed"] == 1 and statuses["resolved"] == 1
    assert statuses["investigating"] + statuses["identified"] + statuses["monitoring"] == 4
    assert severities == {"SEV1", "SEV2", "SEV3", "SEV4"}
    assert restricted == ["Suspicious admin logins from an unknown network"]
    # Paged for real: delivered on the demo's e-mail and Slack, failed elsewhere.
    assert outcomes["sent"] > 0 and outcomes["failed"] > 0
    assert {"email", "sms"} <= channels
    # The story ends now: nothing is dated after it.
    assert all(when <= now for when in declared)

    # A used database is refused, and nothing is added.
    with pytest.raises(NotFresh):
        run(ctx, now=now)
    assert content_counts(ctx)["incidents"] == 6

    # The console shows it, with the demo's token.
    with TestClient(create_app(ctx)) as client:
        assert login(client, summary.token).status_code == 303
        dashboard = client.get("/")
        assert "Checkout failing: card payments time out" in dashboard.text
        assert "Suspicious admin logins" in dashboard.text  # an admin sees the restricted one
        assert 'id="failing-channels"' in dashboard.text
        for path in ("/oncall", "/schedules", "/escalation", "/notifications", "/maintenance",
                     "/settings", "/integrations", "/incidents/INC-5"):  # fmt: skip
            assert client.get(path).status_code == 200, path
        assert "Jane at a conference" in client.get("/schedules/incident-commander").text
        assert "Search cluster upgrade" in client.get("/maintenance").text
        ledger = client.get("/incidents/INC-5").text.split('id="ledger"')[1]
        assert "delivered" in ledger and "failed" in ledger


def test_warroom_demo_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("WARROOM_DATABASE_URL", url)
    monkeypatch.setenv("WARROOM_CONFIG", str(EXAMPLES))
    runner = CliRunner()
    first = runner.invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output
    assert re.search(r"demo: 6 incidents, 2 alerts, \d+ notifications", first.output)
    token = first.output.strip().splitlines()[-2]
    assert token.startswith("wr_")
    again = runner.invoke(cli, ["demo"])
    assert again.exit_code == 1
    assert "already holds incidents" in again.output and "--force" in again.output
    forced = runner.invoke(cli, ["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "demo: 12 incidents" in forced.output and "'demo-2'" in forced.output
    # Without people and services (the built-in defaults) it says what it needs.
    monkeypatch.delenv("WARROOM_CONFIG")
    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    bare = runner.invoke(cli, ["demo"])
    assert bare.exit_code == 1 and "at least two users and one service" in bare.output
