"""A real Prometheus Alertmanager delivers to a real warroom server.

Alerts posted to Alertmanager's API go through its grouping and webhook receiver into
`POST /api/v1/integrations/alertmanager`; warroom's engine routes them into one incident
declared by a rule, and resolving them at Alertmanager moves the incident to monitoring.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.monitoring import (
    Service,
    alertmanager,
    checked,
    holds_for,
    logs_on_failure,
    now,
    require_binary,
    rfc3339,
    wait_for,
    warroom,
)

pytestmark = pytest.mark.e2e

ALERTNAME = "WarroomE2EDatabaseDown"
RULE = "e2e-database-down"
RULES = f"""\
auto_declare:
  - name: {RULE}
    description: "End-to-end test: the database is down"
    when:
      alert:
        - {{field: labels.alertname, equals: {ALERTNAME}}}
    declare:
      severity: SEV1
      type: service_outage
      service: database
      title: "Database down: {{summary}}"
"""
DELIVERY_TIMEOUT = 30.0


def am_alert(instance: str, starts_at: str, ends_at: str | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": ALERTNAME, "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"database {instance} refuses connections"},
        "startsAt": starts_at,
        "generatorURL": "http://127.0.0.1/graph?g0.expr=up%7Bjob%3D%22db%22%7D",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at
    return alert


def seen(alert: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(alert[name])


def post_alerts(am: Service, alerts: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{am.url}/api/v2/alerts", json=alerts, timeout=10.0)
    assert response.status_code == 200, f"Alertmanager refused the alerts: {response.text}"


def test_alertmanager_alerts_open_one_incident_and_resolve_it(tmp_path: Path) -> None:
    require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    with warroom(tmp_path / "warroom", RULES) as server, server.client() as api:
        integration = checked(
            api.post(
                "/api/v1/integrations",
                json={"name": "e2e-alertmanager", "type": "alertmanager", "service": "database"},
            ),
            201,
        )
        assert integration["url"] == f"{server.url}/api/v1/integrations/alertmanager"
        # The key as a Bearer token (http_config), so that it stays out of access logs.
        webhook, key = integration["url"], integration["key"]

        def alerts() -> list[dict[str, Any]]:
            page = checked(api.get("/api/v1/alerts", params={"integration": integration["id"]}))
            return sorted(page["items"], key=lambda a: a["labels"]["instance"])

        def incidents() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = checked(api.get("/api/v1/incidents"))["items"]
            return items

        with (
            alertmanager(tmp_path / "alertmanager", webhook, bearer=key) as am,
            logs_on_failure(server.service, am),
        ):
            services = (server.service, am)
            starts_at = rfc3339(now() - timedelta(seconds=30))

            # One alert of the group first: Alertmanager delivers it after group_wait.
            post_alerts(am, [am_alert("db-1:5432", starts_at)])
            first = wait_for(
                "the first alert to reach an incident",
                alerts,
                lambda found: len(found) == 1 and found[0]["incident"] is not None,
                timeout=DELIVERY_TIMEOUT,
                services=services,
            )[0]

            # Then the whole group, as Prometheus re-sends every firing alert: Alertmanager
            # delivers db-1 again together with db-2 (same group, same groupKey).
            post_alerts(am, [am_alert("db-1:5432", starts_at), am_alert("db-2:5432", starts_at)])
            firing = wait_for(
                "both alerts in warroom, attached",
                alerts,
                lambda found: len(found) == 2 and all(a["incident"] for a in found),
                timeout=DELIVERY_TIMEOUT,
                services=services,
            )
            db1, db2 = firing
            assert db1["id"] == first["id"]
            assert {a["status"] for a in firing} == {"triggered"}
            assert db1["incident"] == db2["incident"]
            assert db1["group_key"] and db1["group_key"] == db2["group_key"]
            # The repeated delivery of db-1 was seen (last_seen moved) but is the same firing.
            assert seen(db1, "last_seen") > seen(db1, "first_seen"), "db-1 was not re-delivered"
            assert [a["occurrences"] for a in firing] == [1, 1]
            assert db1["labels"]["alertname"] == ALERTNAME
            assert db1["severity"] == "critical"
            assert db1["details"]["summary"] == "database db-1:5432 refuses connections"

            [incident] = incidents()
            assert incident["id"] == db1["incident"]
            incident_key = incident["id"]
            assert incident["severity"] == "SEV1"
            assert incident["type"] == "service_outage"
            assert incident["services"] == ["database"]
            assert incident["status"] == "investigating"
            assert incident["title"] == "Database down: database db-1:5432 refuses connections"

            events = checked(api.get(f"/api/v1/incidents/{incident_key}/timeline"))["events"]
            kinds = [e["type"] for e in events]
            assert "declaration" in kinds, kinds
            declaration = events[kinds.index("declaration")]
            detection = events[kinds.index("alert")]
            assert kinds.index("alert") < kinds.index("declaration")
            assert detection["description"].startswith("Alert fired: database db-1:5432")
            assert declaration["source"] == "automation"
            assert RULE in declaration["description"]
            assert declaration["details"]["rule"] == RULE
            assert declaration["details"]["condition"] == {
                "alert": [f"labels.alertname = {ALERTNAME}"]
            }
            assert declaration["details"]["values"] == {"labels.alertname": ALERTNAME}
            assert declaration["details"]["alert"]["alert_id"] == db1["id"]
            joined = [e for e in events if e["details"].get("alert_id") == db2["id"]]
            assert len(joined) == 1, events
            assert joined[0]["details"]["grouped_by"] == "alertmanager_group"

            # Resolve both at the source: endsAt in the past.
            ends_at = rfc3339(now() - timedelta(seconds=1))
            post_alerts(
                am,
                [
                    am_alert("db-1:5432", starts_at, ends_at),
                    am_alert("db-2:5432", starts_at, ends_at),
                ],
            )
            resolved = wait_for(
                "both alerts resolved",
                alerts,
                lambda found: [a["status"] for a in found] == ["resolved", "resolved"],
                timeout=DELIVERY_TIMEOUT,
                services=services,
            )
            incident = wait_for(
                "the incident to move to monitoring",
                lambda: checked(api.get(f"/api/v1/incidents/{incident_key}")),
                lambda found: found["status"] == "monitoring",
                timeout=DELIVERY_TIMEOUT,
                services=services,
            )
            assert incident["resolved_at"] is None and incident["closed_at"] is None

            # Alertmanager keeps looking at the group every second: nothing more may come of
            # it — no new alert, no new occurrence, no second incident, no reopening.
            expected = [(a["id"], "resolved", 1) for a in resolved]

            def quiet(found: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> bool:
                now_alerts, now_incidents = found
                alert_states = [(a["id"], a["status"], a["occurrences"]) for a in now_alerts]
                incident_states = [(i["id"], i["status"]) for i in now_incidents]
                return alert_states == expected and incident_states == [
                    (incident_key, "monitoring")
                ]

            holds_for(
                "one incident in monitoring, two resolved alerts",
                3.0,
                lambda: (alerts(), incidents()),
                quiet,
                services=services,
            )

            events = checked(api.get(f"/api/v1/incidents/{incident_key}/timeline"))["events"]
            resolutions = [e for e in events if e["description"].startswith("Alert resolved")]
            assert sorted(e["details"]["alert_id"] for e in resolutions) == [db1["id"], db2["id"]]
            moves = [e for e in events if e["type"] == "status_change"]
            assert len(moves) == 1 and "All alerts resolved" in moves[0]["description"], moves

        # Alertmanager is stopped; the log says why if it had trouble delivering.
        assert "Notify for alerts failed" not in am.log.read_text(errors="replace"), am.tail()
