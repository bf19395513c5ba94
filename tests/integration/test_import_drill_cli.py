"""`warroom import pagerduty|opsgenie|grafana-oncall` and `warroom drill …` against a real
server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import Tokens
from tests.integration.served import run, serving
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest.fixture
def server(db: Database, config: WarroomConfig, clock: FakeClock) -> Iterator[str]:
    clock.set(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
    with serving(ctx) as url:
        yield url


def test_import_dry_run_then_for_real(server: str, api_tokens: Tokens, tmp_path: Path) -> None:
    code, out, err = run(
        server, api_tokens.admin, "import", "pagerduty", str(FIXTURES / "pagerduty"), "--dry-run"
    )
    assert code == 0, err
    assert "incidents: 3 would be created, 0 already imported" in out
    assert "not mapped: incident PNOTIME: no created_at" in err
    assert "schedules:" in out  # the fragment that would be written is printed
    config_out = tmp_path / "imported.yaml"
    code, out, err = run(
        server,
        api_tokens.admin,
        "import",
        "pagerduty",
        str(FIXTURES / "pagerduty" / "incidents.json"),
        "--config-out",
        str(config_out),
    )
    assert code == 0, err
    assert "incidents: 3 created" in out
    code, out, _ = run(
        server,
        api_tokens.admin,
        "import",
        "grafana-oncall",
        str(FIXTURES / "grafana-oncall"),
        "--config-out",
        str(config_out),
    )
    assert code == 0 and "incidents: 3 created" in out
    assert (
        yaml.safe_load(config_out.read_text())["schedules"][0]["name"] == "Demo-schedule-Calendar"
    )
    code, _, err = run(server, api_tokens.viewer, "import", "opsgenie", str(FIXTURES / "opsgenie"))
    assert code == 1 and err


def test_drill_start_list_report(server: str, api_tokens: Tokens, tmp_path: Path) -> None:
    r = httpx.post(
        f"{server}/api/v1/integrations",
        json={"name": "drill-security", "type": "pagerduty", "service": "auth-service"},
        headers={"Authorization": f"Bearer {api_tokens.admin}"},
    )
    assert r.status_code == 201, r.text
    scenario = EXAMPLES / "drills" / "security-incident.yaml"
    code, out, err = run(server, api_tokens.admin, "drill", "start", "--scenario", str(scenario))
    assert code == 0, err
    assert "DRILL-1 started" in out and "1 of 2 alerts sent" in out
    assert "lena.kovacs, alex.rivera, sarah.chen" in out
    code, out, _ = run(server, api_tokens.viewer, "drill", "list")
    assert code == 0 and "DRILL-1" in out and "security-incident" in out
    code, out, err = run(server, api_tokens.viewer, "drill", "report", "DRILL-1")
    assert code == 0, err
    assert "score: 0 of 5 targets met" in out  # the engine is off: nothing was routed
    assert "no incident was declared" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntitle: t\nparticipants: []\nalerts: []\n")
    code, _, err = run(server, api_tokens.admin, "drill", "start", "--scenario", str(bad))
    assert code == 1 and "participants" in err
