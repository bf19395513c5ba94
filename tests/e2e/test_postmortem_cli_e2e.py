"""`warroom postmortem`, `warroom actions` and `warroom action` against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def ok(result: Any) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


def test_postmortem_from_resolve_to_published_by_command_line(cli: Cli, tmp_path: Path) -> None:
    incident = json.loads(ok(cli("declare", "Search index stale", "--severity", "SEV2",
                                 "--service", "search", "--json")))  # fmt: skip
    key = incident["id"]
    missing = cli("postmortem", key)
    assert missing.returncode == 1 and "has no postmortem" in missing.stderr
    ok(cli("resolve", key, "--message", "Reindexed"))

    text = ok(cli("postmortem", key))
    assert text.startswith(f"# Postmortem: {key} — Search index stale")
    assert "## 9. Lessons Learned" in text

    notes = tmp_path / "lessons.md"
    notes.write_text("Alert on index age.\n\nRehearse reindexing.", encoding="utf-8")
    edited = ok(cli(
        "postmortem", key, "--set", "root_cause=A stuck indexer job",
        "--set", f"lessons_learned=@{notes}",
        "--why", "was the index stale? => the indexer job hung",
        "--why", "did it hang? => a lock was never released",
        "--category", "stuck-job", "--submit",
    ))  # fmt: skip
    assert "in_review" in edited and "missing: none" in edited
    ok(cli("postmortem", key, "--publish"))
    pm = json.loads(ok(cli("postmortem", key, "--json")))
    assert pm["status"] == "published"
    assert pm["sections"]["lessons_learned"] == "Alert on index age.\n\nRehearse reindexing."
    assert [w["because"] for w in pm["five_whys"]] == [
        "the indexer job hung", "a lock was never released"]  # fmt: skip

    frozen = cli("postmortem", key, "--set", "summary=changed")
    assert frozen.returncode == 1 and "immutable" in frozen.stderr

    bad = cli("postmortem", key, "--set", "nonsense=x")
    assert bad.returncode == 2


def test_action_items_by_command_line(cli: Cli) -> None:
    incident = json.loads(ok(cli("declare", "Login errors", "--severity", "SEV3", "--json")))
    key = incident["id"]
    added = json.loads(ok(cli("action", "add", key, "--title", "Alert on login 5xx",
                              "--priority", "P1", "--type", "detective",
                              "--owner", "bob.wilson", "--json")))  # fmt: skip
    assert added["status"] == "open" and added["priority"] == "P1"
    listed = json.loads(ok(cli("actions", "--incident", key, "--json")))
    assert [i["id"] for i in listed["items"]] == [added["id"]]
    assert "Alert on login 5xx" in ok(cli("actions", "--incident", key))

    refused = cli("action", "set", str(added["id"]), "--status", "wont_do")
    assert refused.returncode == 1 and "reason" in refused.stderr
    done = json.loads(ok(cli("action", "set", str(added["id"]), "--status", "done", "--json")))
    assert done["status"] == "done"
    overdue = json.loads(ok(cli("actions", "--overdue", "--incident", key, "--json")))
    assert overdue["items"] == []
    late = json.loads(ok(cli("postmortem", "--overdue", "--json")))
    assert all(p["incident"] != key for p in late["items"])
