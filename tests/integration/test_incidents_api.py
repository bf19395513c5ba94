"""The incident API end to end through the app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.incidents.models import Incident
from warroom.timeline.models import TimelineEvent


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def declare(client: TestClient, token: str, **body: object) -> dict:
    payload = {
        "title": "Payment processing failing",
        "severity": "SEV2",
        "services": ["payment-service"],
    }
    payload.update(body)
    response = client.post("/api/v1/incidents", json=payload, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()


def events(client: TestClient, token: str, key: str) -> list[dict]:
    response = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_a_whole_incident_from_declaration_to_close(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.jane
    incident = declare(client, t, commander="jane.smith")
    key = incident["id"]
    assert key.startswith("INC-")
    assert incident["status"] == "investigating"
    assert incident["roles"] == {"incident_commander": "jane.smith"}
    assert incident["declared_at"] == "2024-03-15T09:30:00Z"

    clock.advance(minutes=4)
    acked = client.post(f"/api/v1/incidents/{key}/ack", headers=auth(t)).json()
    assert acked["acknowledged_at"] == "2024-03-15T09:34:00Z"

    clock.advance(minutes=11)
    r = client.post(
        f"/api/v1/incidents/{key}/severity",
        json={"severity": "SEV1", "reason": "Error rate exceeded 25%, affecting checkout"},
        headers=auth(t),
    )
    assert r.status_code == 200 and r.json()["severity"] == "SEV1"

    for role, user in (("technical_lead", "mike.chen"), ("communications_lead", "sarah.lee")):
        r = client.put(
            f"/api/v1/incidents/{key}/roles/{role}", json={"user": user}, headers=auth(t)
        )
        assert r.status_code == 200, r.text
    r = client.put(
        f"/api/v1/incidents/{key}/roles/incident_commander",
        json={"user": "bob.wilson"},
        headers=auth(t),
    )
    assert r.json()["roles"]["incident_commander"] == "bob.wilson"

    clock.advance(minutes=30)
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={
            "type": "investigation",
            "description": "Database connection pool exhaustion identified",
            "details": {"finding": "Connection leak in payment-service v2.3.1"},
        },
        headers=auth(t),
    )
    assert r.status_code == 201, r.text
    client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "message": "Connection leak in v2.3.1", "public": True},
        headers=auth(t),
    )
    clock.advance(minutes=35)
    mon = client.post(
        f"/api/v1/incidents/{key}/status", json={"status": "monitoring"}, headers=auth(t)
    )
    assert mon.json()["mitigated_at"] == "2024-03-15T10:50:00Z"
    clock.advance(hours=3, minutes=40)
    # Jane handed command to Bob: resolving is the commander's call now (docs/incidents.md).
    refused = client.post(
        f"/api/v1/incidents/{key}/status", json={"status": "resolved"}, headers=auth(t)
    )
    assert refused.status_code == 403
    assert "Incident Commander (bob.wilson)" in refused.json()["error"]["message"]
    res = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "resolved", "message": "Rolled back to v2.3.0"},
        headers=auth(api_tokens.bob),
    ).json()
    assert res["resolved_at"] == "2024-03-15T14:30:00Z"
    assert res["duration_seconds"] == 5 * 3600
    clock.advance(days=1)
    closed = client.post(
        f"/api/v1/incidents/{key}/status", json={"status": "closed"}, headers=auth(api_tokens.bob)
    )
    assert closed.json()["status"] == "closed"

    timeline = events(client, t, key)
    assert [e["type"] for e in timeline] == [
        "declaration",
        "role_change",
        "acknowledgement",
        "escalation",
        "role_change",
        "role_change",
        "role_change",
        "investigation",
        "status_change",
        "status_change",
        "resolution",
        "status_change",
    ]
    assert [e["actor"] for e in timeline] == ["jane.smith"] * 10 + ["bob.wilson"] * 2
    upgrade = timeline[3]
    assert upgrade["details"] == {
        "previous_severity": "SEV2",
        "new_severity": "SEV1",
        "reason": "Error rate exceeded 25%, affecting checkout",
    }
    assert (
        timeline[6]["description"] == "Incident Commander reassigned from jane.smith to bob.wilson"
    )
    assert timeline[8]["details"]["public"] is True

    md = client.get(f"/api/v1/incidents/{key}/timeline?format=markdown", headers=auth(t))
    assert md.headers["content-type"].startswith("text/markdown")
    text = md.text
    assert text.index("DECLARATION") < text.index("ESCALATION") < text.index("RESOLUTION")
    assert "Total duration:** 300.0 minutes (5 hours)" in text


def test_refused_transitions_are_409_and_change_nothing(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)["id"]
    r = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "closed"},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"
    assert "only a resolved incident can be closed" in r.json()["error"]["message"]
    assert (
        client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.viewer)).json()["status"]
        == "investigating"
    )
    assert len(events(client, api_tokens.viewer, key)) == 1


def test_same_severity_is_a_conflict_and_reason_is_required(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)["id"]
    h = auth(api_tokens.responder)
    r = client.post(
        f"/api/v1/incidents/{key}/severity", json={"severity": "SEV2", "reason": "x"}, headers=h
    )
    assert r.status_code == 409
    r = client.post(f"/api/v1/incidents/{key}/severity", json={"severity": "SEV3"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "reason"
    r = client.post(
        f"/api/v1/incidents/{key}/severity",
        json={"severity": "SEV3", "reason": "contained"},
        headers=h,
    )
    assert r.status_code == 200
    assert events(client, api_tokens.viewer, key)[-1]["type"] == "severity_change"


def test_bad_input_names_the_field_and_writes_nothing(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    h = auth(api_tokens.responder)
    cases = [
        ({"title": "x", "severity": "SEV9"}, "severity"),
        ({"title": "x", "severity": "SEV1", "type": "alien_invasion"}, "type"),
        ({"title": "x", "severity": "SEV1", "services": ["payment-service", "nope"]}, "services.1"),
        ({"title": "x", "severity": "SEV1", "commander": "nobody"}, "commander"),
        ({"title": "", "severity": "SEV1"}, "title"),
        ({"severity": "SEV1"}, "title"),
        ({"title": "x", "severity": "SEV1", "color": "red"}, "color"),
        ({"title": "x", "severity": "SEV1", "detected_at": "2024-03-15T09:00:00"}, "detected_at"),
        (
            {
                "title": "x",
                "severity": "SEV1",
                "started_at": "2024-03-15T09:00:00Z",
                "detected_at": "2024-03-15T08:00:00Z",
            },
            "detected_at",
        ),
        ({"title": "x", "severity": "SEV1", "started_at": "2030-01-01T00:00:00Z"}, "started_at"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/incidents", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        named = (
            error["details"]["field"]
            if isinstance(error["details"], dict)
            else error["details"][0]["field"]
        )
        assert named == field, (body, error)
    r = client.post(
        "/api/v1/incidents", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    with ctx.db.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Incident)) == 0
        assert uow.session.scalar(select(func.count()).select_from(TimelineEvent)) == 0


def test_importing_history_keeps_the_given_times(client: TestClient, api_tokens: Tokens) -> None:
    incident = declare(
        client,
        api_tokens.responder,
        started_at="2024-01-10T02:00:00+01:00",
        detected_at="2024-01-10T01:05:00Z",
        declared_at="2024-01-10T01:10:00Z",
        acknowledged_at="2024-01-10T01:12:00Z",
        mitigated_at="2024-01-10T02:00:00Z",
        resolved_at="2024-01-10T03:00:00Z",
    )
    assert incident["status"] == "resolved"
    assert incident["started_at"] == "2024-01-10T01:00:00Z"
    assert incident["declared_at"] == "2024-01-10T01:10:00Z"
    assert incident["duration_seconds"] == 2 * 3600
    types = [(e["type"], e["timestamp"]) for e in events(client, api_tokens.viewer, incident["id"])]
    assert types == [
        ("declaration", "2024-01-10T01:10:00Z"),
        ("status_change", "2024-01-10T01:12:00Z"),
        ("status_change", "2024-01-10T02:00:00Z"),
        ("resolution", "2024-01-10T03:00:00Z"),
    ]


def test_list_filters_and_pagination(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.responder
    a = declare(client, t, title="A", severity="SEV1", services=["api-gateway"])
    clock.advance(hours=1)
    b = declare(client, t, title="B", severity="SEV3")
    clock.advance(hours=1)
    c = declare(client, t, title="C", severity="SEV3")
    client.post(f"/api/v1/incidents/{c['id']}/status", json={"status": "resolved"}, headers=auth(t))
    h = auth(api_tokens.viewer)

    def ids(query: str) -> list[str]:
        r = client.get(f"/api/v1/incidents{query}", headers=h)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids("") == [c["id"], b["id"], a["id"]]
    assert ids("?severity=SEV3") == [c["id"], b["id"]]
    assert ids("?status=investigating&status=identified") == [b["id"], a["id"]]
    assert ids("?service=api-gateway") == [a["id"]]
    assert ids("?since=2024-03-15T10:00:00Z") == [c["id"], b["id"]]
    assert ids("?until=2024-03-15T10:00:00Z") == [a["id"]]
    page = client.get("/api/v1/incidents?limit=2&offset=2", headers=h).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [a["id"]]
    assert client.get("/api/v1/incidents?status=bogus", headers=h).status_code == 422
    assert client.get("/api/v1/incidents?limit=0", headers=h).status_code == 422


def test_ack_is_idempotent_and_refused_when_resolved(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = api_tokens.responder
    key = declare(client, t)["id"]
    first = client.post(f"/api/v1/incidents/{key}/ack", headers=auth(t)).json()
    clock.advance(minutes=1)
    second = client.post(f"/api/v1/incidents/{key}/ack", headers=auth(t)).json()
    assert first["acknowledged_at"] == second["acknowledged_at"]
    assert [e["type"] for e in events(client, t, key)].count("acknowledgement") == 1
    client.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"}, headers=auth(t))
    assert client.post(f"/api/v1/incidents/{key}/ack", headers=auth(t)).status_code == 409


def test_roles_must_be_known_and_reassignment_is_recorded(
    client: TestClient, api_tokens: Tokens
) -> None:
    # An admin: once mike.chen commands, only he (or an admin) assigns roles on a SEV2.
    t = auth(api_tokens.admin)
    key = declare(client, api_tokens.responder)["id"]
    r = client.put(f"/api/v1/incidents/{key}/roles/janitor", json={"user": "jane.smith"}, headers=t)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "role"
    r = client.put(f"/api/v1/incidents/{key}/roles/scribe", json={"user": "ghost"}, headers=t)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "user"
    for role in (
        "incident_commander",
        "technical_lead",
        "communications_lead",
        "scribe",
        "sme",
        "operations_lead",
    ):
        r = client.put(
            f"/api/v1/incidents/{key}/roles/{role}", json={"user": "mike.chen"}, headers=t
        )
        assert r.status_code == 200, (role, r.text)
    # Assigning the holder again changes nothing and records nothing.
    before = len(events(client, api_tokens.responder, key))
    client.put(f"/api/v1/incidents/{key}/roles/scribe", json={"user": "mike.chen"}, headers=t)
    assert len(events(client, api_tokens.responder, key)) == before
    r = client.delete(f"/api/v1/incidents/{key}/roles/scribe", headers=t)
    assert "scribe" not in r.json()["roles"]
    assert client.delete(f"/api/v1/incidents/{key}/roles/scribe", headers=t).status_code == 404


def test_timeline_events_typed_and_ordered_by_time(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    t = auth(api_tokens.responder)
    key = declare(client, api_tokens.responder)["id"]
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={
            "type": "alert",
            "description": "High error rate detected on API gateway",
            "source": "monitoring",
            "timestamp": "2024-03-15T09:15:00Z",
            "details": {"alert_name": "APIHighErrorRate", "actual_value": "15.3%"},
        },
        headers=t,
    )
    assert r.status_code == 201
    assert r.json()["actor"] == "responder"
    bad = client.post(
        f"/api/v1/incidents/{key}/events", json={"type": "gossip", "description": "x"}, headers=t
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "type"
    bad = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "action", "description": "x", "source": "aliens"},
        headers=t,
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "source"
    future = (clock.now() + timedelta(hours=1)).isoformat()
    bad = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "action", "description": "x", "timestamp": future},
        headers=t,
    )
    assert bad.status_code == 422
    timeline = events(client, api_tokens.responder, key)
    assert [e["type"] for e in timeline] == ["alert", "declaration"]
    assert timeline[0]["source"] == "monitoring"


def test_reopen_clears_resolution(client: TestClient, api_tokens: Tokens, clock: FakeClock) -> None:
    t = auth(api_tokens.responder)
    key = declare(client, api_tokens.responder)["id"]
    client.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"}, headers=t)
    clock.advance(minutes=10)
    r = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "investigating", "message": "errors back"},
        headers=t,
    )
    body = r.json()
    assert body["status"] == "investigating" and body["resolved_at"] is None
    assert (
        events(client, api_tokens.responder, key)[-1]["description"]
        == "Incident reopened: errors back"
    )
