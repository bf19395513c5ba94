"""The `warroom` command line against a real server: what an on-call engineer types.

Every command runs as a subprocess, exactly as from a shell; the exit status is part of
the contract (0 done, 1 refused or failed with the reason on stderr, 2 bad usage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def ok(result: Any) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return str(result.stdout)


def refused(result: Any, *, code: int = 1) -> str:
    assert result.returncode == code, (
        f"expected exit {code}, got {result.returncode}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return str(result.stderr)


def as_json(result: Any) -> Any:
    return json.loads(ok(result))


def declare(cli: Cli, title: str, *extra: str) -> dict[str, Any]:
    incident: dict[str, Any] = as_json(cli("declare", title, *extra, "--json"))
    return incident


def test_an_incident_from_declaration_to_closed_timeline(cli: Cli) -> None:
    incident = declare(
        cli,
        "Payment processing failing",
        "--severity",
        "SEV2",
        "--service",
        "payment-service",
        "--description",
        "Checkout returns 502 for most card payments",
    )
    key = incident["id"]
    assert key.startswith("INC-")
    assert (incident["severity"], incident["status"]) == ("SEV2", "investigating")
    assert incident["services"] == ["payment-service"]

    listed = as_json(cli("list", "--status", "investigating", "--json"))
    assert key in [item["id"] for item in listed["items"]]
    table = ok(cli("list", "--severity", "SEV2"))
    assert key in table and "Payment processing failing" in table

    ok(cli("ack", key, "--message", "On it"))
    ok(cli("assign", key, "ic", "jane.smith"))
    ok(cli("assign", key, "tl", "bob.wilson"))
    reassigned = as_json(cli("assign", key, "commander", "priya.patel", "--json"))
    assert reassigned["roles"] == {
        "incident_commander": "priya.patel",
        "technical_lead": "bob.wilson",
    }

    shown = ok(cli("show", key))
    assert "Payment processing failing" in shown
    assert "priya.patel" in shown and "bob.wilson" in shown
    assert "Acknowledged" in shown

    added = as_json(
        cli(
            "event", key, "investigation", "Connection pool exhausted on payment-db",
            "--detail", "pool=exhausted", "--detail", "connections=200", "--json",
        )
    )  # fmt: skip
    assert added["details"] == {"pool": "exhausted", "connections": 200}

    upgraded = as_json(
        cli("severity", key, "SEV1", "--reason", "Every checkout fails now", "--json")
    )
    assert upgraded["severity"] == "SEV1"

    ok(cli("status", key, "identified", "--message", "Connection leak in v2.3.1", "--public"))
    resolved = as_json(cli("resolve", key, "--message", "Rolled back to v2.3.0", "--json"))
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    closed = ok(cli("close", key))
    assert f"{key} is now closed" in closed

    markdown = ok(cli("timeline", key))
    in_order = [
        "DECLARATION",
        "ACKNOWLEDGEMENT",
        "jane.smith assigned as Incident Commander",
        "reassigned from jane.smith to priya.patel",
        "Connection pool exhausted on payment-db",
        "SEV2 to SEV1",
        "Connection leak in v2.3.1",
        "Rolled back to v2.3.0",
        "Incident closed",
        "Total duration",
    ]
    positions = [markdown.find(text) for text in in_order]
    assert -1 not in positions, dict(zip(in_order, positions, strict=True))
    assert positions == sorted(positions), markdown

    timeline = as_json(cli("timeline", key, "--format", "json"))
    assert timeline["incident_id"] == key and timeline["ongoing"] is False
    assert timeline["events"][0]["type"] == "declaration"
    assert as_json(cli("timeline", key, "--json")) == timeline

    shown_json = as_json(cli("show", key, "--json"))
    assert shown_json["status"] == "closed"
    assert shown_json["closed_at"].endswith(("Z", "+00:00"))  # ISO 8601 with an offset


def test_refusals_exit_1_with_the_servers_reason(cli: Cli) -> None:
    key = declare(cli, "Search is slow", "--severity", "SEV3", "--service", "search")["id"]

    stderr = refused(cli("close", key))
    assert "only a resolved incident can be closed" in stderr

    stderr = refused(cli("declare", "Bad severity", "--severity", "SEV9"))
    assert "severity" in stderr and "SEV9" in stderr

    stderr = refused(cli("assign", key, "ic", "nobody.here"))
    assert "unknown user 'nobody.here'" in stderr

    stderr = refused(cli("show", "INC-99999"))
    assert "INC-99999" in stderr


def test_a_bad_token_or_no_server_exits_1(cli_sqlite: Cli) -> None:
    cli = cli_sqlite
    stderr = refused(cli("list", token="wr_this-token-does-not-exist-anywhere"))
    assert "401" in stderr
    assert "wr_this-token" not in stderr  # a token is never printed back

    stderr = refused(cli("list", token=None))
    assert "401" in stderr and "missing bearer token" in stderr

    stderr = refused(cli("list", "--url", "http://127.0.0.1:9"))
    assert "cannot reach warroom at http://127.0.0.1:9" in stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["assign", "INC-1", "boss", "jane.smith"], id="unknown-role-alias"),
        pytest.param(["event", "INC-1", "note", "hi", "--detail", "novalue"], id="bad-detail"),
        pytest.param(["event", "INC-1", "note", "hi", "--at", "yesterday-ish"], id="bad-time"),
        pytest.param(["status", "INC-1", "fixed"], id="unknown-status"),
        pytest.param(["declare", "No severity given"], id="missing-option"),
        pytest.param(["severity", "INC-1", "SEV1"], id="missing-reason"),
        pytest.param(["classify", "--error-rate", "150"], id="out-of-range"),
        pytest.param(["frobnicate"], id="unknown-command"),
    ],
)
def test_bad_usage_exits_2(cli_sqlite: Cli, args: list[str]) -> None:
    cli = cli_sqlite
    refused(cli(*args), code=2)


def test_classify_from_options(cli_sqlite: Cli) -> None:
    cli = cli_sqlite
    flags = [
        "--error-rate", "15", "--affected-users", "30", "--revenue", "0",
        "--no-security", "--no-data-loss", "--core-feature",
    ]  # fmt: skip
    text = ok(cli("classify", *flags))
    assert "SEVERITY: SEV2" in text
    assert "Response time: Within 15 minutes" in text
    assert "Required roles:" in text

    result = as_json(cli("classify", *flags, "--json"))
    assert result["severity"] == "SEV2"
    assert result["requirements"]["bridge_call"] is True

    assert as_json(cli("classify", *flags, "--security", "--json"))["severity"] == "SEV1"


def test_classify_asks_for_what_is_missing_and_reads_stdin(cli_sqlite: Cli) -> None:
    cli = cli_sqlite
    text = ok(cli("classify", input="15\n30\n0\nn\nn\ny\n"))
    assert "Current error rate (%):" in text
    assert "Core feature affected? (y/n):" in text
    assert "SEVERITY: SEV2" in text

    # A bad answer is asked again; given options are not asked at all.
    text = ok(cli("classify", "--revenue", "20000", input="lots\n15\n30\nmaybe\nn\nn\nn\n"))
    assert "'lots' is not a number" in text
    assert "Revenue impact" not in text
    assert "SEVERITY: SEV1" in text

    # With --json the questions go to stderr and stdout stays parseable.
    assert as_json(cli("classify", "--json", input="0\n0\n0\nn\nn\nn\n"))["severity"] == "SEV4"

    stderr = refused(cli("classify", input="15\n30\n"), code=2)
    assert "stdin ended" in stderr


def test_triage_declares_then_updates_the_same_incident(cli: Cli) -> None:
    first = as_json(
        cli(
            "triage", "--incident", "INC-987654", "--impact", "service_outage",
            "--urgency", "immediate", "--affected-users", "500", "--service", "api-gateway",
            "--json",
        )
    )  # fmt: skip
    assert first["action"] == "declared"
    assert first["triage"]["priority"] == "critical"
    key, severity = first["incident"]["id"], first["incident"]["severity"]
    assert severity == "SEV1"

    text = ok(
        cli(
            "triage", "--incident", key, "--impact", "service_degradation",
            "--urgency", "low", "--affected-users", "5",
        )
    )  # fmt: skip
    assert f"Updated {key}" in text
    assert "Priority: low" in text
    updated = as_json(cli("show", key, "--json"))
    assert updated["severity"] != severity


def test_a_local_viewer_token_reads_but_cannot_declare(cli: Cli) -> None:
    created = as_json(
        cli("token", "create", "--name", "e2e-viewer", "--role", "viewer",
            "--user", "jane.smith", "--json", token=None)
    )  # fmt: skip
    viewer = created["token"]
    assert created["role"] == "viewer" and created["user"] == "jane.smith"

    assert as_json(cli("whoami", "--json", token=viewer))["role"] == "viewer"
    ok(cli("list", token=viewer))
    stderr = refused(cli("declare", "Viewer tries", "--severity", "SEV4", token=viewer))
    assert "403" in stderr and "responder" in stderr

    listed = ok(cli("token", "list", token=None))
    assert "e2e-viewer" in listed and viewer not in listed

    stderr = refused(cli("token", "create", "--name", "e2e-viewer", "--role", "viewer"))
    assert "already exists" in stderr

    ok(cli("token", "revoke", str(created["id"]), token=None))
    assert "401" in refused(cli("list", token=viewer))


def test_config_validate(cli_sqlite: Cli, tmp_path: Path) -> None:
    cli = cli_sqlite
    from tests.e2e.conftest import EXAMPLES

    text = ok(cli("config", "validate", str(EXAMPLES)))
    assert text.startswith("ok: ")
    assert "4 severities" in text

    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n  - handle: someone\n    name: Some One\n    pager: [oops\n")
    stderr = refused(cli("config", "validate", str(broken)))
    assert f"{broken}:" in stderr
    line = stderr.split(f"{broken}:", 1)[1].split(":", 1)[0]
    assert line.isdigit(), stderr


def test_db_upgrade_is_idempotent(cli: Cli) -> None:
    result = cli("db", "upgrade")
    ok(result)
    assert "revision" in result.stderr
