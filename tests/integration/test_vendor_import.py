"""PagerDuty, Opsgenie and Grafana OnCall importers, on fixture files written from their
public API documentation (tests/fixtures/import/): incidents stored idempotently,
configuration emitted, and every record that does not map named with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.config.people import User
from warroom.config.schema import WarroomConfig
from warroom.configuration import load_config
from warroom.context import AppContext

FIXTURES = Path(__file__).parent.parent / "fixtures" / "import"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def documents(vendor: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / vendor).glob("*.json"))]


@pytest.fixture(autouse=True)
def _late_2026(clock: FakeClock) -> None:
    clock.set(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))


def post(client: TestClient, token: str, vendor: str, *, dry_run: bool = False) -> Any:
    suffix = "?dry_run=true" if dry_run else ""
    r = client.post(
        f"/api/v1/import/{vendor}{suffix}",
        json={"documents": documents(vendor)},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    return r.json()


def reasons(result: dict[str, Any], kind: str) -> dict[str, str]:
    return {n["id"]: n["reason"] for n in result["unmapped"] if n["kind"] == kind}


def incident(client: TestClient, token: str, key: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/incidents/{key}", headers=auth(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


def fragment_is_valid_config(text: str, config: WarroomConfig, tmp_path: Path) -> dict[str, Any]:
    """The emitted fragment loads as configuration beside the example files."""
    data = yaml.safe_load(text)
    examples = Path(__file__).parent.parent.parent / "examples"
    for source in examples.glob("*.yaml"):
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / "imported.yaml").write_text(text)
    load_config(tmp_path)
    return dict(data)


def test_pagerduty_dry_run_writes_nothing_and_names_what_does_not_map(
    client: TestClient, api_tokens: Tokens
) -> None:
    result = post(client, api_tokens.admin, "pagerduty", dry_run=True)
    assert result["dry_run"] is True
    assert result["incidents"]["created"] == 3  # of 5: one without created_at, one future
    bad = reasons(result, "incident")
    assert bad["PNOTIME"] == "no created_at"
    assert "in the future" in bad["pagerduty:PFUTURE"]
    assert "turn length 1234" in reasons(result, "schedule_layer")["PODD123 layer 1"]
    assert reasons(result, "schedule")["PODD123"] == "no layer could be mapped"
    assert "no target" in reasons(result, "escalation_rule")["PEMPTY1 rule 1"]
    warnings = [(n["id"], n["reason"]) for n in result["warnings"]]
    assert ("POPEN01", "no severity mapping for 'whatever'; imported as SEV3") in warnings
    assert any(i == "PRESNOAT" and "last_status_change_at used" in r for i, r in warnings)
    assert any(i == "PQ2NOWS" and "unknown time zone" in r for i, r in warnings)
    # Nothing stored.
    metrics = client.get("/api/v1/reports/metrics", headers=auth(api_tokens.admin)).json()
    assert metrics["count"] == 0


def test_pagerduty_import_maps_incidents_and_is_idempotent(
    client: TestClient, api_tokens: Tokens, config: WarroomConfig, tmp_path: Path
) -> None:
    result = post(client, api_tokens.admin, "pagerduty")
    assert result["incidents"]["created"] == 3
    keys = result["incidents"]["keys"]
    fire = incident(client, api_tokens.admin, keys[0])
    assert fire["severity"] == "SEV1"  # priority P1 wins over urgency high
    assert fire["services"] == ["payment-service"]
    assert fire["acknowledged_at"] == "2026-10-06T21:35:12Z"
    assert fire["resolved_at"] == "2026-10-06T21:38:23Z"
    disk = incident(client, api_tokens.admin, keys[1])
    assert disk["severity"] == "SEV4"  # urgency low
    assert disk["declared_at"] == "2026-10-07T06:00:00Z"  # +02:00 made explicit
    assert disk["resolved_at"] == "2026-10-07T07:15:00Z"
    assert disk["services"] == []  # "Unknown Service" is not configured
    edge = incident(client, api_tokens.admin, keys[2])
    assert edge["status"] == "investigating" and edge["acknowledged_at"] is None
    assert edge["declared_at"] == "2026-11-21T07:10:00Z"

    again = post(client, api_tokens.admin, "pagerduty")
    assert again["incidents"]["created"] == 0
    assert again["incidents"]["skipped_external_ids"] == [
        "pagerduty:PT4KHLK",
        "pagerduty:PRESNOAT",
        "pagerduty:POPEN01",
    ]

    data = fragment_is_valid_config(result["config"], config, tmp_path)
    handles = {u["handle"] for u in data["users"]}
    assert handles == {"earline.greenholt", "kenji", "mars"}
    earline = next(u for u in data["users"] if u["handle"] == "earline.greenholt")
    assert earline["phone"] == "+15550199" and earline["timezone"] == "America/Lima"
    [schedule] = data["schedules"]
    assert schedule["name"] == "Primary-On-Call"
    first, nights = schedule["layers"]  # the ended layer is left out
    assert first["rotation"] == "weekly" and first["handoff_day"] == "monday"
    assert first["handoff_time"] == "09:00" and first["participants"] == [
        "earline.greenholt",
        "kenji",
    ]
    assert first["restrictions"][0] == {
        "type": "day_of_week",
        "days": ["monday"],
        "start": "09:00",
        "end": "17:00",
    }
    # 22:00 +05:30 is 11:30 in New York; the daily window keeps its own clock.
    assert nights["handoff_time"] == "11:30"
    assert nights["restrictions"] == [{"type": "time_of_day", "start": "22:00", "end": "07:00"}]
    [policy] = data["escalation_policies"]
    assert policy["name"] == "engineering-escalation-policy" and policy["repeat"] == 2
    assert policy["steps"][0] == {
        "delay": "30 minutes",
        "targets": [{"type": "schedule", "name": "Primary-On-Call"}],
    }
    assert policy["steps"][1]["targets"] == [{"type": "user", "name": "earline.greenholt"}]


def test_opsgenie_import(
    client: TestClient, api_tokens: Tokens, config: WarroomConfig, tmp_path: Path
) -> None:
    result = post(client, api_tokens.admin, "opsgenie")
    assert result["incidents"]["created"] == 4  # three alerts and an incident
    keys = result["incidents"]["keys"]
    danger = incident(client, api_tokens.admin, keys[0])
    # createdAt 09:02:44+03:00 = 06:02:44Z; ackTime 15.702 s; closeTime 60.503 s.
    assert danger["severity"] == "SEV1"
    assert danger["declared_at"] == "2026-10-14T06:02:44Z"
    assert danger["acknowledged_at"].startswith("2026-10-14T06:02:59.702")
    assert danger["resolved_at"].startswith("2026-10-14T06:03:44.503")
    backlog = incident(client, api_tokens.admin, keys[1])
    assert backlog["severity"] == "SEV3"  # P9 is unknown: the default
    assert backlog["resolved_at"] == "2026-10-15T12:45:00Z"  # no closeTime: updatedAt
    payments = incident(client, api_tokens.admin, keys[3])
    assert payments["started_at"] == "2026-09-01T09:58:00Z"
    assert payments["resolved_at"] == "2026-09-01T11:30:00Z"
    assert reasons(result, "schedule")["0a1bbbbb-0000-4000-8000-000000000001"].startswith(
        "unknown time zone"
    )
    assert (
        "across days"
        in reasons(result, "restriction")["d875alp4-9b4e-4219-a803-0c26936d18de rotation 1"]
    )
    assert (
        "notifyType 'next'"
        in reasons(result, "escalation_rule")["9a8fc7a1-1d65-4ad6-8c3e-c8d2a3d9b2f1 rule 4"]
    )
    data = fragment_is_valid_config(result["config"], config, tmp_path)
    [schedule] = data["schedules"]
    first, nights = schedule["layers"]
    assert first["shift_length"] == "2 weeks" and first["participants"] == ["john.doe"]
    assert nights["restrictions"] == [{"type": "time_of_day", "start": "20:00", "end": "06:00"}]
    [policy] = data["escalation_policies"]
    # Opsgenie's delays count from the alert; warroom's from the step before.
    assert [s["delay"] for s in policy["steps"]] == ["10 minutes", "5 minutes"]
    assert policy["steps"][1]["targets"] == [{"type": "user", "name": "john.doe"}]
    assert (
        "team 'ops_team' is not configured"
        in reasons(result, "escalation_rule")["9a8fc7a1-1d65-4ad6-8c3e-c8d2a3d9b2f1 rule 3"]
    )
    assert post(client, api_tokens.admin, "opsgenie")["incidents"]["skipped"] == 4


def test_grafana_oncall_import(
    client: TestClient, api_tokens: Tokens, config: WarroomConfig, tmp_path: Path
) -> None:
    result = post(client, api_tokens.admin, "grafana-oncall")
    assert result["incidents"]["created"] == 3
    memory = incident(client, api_tokens.admin, result["incidents"]["keys"][0])
    assert memory["severity"] == "SEV1" and memory["status"] == "resolved"
    assert reasons(result, "schedule")["SICAL000001"].startswith("an iCal schedule")
    assert reasons(result, "shift")["OH3V5FYQEYJ6M"].startswith("a one-off shift")
    assert "trigger_webhook" in reasons(result, "escalation_step")["FWDL7M6N6VPBT step E9WEBHOOK01"]
    data = fragment_is_valid_config(result["config"], config, tmp_path)
    [schedule] = data["schedules"]
    days, pair_1, pair_2 = schedule["layers"]
    assert days["participants"] == ["public.api.demo.user.1", "sam"]
    # 09:00 Paris is 03:00 in New York (the schedule's zone), for eight hours.
    assert days["restrictions"][0]["start"] == "03:00" and days["restrictions"][0]["end"] == "11:00"
    assert pair_1["participants"] == ["public.api.demo.user.1"] and pair_2["participants"] == [
        "sam"
    ]
    [policy] = data["escalation_policies"]
    assert policy["steps"][0]["delay"] == "5 minutes" and policy["repeat"] == 1
    assert policy["steps"][1]["targets"] == [{"type": "user", "name": "public.api.demo.user.1"}]


def test_bad_requests_name_the_field(client: TestClient, api_tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/import/splunk", json={"documents": [{}]}, headers=auth(api_tokens.admin)
    )
    assert r.status_code == 422 and "vendor" in r.text
    r = client.post("/api/v1/import/pagerduty", json={"docs": []}, headers=auth(api_tokens.admin))
    assert r.status_code == 422 and "documents" in r.text
    r = client.post(
        "/api/v1/import/pagerduty", json={"documents": [{}]}, headers=auth(api_tokens.viewer)
    )
    assert r.status_code == 403


def test_schedules_of_configured_users_become_database_schedules(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, config: WarroomConfig, tmp_path: Path
) -> None:
    """PagerDuty's Primary-On-Call rotates earline.greenholt and kenji: not users yet, so it
    stays in the fragment; once the fragment's users are configured, importing again makes
    it a database schedule (and leaves it out of the fragment), and a third time leaves it."""
    first = post(client, api_tokens.admin, "pagerduty")
    assert first["schedules_created"] == []
    assert "kenji" in reasons_of(first["warnings"], "schedule")["Primary-On-Call"]
    users = fragment_is_valid_config(first["config"], config, tmp_path)["users"]
    ctx.config = config.model_copy(
        update={"users": [*config.users, *(User.model_validate(u) for u in users)]}
    )
    dry = post(client, api_tokens.admin, "pagerduty", dry_run=True)
    assert dry["schedules_created"] == ["Primary-On-Call"]
    assert client.get("/api/v1/schedules/Primary-On-Call", headers=auth(api_tokens.admin)
                      ).status_code == 404  # fmt: skip
    second = post(client, api_tokens.admin, "pagerduty")
    assert second["schedules_created"] == ["Primary-On-Call"]
    assert second["incidents"]["created"] == 0  # the incidents were imported the first time
    assert "schedules" not in (yaml.safe_load(second["config"]) or {})
    stored = client.get("/api/v1/schedules/Primary-On-Call", headers=auth(api_tokens.admin))
    assert stored.status_code == 200, stored.text
    layers = stored.json()["layers"]
    assert layers[0]["participants"] == ["earline.greenholt", "kenji"] and len(layers) == 2
    assert stored.json()["time_zone"] == "America/New_York"
    third = post(client, api_tokens.admin, "pagerduty")
    assert third["schedules_created"] == []
    assert "in the database" in reasons_of(third["warnings"], "schedule")["Primary-On-Call"]


def reasons_of(notes: list[dict[str, str]], kind: str) -> dict[str, str]:
    return {n["id"]: n["reason"] for n in notes if n["kind"] == kind}
