"""`warroom status-page …` against a real server, and `status-page publish` locally."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli


def test_status_page_commands(cli_sqlite: Cli, tmp_path: Path) -> None:
    cli = cli_sqlite
    made = cli("declare", "Cache cluster lost a node", "--severity", "SEV2", "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["id"]

    listed = cli("status-page", "components", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "API" in [c["name"] for c in json.loads(listed.stdout)]

    manual = cli("status-page", "component", "Search", "degraded_performance")
    assert manual.returncode == 0, manual.stderr
    assert "Search is now degraded_performance" in manual.stdout

    update = cli(
        "status-page", "update", key, "identified",
        "-m", "Some pages load slowly.", "--title", "Slow pages", "-c", "Website=partial_outage",
    )  # fmt: skip
    assert update.returncode == 0, update.stderr
    assert "Slow pages: identified (impact major)" in update.stdout

    bad_pair = cli("status-page", "update", key, "identified", "-c", "Website=on_fire")
    assert bad_pair.returncode == 2 and "on_fire" in bad_pair.stderr
    unknown = cli("status-page", "update", key, "monitoring", "-c", "Moon=major_outage")
    assert unknown.returncode == 1 and "components.Moon" in unknown.stderr

    cli.extra_env = {"WARROOM_STATUS_DIR": str(tmp_path / "status")}
    try:
        published = cli("status-page", "publish")
    finally:
        cli.extra_env = {}
    assert published.returncode == 0, published.stderr
    summary = json.loads((tmp_path / "status" / "api" / "v2" / "summary.json").read_text())
    assert [i["name"] for i in summary["incidents"]] == ["Slow pages"]
    assert "Cache cluster" not in (tmp_path / "status" / "index.html").read_text()


def test_warroom_update_by_audience(cli_sqlite: Cli) -> None:
    made = cli_sqlite("declare", "Queue backlog", "--severity", "SEV2", "--json")
    key = json.loads(made.stdout)["id"]
    sent = cli_sqlite(
        "update", key, "--audience", "executive", "--audience", "technical",
        "-m", "Backlog draining; 20 minutes to clear.",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "executive: [SEV2] INCIDENT: Queue backlog → 1 recipient(s)" in sent.stdout
    assert "technical: [SEV2] INCIDENT: Queue backlog → 2 recipient(s)" in sent.stdout
    again = cli_sqlite("update", key, "-a", "executive", "-m", "Cleared.", "--json")
    assert json.loads(again.stdout)["sent"][0]["kind"] == "update"
    bad = cli_sqlite("update", key, "-a", "board", "-m", "x")
    assert bad.returncode == 2
    timeline = cli_sqlite("timeline", key)
    assert "Stakeholder update: executive (initial)" in timeline.stdout
