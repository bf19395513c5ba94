"""`warroom doctor` and the default database location, as a newcomer meets them: commands
run as subprocesses from different directories, and against a running server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLES, WARROOM, Cli, _clean_environ
from warroom.testing.slack_api import FakeSlackWorkspace

pytestmark = pytest.mark.e2e

SMTP = {"WARROOM_SMTP_HOST": "127.0.0.1", "WARROOM_SMTP_FROM": "warroom@example.com"}


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WARROOM, *args],
        cwd=cwd,
        env=_clean_environ() | {"COLUMNS": "200", "NO_COLOR": "1"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_run_anywhere_use_one_database(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "WARROOM_CONFIG": str(EXAMPLES)}
    database = tmp_path / "xdg" / "warroom" / "warroom.db"
    first, second, old = (tmp_path / name for name in ("first", "second", "old"))
    for folder in (first, second, old):
        folder.mkdir()

    made = run(first, env, "token", "create", "--name", "ci", "--role", "viewer")
    assert made.returncode == 0, made.stderr
    assert f"note: no database at {database} yet; creating it" in made.stderr
    listed = run(second, env, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)] == ["ci"]
    assert "creating" not in listed.stderr
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir()) == []

    # A warroom.db left where an older version put it is pointed out, not silently ignored.
    (old / "warroom.db").write_bytes(b"")
    noted = run(old, env, "token", "list", "--json")
    assert f"note: {old / 'warroom.db'} is not used; the database is {database}" in noted.stderr

    # The database's name is in the doctor's answer, wherever it runs.
    checked = run(second, env | SMTP, "doctor")
    assert checked.returncode == 1  # no engine has ever run on it
    assert str(database) in checked.stdout
    assert "no engine has run against this database" in checked.stdout


def test_doctor_against_a_running_server(cli_sqlite: Cli) -> None:
    env = {
        "WARROOM_DATABASE_URL": cli_sqlite.server.database_url,
        "WARROOM_CONFIG": str(EXAMPLES),
    }
    here = Path(cli_sqlite.server.log).parent
    without = run(here, env, "doctor", "--json")
    assert without.returncode == 1
    report = json.loads(without.stdout)
    assert report["ok"] is False
    by_area = {(f["area"], f["level"]) for f in report["findings"]}
    assert ("engine", "ok") in by_area and ("database", "ok") in by_area
    failed = [f["message"] for f in report["findings"] if f["level"] == "fail"]
    assert len(failed) == 1 and "no notification channel is configured" in failed[0]

    with_email = run(here, env | SMTP, "doctor")
    assert with_email.returncode == 0, with_email.stdout + with_email.stderr
    assert "FAIL" not in with_email.stdout and "engine" in with_email.stdout

    # The server said so once, at start.
    log = cli_sqlite.server.log.read_text(errors="replace")
    assert log.count("no notification channel is configured") == 1


def test_doctor_says_what_slack_has_and_asks_it_with_slack(tmp_path: Path) -> None:
    with FakeSlackWorkspace(lifetime=60) as slack:
        env = {
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'warroom.db'}",
            "WARROOM_CONFIG": str(EXAMPLES),
            "WARROOM_SLACK_TOKEN": slack.token,
            "WARROOM_SLACK_BASE_URL": slack.url,
        }
        quiet = run(tmp_path, env, "doctor", "--json")
        assert slack.methods() == []  # Slack is asked only with --slack
        asked = run(tmp_path, env, "doctor", "--slack")
        assert slack.methods() == ["auth.test"]
    chat = [f["message"] for f in json.loads(quiet.stdout)["findings"] if f["area"] == "chat"]
    assert "bot token set" in chat[0] and "WARROOM_SLACK_SIGNING_SECRET not set" in chat[0]
    assert "Slack auth.test: the token works, as warroom in Fake Workspace" in asked.stdout
    assert slack.token not in quiet.stdout + asked.stdout + asked.stderr
