"""Alerts into incidents: grouping, auto-declaration (alert rules, counts, PromQL), upgrade,
acknowledgement and resolution — on SQLite and PostgreSQL.

Each test reads like a GoAlert smoke test: send alerts through the real API, run the
routing job, fast-forward the clock, run the rule evaluation, and expect exactly these
incidents and timeline events. The engine is off in tests: the jobs are called directly.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.alerts.models import Alert
from warroom.alerts.prometheus import PrometheusClient, PrometheusError
from warroom.alerts.routing import LAST_EVALUATION, evaluate_rules, route_alerts
from warroom.alerts.rule_models import RuleState
from warroom.clock import FakeClock
from warroom.config.alerts import AlertGrouping, AlertResolution, AutoDeclareRule, PrometheusSource
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext

# --- helpers (test_maintenance.py uses them too) ------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_integration(
    client: TestClient, admin: str, type: str, service: str, name: str | None = None
) -> str:
    r = client.post(
        "/api/v1/integrations",
        json={"name": name or f"{type}-{service}", "type": type, "service": service},
        headers=auth(admin),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def am_alert(
    alertname: str,
    *,
    value: float | None = None,
    fingerprint: str | None = None,
    status: str = "firing",
    starts_at: str = "2024-03-15T09:29:00Z",
    **labels: str,
) -> dict[str, Any]:
    annotations: dict[str, str] = {"summary": f"{alertname} firing"}
    if value is not None:
        annotations["value"] = str(value)
    return {
        "status": status,
        "labels": {"alertname": alertname, **labels},
        "annotations": annotations,
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint or f"fp-{alertname}-{sorted(labels.items())}",
    }


def am_body(*alerts: dict[str, Any], group: str = '{}:{alertname="X"}') -> dict[str, Any]:
    return {
        "receiver": "warroom",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "version": "4",
        "groupKey": group,
    }


def post_am(client: TestClient, key: str, *alerts: dict[str, Any], group: str = "g1") -> None:
    r = client.post(
        "/api/v1/integrations/alertmanager", json=am_body(*alerts, group=group), headers=auth(key)
    )
    assert r.status_code == 200, r.text


def resolve_am(client: TestClient, key: str, alert: dict[str, Any], group: str = "g1") -> None:
    resolved = {**copy.deepcopy(alert), "status": "resolved", "endsAt": "2024-03-15T11:00:00Z"}
    post_am(client, key, resolved, group=group)


def pd_event(key: str, action: str, dedup: str, **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": key, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {
            "summary": f"{dedup} is failing",
            "source": "monitor-1",
            "severity": "critical",
            **payload,
        }
    return body


def post_pd(client: TestClient, body: dict[str, Any]) -> None:
    r = client.post("/v2/enqueue", json=body)
    assert r.status_code == 202, r.text


def route(ctx: AppContext) -> None:
    """Run the routing job until nothing is left to route."""
    for _ in range(100):
        if route_alerts(ctx) is None:
            return
    raise AssertionError("routing never finished")


def incidents(client: TestClient, token: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/incidents", headers=auth(token))
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda i: i["number"])


def timeline(client: TestClient, token: str, key: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def alerts(client: TestClient, token: str, query: str = "") -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/alerts{query}", headers=auth(token))
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda a: a["id"])


def with_rules(
    config: WarroomConfig, *rules: dict[str, Any], keep_examples: bool = False, **update: Any
) -> WarroomConfig:
    parsed = [AutoDeclareRule.model_validate(r) for r in rules]
    existing = list(config.auto_declare) if keep_examples else []
    return config.model_copy(update={"auto_declare": existing + parsed, **update})


def rule_states(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(select(RuleState.rule, RuleState.subject)).all()
    return sorted((r.rule, r.subject) for r in rows if r.subject != LAST_EVALUATION)


# --- the seed-002 triggers of examples/auto-declare.yaml ---------------------------------

SEED_TRIGGERS = [
    # alertname, value, for, severity, type, service, rule
    ("HighErrorRate", 12.5, timedelta(minutes=5), "SEV1", "service_outage", "api-gateway",
     "error-rate-critical-alert"),
    ("HighErrorRate", 7, timedelta(minutes=15), "SEV2", "performance_degradation", "api-gateway",
     "error-rate-elevated-alert"),
    ("HighLatencyP95", 6.2, timedelta(minutes=10), "SEV2", "performance_degradation",
     "api-gateway", "latency-p95-alert"),
    ("AvailabilityLow", 93, timedelta(minutes=15), "SEV2", "service_outage", "api-gateway",
     "availability-low-alert"),
    ("AuthFailureRate", 6, timedelta(0), "SEV1", "service_outage", "auth-service",
     "auth-failure-rate-alert"),
    ("PaymentFailureRate", 1.5, timedelta(0), "SEV1", "service_outage", "payment-service",
     "payment-failures-alert"),
    ("DatabaseConnectionFailures", None, timedelta(0), "SEV1", "service_outage", "database",
     "database-connection-failures"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("alertname", "value", "wait", "severity", "type", "service", "rule"), SEED_TRIGGERS
)
def test_seed_002_triggers_declare_after_their_duration(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    clock: FakeClock,
    alertname: str,
    value: float | None,
    wait: timedelta,
    severity: str,
    type: str,
    service: str,
    rule: str,
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    labels = {"service": "database"} if alertname == "DatabaseConnectionFailures" else {}
    post_am(client, key, am_alert(alertname, value=value, **labels))
    route(ctx)
    if wait:
        assert incidents(client, api_tokens.admin) == []
        clock.advance(wait - timedelta(seconds=1))
        assert evaluate_rules(ctx) == pytest.approx(1.0)
        assert incidents(client, api_tokens.admin) == []
        clock.advance(seconds=1)
        evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["type"], incident["status"]) == (
        severity,
        type,
        "investigating",
    )
    assert service in incident["services"]
    assert incident["created_by"] == "warroom"
    assert incident["detected_at"] == "2024-03-15T09:29:00Z"  # Alertmanager's startsAt
    events = timeline(client, api_tokens.admin, incident["id"])
    declared = next(e for e in events if e["type"] == "declaration")
    assert declared["source"] == "automation"
    assert declared["description"].startswith(f"Incident declared at {severity} by rule {rule}")
    assert declared["details"]["rule"] == rule
    assert declared["details"]["alert"]["dedup_key"].startswith(f"fp-{alertname}")
    if value is not None:
        assert declared["details"]["values"]["details.value"] == str(value)
    fired = events[0]
    assert (fired["type"], fired["source"]) == ("alert", "monitoring")
    assert fired["description"].startswith(f"Alert fired: {alertname} firing")
    [listed] = alerts(client, api_tokens.admin)
    assert listed["incident"] == incident["id"]
    # Running again changes nothing.
    clock.advance(minutes=20)
    route(ctx)
    evaluate_rules(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1


@pytest.mark.parametrize(
    ("alertname", "value"),
    [("HighErrorRate", 3), ("PaymentFailureRate", 0.5), ("AuthFailureRate", 5), ("Other", 99)],
)
def test_alerts_below_the_thresholds_never_declare(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    clock: FakeClock,
    alertname: str,
    value: float,
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    post_am(client, key, am_alert(alertname, value=value))
    route(ctx)
    clock.advance(hours=1)
    assert evaluate_rules(ctx) is None
    assert incidents(client, api_tokens.admin) == []
    assert alerts(client, api_tokens.admin)[0]["incident"] is None


def test_an_alert_resolved_before_its_duration_never_declares(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    firing = am_alert("HighErrorRate", value=12)
    post_am(client, key, firing)
    route(ctx)
    assert rule_states(ctx) == [
        ("error-rate-critical-alert", "alert:1"),
        ("error-rate-elevated-alert", "alert:1"),
    ]
    assert evaluate_rules(ctx) == pytest.approx(300.0)
    clock.advance(minutes=3)
    resolve_am(client, key, firing)
    route(ctx)
    assert rule_states(ctx) == []
    clock.advance(minutes=30)
    assert evaluate_rules(ctx) is None
    assert incidents(client, api_tokens.admin) == []


def test_a_pending_rule_rechecks_the_alert_as_it_is_now(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    post_am(client, key, am_alert("HighErrorRate", value=12, starts_at="2024-03-15T09:29:00Z"))
    route(ctx)
    clock.advance(minutes=2)
    # The same alert again, with a new firing value below 10 (still above 5).
    post_am(client, key, am_alert("HighErrorRate", value=8, starts_at="2024-03-15T09:31:00Z"))
    clock.advance(minutes=3)
    evaluate_rules(ctx)
    assert incidents(client, api_tokens.admin) == []  # the SEV1 rule no longer holds
    clock.advance(minutes=10)
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV2"


def test_security_alerts_declare_restricted_security_breaches(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    am = make_integration(client, api_tokens.admin, "alertmanager", "auth-service")
    pd = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    post_am(client, am, am_alert("UnauthorizedAccessDetected", instance="bastion-1"))
    post_pd(client, pd_event(pd, "trigger", "exfil-1", **{"class": "data_exfiltration"}))
    route(ctx)
    found = incidents(client, api_tokens.admin)
    assert [(i["severity"], i["type"], i["restricted"]) for i in found] == [
        ("SEV1", "security_breach", True),
        ("SEV1", "security_breach", True),
    ]
    assert found[0]["title"] == "Security alert: UnauthorizedAccessDetected firing"
    rules_fired = [
        next(e for e in timeline(client, api_tokens.admin, i["id"]) if e["type"] == "declaration")[
            "details"
        ]["rule"]
        for i in found
    ]
    assert rules_fired == ["security-alert", "security-event"]
    # Invisible to everyone not working them, alerts included.
    assert incidents(client, api_tokens.viewer) == []
    assert incidents(client, api_tokens.responder) == []
    assert alerts(client, api_tokens.viewer) == []
    assert len(alerts(client, api_tokens.admin)) == 2


# --- grouping -----------------------------------------------------------------------------


def test_alerts_of_one_alertmanager_group_join_one_incident(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    group = '{}/{severity="critical"}:{alertname="DatabaseConnectionFailures"}'
    post_am(
        client,
        key,
        am_alert("DatabaseConnectionFailures", instance="db-1"),
        am_alert("DatabaseConnectionFailures", instance="db-2"),
        group=group,
    )
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["services"] == ["database"]
    # Outside the service window, only the group still joins.
    clock.advance(minutes=45)
    post_am(client, key, am_alert("ReplicationLag", instance="db-3"), group=group)
    post_am(client, key, am_alert("ReplicationLag", instance="db-4"), group="another-group")
    route(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1
    by_instance = {a["labels"]["instance"]: a["incident"] for a in alerts(client, api_tokens.admin)}
    assert by_instance == {"db-1": "INC-1", "db-2": "INC-1", "db-3": "INC-1", "db-4": None}
    joins = [
        e
        for e in timeline(client, api_tokens.admin, "INC-1")
        if e["description"].endswith("joined")
    ]
    assert [(e["details"]["grouped_by"], e["type"], e["source"]) for e in joins] == [
        ("alertmanager_group", "alert", "monitoring"),
        ("alertmanager_group", "alert", "monitoring"),
    ]
    # db-2 also made the rule fire: the join says so (no upgrade, no second incident).
    assert joins[0]["details"]["rule"] == "database-connection-failures"
    assert "rule" not in joins[1]["details"]
    assert (
        joins[1]["description"]
        == "Alert ReplicationLag firing (fp-ReplicationLag-[('instance', 'db-3')]) joined"
    )
    assert joins[1]["details"]["group"] == group


def test_an_explicit_incident_key_joins_across_services(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock, config: WarroomConfig
) -> None:
    ctx.config = with_rules(
        config,
        {"name": "checkout", "when": {"alert": [{"field": "details.team", "equals": "checkout"}]},
         "declare": {"severity": "SEV3"}},
    )  # fmt: skip
    payments = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    search = make_integration(client, api_tokens.admin, "pagerduty", "search")
    post_pd(
        client,
        pd_event(
            payments, "trigger", "a", custom_details={"team": "checkout", "incident_key": "K-1"}
        ),
    )
    route(ctx)
    clock.advance(hours=2)
    post_pd(client, pd_event(search, "trigger", "b", custom_details={"incident_key": "K-1"}))
    post_pd(client, pd_event(search, "trigger", "c", custom_details={"incident_key": "K-2"}))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["services"] == ["payment-service", "search"]
    assert {a["dedup_key"]: a["incident"] for a in alerts(client, api_tokens.admin)} == {
        "a": "INC-1",
        "b": "INC-1",
        "c": None,
    }
    events = timeline(client, api_tokens.admin, "INC-1")
    joined = next(e for e in events if e["description"].endswith("joined"))
    assert (joined["details"]["grouped_by"], joined["details"]["group"]) == ("incident_key", "K-1")
    added = next(e for e in events if e["description"] == "Service search added to the incident")
    assert added["source"] == "automation"


def test_same_service_joins_within_the_window_and_not_a_second_after(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    # A person declares; monitoring alerts of the service gather under it.
    r = client.post(
        "/api/v1/incidents",
        json={"title": "Search is slow", "severity": "SEV3", "services": ["search"]},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 201
    key = make_integration(client, api_tokens.admin, "pagerduty", "search")
    other = make_integration(client, api_tokens.admin, "pagerduty", "web-app")
    clock.advance(minutes=30)
    post_pd(client, pd_event(key, "trigger", "at-the-edge"))
    post_pd(client, pd_event(other, "trigger", "other-service"))
    route(ctx)
    clock.advance(seconds=1)
    post_pd(client, pd_event(key, "trigger", "one-second-late"))
    route(ctx)
    assert {a["dedup_key"]: a["incident"] for a in alerts(client, api_tokens.admin)} == {
        "at-the-edge": "INC-1",
        "other-service": None,
        "one-second-late": None,
    }
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["status"]) == ("SEV3", "investigating")


def test_grouping_can_be_turned_off(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, config: WarroomConfig
) -> None:
    ctx.config = config.model_copy(
        update={"alert_grouping": AlertGrouping(by_service=False, by_alertmanager_group=False)}
    )
    client.post(
        "/api/v1/incidents",
        json={"title": "Search is slow", "severity": "SEV3", "services": ["search"]},
        headers=auth(api_tokens.responder),
    )
    key = make_integration(client, api_tokens.admin, "pagerduty", "search")
    post_pd(client, pd_event(key, "trigger", "x"))
    route(ctx)
    assert alerts(client, api_tokens.admin)[0]["incident"] is None


# --- upgrade ------------------------------------------------------------------------------


def test_a_more_severe_rule_upgrades_the_incident_the_alert_joined(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    client.post(
        "/api/v1/incidents",
        json={"title": "Database is slow", "severity": "SEV3", "services": ["database"]},
        headers=auth(api_tokens.responder),
    )
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    clock.advance(minutes=2)
    post_am(client, key, am_alert("DatabaseConnectionFailures", instance="db-1"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV1"
    assert incident["declared_at"] == "2024-03-15T09:30:00Z"  # the person's incident
    events = timeline(client, api_tokens.admin, "INC-1")
    upgrade = next(e for e in events if e["type"] == "escalation")
    assert upgrade["description"] == (
        "Upgraded from SEV3 to SEV1: rule database-connection-failures fired: "
        "labels.alertname=DatabaseConnectionFailures"
    )
    assert upgrade["source"] == "automation"
    assert upgrade["details"]["rule"] == "database-connection-failures"
    assert upgrade["details"]["condition"] == {
        "alert": ["labels.alertname = DatabaseConnectionFailures"]
    }
    assert upgrade["details"]["alert"]["alert_id"] == 1
    # A less severe rule never downgrades.
    post_am(client, key, am_alert("AvailabilityLow", value=90, instance="db-2"))
    route(ctx)
    clock.advance(minutes=15)
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV1"
    assert (
        sum(
            e["type"] in ("escalation", "severity_change")
            for e in timeline(client, api_tokens.admin, "INC-1")
        )
        == 1
    )


def test_a_pending_rule_upgrades_when_its_duration_ends(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    client.post(
        "/api/v1/incidents",
        json={"title": "Errors", "severity": "SEV3", "services": ["api-gateway"]},
        headers=auth(api_tokens.responder),
    )
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    post_am(client, key, am_alert("HighErrorRate", value=14))
    route(ctx)
    assert alerts(client, api_tokens.admin)[0]["incident"] == "INC-1"
    clock.advance(minutes=5)
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV1"
    clock.advance(minutes=10)
    evaluate_rules(ctx)  # the SEV2 rule's 15 minutes end: nothing more to do
    assert rule_states(ctx) == []
    assert incidents(client, api_tokens.admin)[0]["severity"] == "SEV1"


# --- acknowledge and resolve ------------------------------------------------------------


def test_acknowledging_at_the_source_acknowledges_the_incident(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service", "pd-pay")
    post_pd(client, pd_event(key, "trigger", "pay-1", **{"class": "unauthorized_access"}))
    route(ctx)
    clock.advance(minutes=3)
    post_pd(client, pd_event(key, "acknowledge", "pay-1"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["acknowledged_at"] == "2024-03-15T09:33:00Z"
    ack = next(
        e
        for e in timeline(client, api_tokens.admin, incident["id"])
        if e["type"] == "acknowledgement"
    )
    assert (ack["actor"], ack["source"]) == ("pd-pay", "monitoring")
    assert ack["description"] == "Acknowledged at the source: pay-1 is failing (pay-1)"


def test_an_alert_acknowledged_before_routing_still_declares_and_acknowledges(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    post_pd(client, pd_event(key, "trigger", "pay-1", **{"class": "data_exfiltration"}))
    post_pd(client, pd_event(key, "acknowledge", "pay-1"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["acknowledged_at"] is not None


def test_when_every_alert_resolves_the_incident_moves_to_monitoring_never_closed(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    one = am_alert("DatabaseConnectionFailures", instance="db-1")
    two = am_alert("DatabaseConnectionFailures", instance="db-2")
    post_am(client, key, one, two)
    route(ctx)
    clock.advance(minutes=10)
    resolve_am(client, key, one)
    route(ctx)
    assert incidents(client, api_tokens.admin)[0]["status"] == "investigating"
    clock.advance(minutes=5)
    resolve_am(client, key, two)
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["status"], incident["mitigated_at"]) == ("monitoring", "2024-03-15T09:45:00Z")
    events = timeline(client, api_tokens.admin, "INC-1")
    moved = events[-1]
    assert (moved["description"], moved["source"], moved["actor"]) == (
        "Status changed to monitoring: All alerts resolved",
        "automation",
        "warroom",
    )
    resolved_events = [e for e in events if e["description"].startswith("Alert resolved")]
    assert len(resolved_events) == 2
    # Nothing moves it further, however long it stays quiet.
    clock.advance(days=2)
    route(ctx)
    evaluate_rules(ctx)
    assert incidents(client, api_tokens.admin)[0]["status"] == "monitoring"


def test_a_manually_declared_incident_is_not_moved_by_its_alerts(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    client.post(
        "/api/v1/incidents",
        json={"title": "Database is slow", "severity": "SEV2", "services": ["database"]},
        headers=auth(api_tokens.responder),
    )
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    firing = am_alert("DiskAlmostFull", instance="db-1")
    post_am(client, key, firing)
    route(ctx)
    resolve_am(client, key, firing)
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["status"] == "investigating"
    assert timeline(client, api_tokens.admin, "INC-1")[-1]["description"].startswith(
        "Alert resolved at the source"
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(AlertResolution.RESOLVED, "resolved"), (AlertResolution.NONE, "investigating")],
)
def test_alert_resolution_is_configurable(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    config: WarroomConfig,
    mode: AlertResolution,
    expected: str,
) -> None:
    ctx.config = config.model_copy(update={"alert_resolution": mode})
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    firing = am_alert("DatabaseConnectionFailures")
    post_am(client, key, firing)
    route(ctx)
    resolve_am(client, key, firing)
    route(ctx)
    assert incidents(client, api_tokens.admin)[0]["status"] == expected


def test_an_incident_resolved_in_a_batch_takes_no_later_alert_of_that_batch(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, config: WarroomConfig
) -> None:
    """A batch remembers which incidents are open for grouping; one that its last alert
    resolves is forgotten at once, so that an alert routed after it in the same batch
    declares a new incident instead of joining the resolved one."""
    ctx.config = config.model_copy(update={"alert_resolution": AlertResolution.RESOLVED})
    pd = make_integration(client, api_tokens.admin, "pagerduty", "web-app")
    am = make_integration(client, api_tokens.admin, "alertmanager", "database")
    post_pd(client, pd_event(pd, "trigger", "quiet"))  # matches no rule, joins nothing
    one = am_alert("DatabaseConnectionFailures", instance="db-1")
    post_am(client, am, one)
    route(ctx)
    assert [i["status"] for i in incidents(client, api_tokens.admin)] == ["investigating"]

    # One batch, in this order: the quiet alert acknowledged (it looks for an incident to
    # join again), INC-1's only alert resolved, a new alert of INC-1's service and rule.
    post_pd(client, pd_event(pd, "acknowledge", "quiet"))
    resolve_am(client, am, one)
    post_am(client, am, am_alert("DatabaseConnectionFailures", instance="db-2"))
    route(ctx)
    listed = incidents(client, api_tokens.admin)
    assert [(i["number"], i["status"]) for i in listed] == [
        (1, "resolved"),
        (2, "investigating"),
    ]


def test_a_trigger_after_resolve_joins_the_incident_in_monitoring(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    post_pd(client, pd_event(key, "trigger", "sec", **{"class": "unauthorized_access"}))
    route(ctx)
    post_pd(client, pd_event(key, "resolve", "sec"))
    route(ctx)
    assert incidents(client, api_tokens.admin)[0]["status"] == "monitoring"
    clock.advance(minutes=5)
    post_pd(client, pd_event(key, "trigger", "sec", **{"class": "unauthorized_access"}))
    route(ctx)
    # Same rule, same service, still open: no second incident.
    assert len(incidents(client, api_tokens.admin)) == 1
    assert [a["incident"] for a in alerts(client, api_tokens.admin)] == ["INC-1", "INC-1"]


# --- alert counts -------------------------------------------------------------------------


def test_support_ticket_spike_declares_once_the_minimum_is_reached(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    tickets = make_integration(client, api_tokens.admin, "report", "web-app", "support-desk")
    for n in range(4):
        post_pd(client, pd_event(tickets, "trigger", f"ticket-{n}", severity="warning"))
        route(ctx)
        clock.advance(minutes=2)
    assert incidents(client, api_tokens.admin) == []
    post_pd(client, pd_event(tickets, "trigger", "ticket-4", severity="warning"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["title"], incident["services"]) == (
        "SEV2",
        "Support ticket spike",
        ["web-app"],
    )
    declared = next(
        e for e in timeline(client, api_tokens.admin, "INC-1") if e["type"] == "declaration"
    )
    assert declared["details"]["rule"] == "support-ticket-spike"
    assert declared["details"]["values"]["count"] == 5
    # More tickets gather under it.
    post_pd(client, pd_event(tickets, "trigger", "ticket-5", severity="warning"))
    route(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1
    assert alerts(client, api_tokens.admin)[-1]["incident"] == "INC-1"


def test_a_spike_is_measured_against_the_baseline(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock, config: WarroomConfig
) -> None:
    ctx.config = with_rules(
        config,
        {"name": "spike", "when": {"alert_count": {"integration_type": "report", "within": "15m",
         "above_baseline": 3, "baseline": "1h", "minimum": 2}}, "declare": {"severity": "SEV2"}},
        alert_grouping=AlertGrouping(by_service=False),
    )  # fmt: skip
    tickets = make_integration(client, api_tokens.admin, "report", "web-app")
    # The hour before the window: 8 tickets, 2 per quarter hour on average.
    for n in range(8):
        post_pd(client, pd_event(tickets, "trigger", f"old-{n}"))
        clock.advance(minutes=5)
    route(ctx)
    assert incidents(client, api_tokens.admin) == []
    clock.advance(minutes=16)
    # Now 6 in the window: 3x the average of 2, not above it.
    for n in range(6):
        post_pd(client, pd_event(tickets, "trigger", f"new-{n}"))
        clock.advance(seconds=30)
    route(ctx)
    assert incidents(client, api_tokens.admin) == []
    post_pd(client, pd_event(tickets, "trigger", "new-6"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["services"]) == ("SEV2", ["web-app"])
    declared = next(
        e for e in timeline(client, api_tokens.admin, "INC-1") if e["type"] == "declaration"
    )
    assert declared["details"]["values"] == {
        "count": 7,
        "baseline_count": 8,
        "baseline_average_per_window": 2.0,
        "threshold": 6.0,
    }
    # Once per window.
    post_pd(client, pd_event(tickets, "trigger", "new-7"))
    route(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1


# --- PromQL -------------------------------------------------------------------------------


class FakePrometheus:
    """A real HTTP server on 127.0.0.1 answering `/api/v1/query` with a set vector."""

    def __init__(self) -> None:
        self.series: list[tuple[dict[str, str], str]] = []
        self.queries: list[dict[str, list[str]]] = []
        self.answer: tuple[int, Any] | None = None  # overrides the vector
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                fake.queries.append(parse_qs(url.query))
                at = float(parse_qs(url.query)["time"][0])
                status, body = fake.answer or (
                    200,
                    {
                        "status": "success",
                        "data": {
                            "resultType": "vector",
                            "result": [
                                {"metric": labels, "value": [at, value]}
                                for labels, value in fake.series
                            ],
                        },
                    },
                )
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    with FakePrometheus() as fake:
        yield fake


def promql_config(config: WarroomConfig, url: str, *names: str) -> WarroomConfig:
    chosen = [r for r in config.auto_declare if r.name in names]
    assert len(chosen) == len(names)
    return config.model_copy(
        update={"auto_declare": chosen, "prometheus": PrometheusSource(url=url, timeout=2)}
    )


def test_promql_rule_holds_for_its_duration_then_declares_once(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    clock: FakeClock,
    config: WarroomConfig,
    prometheus: FakePrometheus,
) -> None:
    ctx.config = promql_config(config, prometheus.url, "error-rate-critical")
    prometheus.series = [({"service": "api-gateway"}, "12.5")]
    assert evaluate_rules(ctx) == pytest.approx(30.0)  # the next regular evaluation
    query = prometheus.queries[0]
    assert query["query"][0].startswith("sum by (service)")
    assert float(query["time"][0]) == clock.now().timestamp()
    clock.advance(minutes=4, seconds=59)
    assert evaluate_rules(ctx) == pytest.approx(1.0)  # the series' `for` ends in a second
    assert incidents(client, api_tokens.admin) == []
    clock.advance(seconds=1)
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["type"], incident["services"], incident["title"]) == (
        "SEV1",
        "service_outage",
        ["api-gateway"],
        "Error rate above 10% on api-gateway",
    )
    assert incident["detected_at"] == "2024-03-15T09:30:00Z"  # when the condition began
    events = timeline(client, api_tokens.admin, "INC-1")
    began, declared = events[0], events[1]
    assert began["type"] == "alert" and began["details"]["series"]["labels"] == {
        "service": "api-gateway"
    }
    assert declared["details"]["rule"] == "error-rate-critical"
    assert declared["details"]["query"].startswith("sum by (service)")
    assert declared["details"]["series"] == {"labels": {"service": "api-gateway"}, "value": 12.5}
    assert declared["details"]["values"]["value"] == 12.5
    assert declared["details"]["condition"]["for"] == "5 minutes"
    # Still holding: nothing more.
    clock.advance(minutes=1)
    evaluate_rules(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1
    # The series goes away: its state goes, the incident is left to people.
    prometheus.series = []
    clock.advance(minutes=1)
    evaluate_rules(ctx)
    assert rule_states(ctx) == []
    assert incidents(client, api_tokens.admin)[0]["status"] == "investigating"
    # It comes back and holds again: the rule fires into its open incident.
    prometheus.series = [({"service": "api-gateway"}, "15")]
    for _ in range(11):
        clock.advance(seconds=30)
        evaluate_rules(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1
    again = timeline(client, api_tokens.admin, "INC-1")[-1]
    assert again["description"].startswith("Rule error-rate-critical fired for {service=")
    assert again["details"]["grouped_by"] == "rule"


def test_each_series_is_its_own_subject(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    config: WarroomConfig,
    prometheus: FakePrometheus,
) -> None:
    ctx.config = promql_config(config, prometheus.url, "database-connection-failures-promql")
    prometheus.series = [({"service": "database"}, "3"), ({"service": "search"}, "1")]
    evaluate_rules(ctx)
    found = incidents(client, api_tokens.admin)
    assert [(i["services"], i["title"]) for i in found] == [
        (["database"], "Database connection failures on database"),
        (["search"], "Database connection failures on search"),
    ]


def test_a_promql_rule_upgrades_an_incident_of_its_service(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    config: WarroomConfig,
    prometheus: FakePrometheus,
) -> None:
    client.post(
        "/api/v1/incidents",
        json={"title": "Card errors", "severity": "SEV3", "services": ["payment-service"]},
        headers=auth(api_tokens.responder),
    )
    ctx.config = promql_config(config, prometheus.url, "payment-failures")
    prometheus.series = [({}, "2.5")]
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV1"
    upgrade = next(
        e for e in timeline(client, api_tokens.admin, "INC-1") if e["type"] == "escalation"
    )
    assert (
        upgrade["description"]
        == "Upgraded from SEV3 to SEV1: rule payment-failures fired: value=2.5"
    )


def test_unreachable_prometheus_is_logged_and_state_kept(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    clock: FakeClock,
    config: WarroomConfig,
    prometheus: FakePrometheus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx.config = promql_config(config, prometheus.url, "error-rate-critical", "error-rate-elevated")
    prometheus.series = [({"service": "api-gateway"}, "12.5")]
    evaluate_rules(ctx)
    assert rule_states(ctx) != []
    before = rule_states(ctx)
    # Prometheus goes away (nothing listens on the port any more).
    prometheus.server.shutdown()
    prometheus.server.server_close()
    clock.advance(minutes=5)
    with caplog.at_level(logging.WARNING, logger="warroom.routing"):
        assert evaluate_rules(ctx) == pytest.approx(30.0)  # tries again next interval
    assert "PromQL rule error-rate-critical not evaluated" in caplog.text
    assert "unreachable" in caplog.text
    # One unreachable answer is enough: the other rules do not each wait for a timeout.
    assert caplog.text.count("not evaluated") == 1
    assert rule_states(ctx) == before
    assert incidents(client, api_tokens.admin) == []


def test_prometheus_errors_are_clear(prometheus: FakePrometheus) -> None:
    at = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)
    with PrometheusClient(prometheus.url, timeout=2) as client:
        prometheus.answer = (
            400,
            {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"},
        )
        with pytest.raises(PrometheusError, match="bad_data: parse error at char 4"):
            client.query("sum(", at=at)
        prometheus.answer = (
            200,
            {"status": "success", "data": {"resultType": "scalar", "result": [0, "1"]}},
        )
        with pytest.raises(PrometheusError, match="needs an instant vector"):
            client.query("1", at=at)
        prometheus.answer = (
            200,
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "x"]}]},
            },
        )
        with pytest.raises(PrometheusError, match="not a number"):
            client.query("up", at=at)
        prometheus.answer = None
        prometheus.series = [({"job": "api"}, "NaN")]
        [sample] = client.query("up", at=at)
        assert sample.labels == {"job": "api"}


def test_without_a_prometheus_url_promql_rules_are_skipped(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    assert ctx.config.prometheus is None
    with caplog.at_level(logging.INFO, logger="warroom.routing"):
        assert evaluate_rules(ctx) is None
    assert rule_states(ctx) == []


# --- batches and engines ----------------------------------------------------------------


def test_routing_in_small_batches_gives_the_same_result(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    post_am(
        client, key, *[am_alert("DatabaseConnectionFailures", instance=f"db-{n}") for n in range(5)]
    )
    assert route_alerts(ctx, limit=2) == 0.0  # a full batch: run again at once
    assert route_alerts(ctx, limit=2) == 0.0
    assert route_alerts(ctx, limit=2) is None
    assert route_alerts(ctx, limit=2) is None
    assert len(incidents(client, api_tokens.admin)) == 1
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(select(Alert.routed_at, Alert.incident_id)).all()
    assert len(rows) == 5
    assert all(r.routed_at is not None and r.incident_id == 1 for r in rows)


def test_one_failing_alert_does_not_hold_up_the_others(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from warroom.alerts import routing

    original = routing.Routing.on_open

    def poisoned(self: routing.Routing, alert: Alert) -> None:
        if alert.dedup_key == "poison":
            raise RuntimeError("boom")
        original(self, alert)

    monkeypatch.setattr(routing.Routing, "on_open", poisoned)
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    post_pd(client, pd_event(key, "trigger", "poison", **{"class": "data_exfiltration"}))
    post_pd(client, pd_event(key, "trigger", "fine", **{"class": "data_exfiltration"}))
    with caplog.at_level(logging.WARNING, logger="warroom.routing"):
        route(ctx)
    assert "routing alert 1 failed" in caplog.text
    assert {a["dedup_key"]: a["incident"] for a in alerts(client, api_tokens.admin)} == {
        "poison": None,
        "fine": "INC-1",
    }
    assert route_alerts(ctx) is None  # nothing left unrouted


def test_two_engines_routing_at_once_declare_one_incident(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    for n in range(4):
        post_am(
            client,
            key,
            *[am_alert("DatabaseConnectionFailures", instance=f"db-{n}-{m}") for m in range(25)],
            group=f"group-{n}",
        )
    errors: list[BaseException] = []

    def engine() -> None:
        try:
            while route_alerts(ctx, limit=10) is not None:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=engine) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(incidents(client, api_tokens.admin)) == 1
    assert {a["incident"] for a in alerts(client, api_tokens.admin, "?limit=500")} == {"INC-1"}
    joined = [
        e
        for e in timeline(client, api_tokens.admin, "INC-1")
        if e["description"].endswith("joined")
    ]
    assert len(joined) == 99
