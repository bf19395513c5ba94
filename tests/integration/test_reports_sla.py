"""SLA compliance per clock in the metrics, on hand-computed incidents, on both databases.

The example severities' targets: SEV1 acknowledge 15 min, mitigate 1 h, resolve 4 h;
SEV2 1 h, 4 h, 24 h; SEV4 24 h, 1 week, 1 month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def declare(client: TestClient, token: str, severity: str, **times: str) -> None:
    body = {"title": "SLA", "severity": severity, **times}
    r = client.post("/api/v1/incidents", json=body, headers=auth(token))
    assert r.status_code == 201, r.text


def seed(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    clock.set(T0 + timedelta(hours=20))
    # X, SEV1: acked after 20 min (breached), mitigated at exactly 1 h (met), resolved
    # after 5 h (breached).
    declare(client, tokens.responder, "SEV1", declared_at=at(0), acknowledged_at=at(20),
            mitigated_at=at(60), resolved_at=at(300))  # fmt: skip
    # Y, SEV1: declared and still open 20 h later: every clock breached.
    declare(client, tokens.responder, "SEV1", declared_at=at(0))
    # W, SEV4: declared 1 h ago and open: every clock running.
    declare(client, tokens.responder, "SEV4", declared_at=at(19 * 60))
    # Z, SEV2, imported: resolved without an acknowledgement on record (missing), mitigated
    # after 30 min and resolved after 100 min (met).
    z = {"external_id": "z", "title": "Z", "severity": "SEV2", "declared_at": at(0),
         "mitigated_at": at(30), "resolved_at": at(100)}  # fmt: skip
    r = client.post("/api/v1/import/incidents", json=[z], headers=auth(tokens.admin))
    assert r.status_code == 200, r.text


def test_sla_compliance_per_clock_overall_and_by_severity(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    seed(client, api_tokens, clock)
    r = client.get(
        "/api/v1/reports/metrics",
        params={"group_by": "severity"},
        headers=auth(api_tokens.viewer),
    )
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["count"] == 4
    assert m["sla"] == {
        "acknowledge": {"met": 0, "breached": 2, "running": 1, "missing": 1, "compliance": 0.0},
        "mitigate": {"met": 2, "breached": 1, "running": 1, "missing": 0, "compliance": 0.6667},
        "resolve": {"met": 1, "breached": 2, "running": 1, "missing": 0, "compliance": 0.3333},
    }
    groups = {g["key"]: g["sla"] for g in m["groups"]}
    assert groups["SEV1"]["acknowledge"] == {
        "met": 0, "breached": 2, "running": 0, "missing": 0, "compliance": 0.0,
    }  # fmt: skip
    assert groups["SEV1"]["mitigate"]["met"] == 1 and groups["SEV1"]["mitigate"]["breached"] == 1
    assert groups["SEV2"]["acknowledge"] == {
        "met": 0, "breached": 0, "running": 0, "missing": 1, "compliance": None,
    }  # fmt: skip
    assert groups["SEV4"]["resolve"] == {
        "met": 0, "breached": 0, "running": 1, "missing": 0, "compliance": None,
    }  # fmt: skip


def test_a_running_clock_breaches_when_the_injected_clock_passes_its_target(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(T0 + timedelta(minutes=10))
    declare(client, api_tokens.responder, "SEV1", declared_at=at(0))
    v = auth(api_tokens.viewer)
    ack = client.get("/api/v1/reports/metrics", headers=v).json()["sla"]["acknowledge"]
    assert (ack["running"], ack["breached"]) == (1, 0)
    clock.set(T0 + timedelta(minutes=15))  # the target itself: the breach timer fires now
    ack = client.get("/api/v1/reports/metrics", headers=v).json()["sla"]["acknowledge"]
    assert (ack["running"], ack["breached"], ack["compliance"]) == (0, 1, 0.0)
