"""Alerts in: PagerDuty Events v2 and Alertmanager, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from warroom.alerts.models import Alert
from warroom.clock import FakeClock
from warroom.context import AppContext


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_integration(client: TestClient, admin: str, type: str, name: str | None = None) -> dict:
    r = client.post(
        "/api/v1/integrations",
        json={"name": name or f"{type}-payments", "type": type, "service": "payment-service"},
        headers=auth(admin),
    )
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def pd_key(client: TestClient, api_tokens: Tokens) -> str:
    return str(make_integration(client, api_tokens.admin, "pagerduty")["key"])


def trigger(key: str, dedup: str | None = "srv01/mysql", **payload: object) -> dict:
    body: dict = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {
            "summary": "DISK at 99% on machine prod-datapipe03.example.com",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "severity": "critical",
            "source": "prod-datapipe03.example.com",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
            **payload,
        },
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.service.com",
        "links": [{"href": "http://pagerduty.example.com", "text": "An example link."}],
    }
    if dedup is not None:
        body["dedup_key"] = dedup
    return body


def alerts(client: TestClient, token: str, query: str = "") -> list[dict]:
    r = client.get(f"/api/v1/alerts{query}", headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_pd_trigger_dedup_ack_resolve_and_retrigger(
    client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    r = client.post("/v2/enqueue", json=trigger(pd_key))
    assert r.status_code == 202
    assert r.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "srv01/mysql",
    }
    clock.advance(minutes=1)
    client.post("/v2/enqueue", json=trigger(pd_key, summary="DISK at 100%"))
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["occurrences"] == 2
    assert alert["summary"] == "DISK at 100%"
    assert alert["status"] == "triggered"
    assert (
        alert["first_seen"] == "2024-03-15T09:30:00Z"
    )  # the source's 2015 timestamp is not "first seen"
    assert alert["last_seen"] == "2024-03-15T09:31:00Z"
    assert alert["service"] == "payment-service"
    detail = client.get(f"/api/v1/alerts/{alert['id']}", headers=auth(api_tokens.viewer)).json()
    assert detail["payload"]["client"] == "Sample Monitoring Service"
    assert detail["details"] == {"free space": "1%", "ping time": "1500ms", "load avg": 0.75}

    ack = {"routing_key": pd_key, "dedup_key": "srv01/mysql", "event_action": "acknowledge"}
    assert client.post("/v2/enqueue", json=ack).status_code == 202
    assert alerts(client, api_tokens.viewer)[0]["status"] == "acknowledged"
    resolve = {**ack, "event_action": "resolve"}
    assert client.post("/v2/enqueue", json=resolve).status_code == 202
    assert alerts(client, api_tokens.viewer)[0]["status"] == "resolved"
    # Ack and resolve of something no longer open are accepted and dropped, as PagerDuty does.
    assert client.post("/v2/enqueue", json=resolve).status_code == 202
    assert client.post("/v2/enqueue", json=ack).status_code == 202
    # A trigger after resolve opens a new alert.
    client.post("/v2/enqueue", json=trigger(pd_key))
    listed = alerts(client, api_tokens.viewer)
    assert [a["status"] for a in listed] == ["triggered", "resolved"]
    assert listed[0]["occurrences"] == 1
    assert [a["id"] for a in alerts(client, api_tokens.viewer, "?status=resolved")] == [
        listed[1]["id"]
    ]
    assert len(alerts(client, api_tokens.viewer, "?dedup_key=srv01/mysql")) == 2


def test_pd_generates_a_dedup_key_when_absent(
    client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    r = client.post("/v2/enqueue", json=trigger(pd_key, dedup=None))
    assert r.status_code == 202
    key = r.json()["dedup_key"]
    assert len(key) == 32
    assert alerts(client, api_tokens.viewer)[0]["dedup_key"] == key


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b.pop("routing_key"), "'routing_key' is missing or blank"),
        (
            lambda b: b.update(routing_key="short"),
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        ),
        (lambda b: b.update(event_action="explode"), "'event_action' is invalid"),
        (lambda b: b.pop("event_action"), "'event_action' is missing or blank"),
        (lambda b: b.pop("payload"), "'payload' is missing or blank"),
        (lambda b: b["payload"].pop("summary"), "'payload.summary' is missing or blank"),
        (lambda b: b["payload"].pop("source"), "'payload.source' is missing or blank"),
        (lambda b: b["payload"].update(severity="apocalyptic"), "'payload.severity' is invalid"),
        (lambda b: b["payload"].update(timestamp="yesterday"), "'payload.timestamp' is invalid"),
        (lambda b: b.update(dedup_key="x" * 256), "'dedup_key' is too long"),
        (
            lambda b: b.update(event_action="resolve", dedup_key=""),
            "'dedup_key' is missing or blank",
        ),
        (lambda b: b.update(routing_key="0" * 32), "Invalid routing key"),
    ],
)
def test_pd_invalid_events_are_400_in_pagerdutys_shape(
    ctx: AppContext, client: TestClient, pd_key: str, mutate: object, error: str
) -> None:
    body = copy.deepcopy(trigger(pd_key))
    mutate(body)  # type: ignore[operator]
    r = client.post("/v2/enqueue", json=body)
    assert r.status_code == 400
    answer = r.json()
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert any(e.startswith(error) for e in answer["errors"]), answer
    with ctx.db.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_pd_unparseable_and_oversized_bodies(client: TestClient, pd_key: str) -> None:
    r = client.post("/v2/enqueue", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {
        "status": "Unrecognized object",
        "message": "Event object format is unrecognized",
        "errors": ["JSON parse error"],
    }
    big = trigger(pd_key, custom_details={"blob": "x" * (512 * 1024)})
    r = client.post(
        "/v2/enqueue",
        content=json.dumps(big).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413


AM_BODY = {
    "receiver": "warroom",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "InstanceDown",
                "instance": "127.0.0.1:9090",
                "job": "prometheus",
                "severity": "critical",
            },
            "annotations": {"summary": "Instance 127.0.0.1:9090 down"},
            "startsAt": "2024-03-15T09:29:08.326990857Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph",
            "fingerprint": "791cec13fcba0368",
        },
        {
            "status": "firing",
            "labels": {"alertname": "InstanceDown", "instance": "127.0.0.1:9100", "job": "node"},
            "annotations": {},
            "startsAt": "2024-03-15T09:29:10Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "aaaabbbbccccdddd",
        },
    ],
    "groupLabels": {"alertname": "InstanceDown"},
    "commonLabels": {"alertname": "InstanceDown"},
    "commonAnnotations": {},
    "externalURL": "http://am:9093",
    "version": "4",
    "groupKey": '{}:{alertname="InstanceDown"}',
    "truncatedAlerts": 0,
    "notification_reason": "first notification",
    "routeLabels": {"team": "sre"},
    "someFutureField": {"ignored": True},
}


def test_alertmanager_firing_repeat_and_resolve(client: TestClient, api_tokens: Tokens) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager")["key"]
    r = client.post("/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"] == {"created": 2}
    # Alertmanager redelivers the same group (repeat interval, HA peers): nothing changes.
    r = client.post(f"/api/v1/integrations/alertmanager?key={key}", json=AM_BODY)
    assert r.json()["outcomes"] == {"duplicate": 2}
    listed = alerts(client, api_tokens.viewer)
    assert {a["dedup_key"]: a["occurrences"] for a in listed} == {
        "791cec13fcba0368": 1,
        "aaaabbbbccccdddd": 1,
    }
    down = next(a for a in listed if a["dedup_key"] == "791cec13fcba0368")
    assert down["summary"] == "Instance 127.0.0.1:9090 down"
    assert down["severity"] == "critical"
    assert down["labels"]["alertname"] == "InstanceDown"
    assert down["group_key"] == '{}:{alertname="InstanceDown"}'
    other = next(a for a in listed if a["dedup_key"] == "aaaabbbbccccdddd")
    assert other["summary"] == "InstanceDown on 127.0.0.1:9100"

    resolved = copy.deepcopy(AM_BODY)
    resolved["status"] = "resolved"
    resolved["alerts"] = resolved["alerts"][:1]
    resolved["alerts"][0].update(status="resolved", endsAt="2024-03-15T09:40:00Z")
    r = client.post("/api/v1/integrations/alertmanager", json=resolved, headers=auth(key))
    assert r.json()["outcomes"] == {"resolved": 1}
    # A late copy of the old firing (an HA peer) must not reopen what was resolved.
    r = client.post("/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(key))
    assert r.json()["outcomes"] == {"dropped": 1, "duplicate": 1}
    statuses = {a["dedup_key"]: a["status"] for a in alerts(client, api_tokens.viewer)}
    assert statuses == {"791cec13fcba0368": "resolved", "aaaabbbbccccdddd": "triggered"}
    # A new firing of the same alert (new startsAt) opens a new alert.
    refire = copy.deepcopy(AM_BODY)
    refire["alerts"][0]["startsAt"] = "2024-03-15T10:00:00Z"
    r = client.post("/api/v1/integrations/alertmanager", json=refire, headers=auth(key))
    assert r.json()["outcomes"] == {"created": 1, "duplicate": 1}


def test_alertmanager_needs_its_key_and_a_valid_body(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager")["key"]
    pd = make_integration(client, api_tokens.admin, "pagerduty")["key"]
    assert client.post("/api/v1/integrations/alertmanager", json=AM_BODY).status_code == 401
    # A key of another kind of integration is not an Alertmanager key.
    assert (
        client.post("/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(pd)).status_code
        == 401
    )
    r = client.post("/api/v1/integrations/alertmanager", json={"alerts": "nope"}, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "alerts"
    bad = copy.deepcopy(AM_BODY)
    bad["alerts"][1]["status"] = "sideways"
    r = client.post("/api/v1/integrations/alertmanager", json=bad, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "alerts.1.status"
    assert alerts(client, api_tokens.viewer) == []


def test_integrations_are_admin_only_and_name_their_url(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post(
        "/api/v1/integrations",
        json={"name": "x", "type": "pagerduty", "service": "payment-service"},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 403
    made = make_integration(client, api_tokens.admin, "pagerduty")
    assert made["url"].endswith("/v2/enqueue") and len(made["key"]) == 32
    r = client.post(
        "/api/v1/integrations",
        json={"name": "y", "type": "pagerduty", "service": "nope"},
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "service"
