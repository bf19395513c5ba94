"""`warroom checklist` and `warroom handoff` against a real server, as from a shell."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_e2e import as_json, declare, ok, refused

pytestmark = pytest.mark.e2e


def _token(cli: Cli, user: str) -> str:
    made = as_json(
        cli("token", "create", "--name", f"e2e-{user}-{uuid.uuid4().hex[:6]}", "--role",
            "responder", "--user", user, "--json", token=None)
    )  # fmt: skip
    return str(made["token"])


def test_the_checklist_and_a_handoff_from_the_command_line(cli: Cli) -> None:
    incident = declare(cli, "Checkout slow", "--severity", "SEV1", "--service", "database")
    key = incident["id"]
    jane, bob = _token(cli, "jane.smith"), _token(cli, "bob.wilson")
    ok(cli("assign", key, "ic", "jane.smith"))
    shown = ok(cli("checklist", key))
    assert "current phase detection" in shown
    assert "Database Connection Failure (match: service database)" in shown
    assert "acknowledge-alert-within-sla" in shown and "pending" in shown
    ticked = ok(cli("checklist", key, "--done", "acknowledge-alert-within-sla", token=bob))
    assert ticked.strip() == "done: Acknowledge alert within SLA"
    stderr = refused(cli("checklist", key, "--skip", "perform-initial-assessment", token=bob))
    assert "note" in stderr
    stderr = refused(cli("checklist", key, "--done", "no-such-step", token=bob))
    assert "no-such-step" in stderr
    drafted = ok(cli("handoff", key, "--to", "bob.wilson", token=jane))
    assert f"warroom handoff confirm {key}" in drafted
    stderr = refused(cli("handoff", "confirm", key, token=jane))
    assert "bob.wilson" in stderr
    confirmed = ok(cli("handoff", "confirm", key, token=bob))
    assert "bob.wilson is now the Incident Commander (from jane.smith)" in confirmed
    assert as_json(cli("show", key, "--json"))["roles"]["incident_commander"] == "bob.wilson"
    refused(cli("handoff", key), code=2)
