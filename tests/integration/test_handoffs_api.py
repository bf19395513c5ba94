"""IC handoffs (issue 13): drafted from the incident, edited, confirmed by the incoming IC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import (
    am_alert,
    auth,
    make_integration,
    post_am,
    route,
    timeline,
)
from tests.integration.test_web import login
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.engine.timer_job import TimerRunner


def _declare(client: TestClient, token: str, **fields: Any) -> str:
    body = {
        "title": "Checkout errors",
        "severity": "SEV1",
        "services": ["payment-service"],
        "description": "Connection leak in payment-service v2.3.1",
    }
    body.update(fields)
    r = client.post("/api/v1/incidents", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_handoff_is_drafted_edited_and_confirmed_moving_the_role(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    client.put(base + "/roles/scribe", json={"user": "tom.nguyen"}, headers=auth(api_tokens.jane))
    client.post(
        base + "/checklist/acknowledge-alert-within-sla",
        json={"state": "done"},
        headers=auth(api_tokens.jane),
    )
    client.post(
        base + "/approvals",
        json={"action": "Customer data access", "reason": "check the failed payments"},
        headers=auth(api_tokens.jane),
    )
    r = client.post(base + "/handoffs", json={"to": "bob.wilson"}, headers=auth(api_tokens.jane))
    assert r.status_code == 201, r.text
    handoff = r.json()
    assert handoff["status"] == "draft" and handoff["from_user"] == "jane.smith"
    doc = handoff["document"]
    assert doc["participants"] == {
        "outgoing_ic": "jane.smith",
        "incoming_ic": "bob.wilson",
        "witnesses": ["tom.nguyen"],
    }
    assert doc["current_status"]["severity"] == "SEV1"
    assert doc["current_status"]["summary"] == "Connection leak in payment-service v2.3.1"
    assert doc["current_status"]["state"] == "investigating"
    assert "Acknowledge alert within SLA" in doc["actions_taken"]
    assert doc["pending_actions"][0]["action"] == "Perform initial assessment"
    assert doc["environment_state"]["open_approvals"] == [
        "Customer data access (requested by jane.smith)"
    ]
    assert doc["handoff_confirmed"]["handoff_complete"] is False
    # Until confirmed, Jane still commands.
    shown = client.get(base, headers=auth(api_tokens.jane)).json()
    assert shown["roles"]["incident_commander"] == "jane.smith"
    # Only the outgoing IC (or the author, or an admin) edits the draft.
    hid = handoff["id"]
    edit = {"open_questions": ["Why only v2.3.1?"], "current_status": {"state": "rolling back"}}
    r = client.patch(f"{base}/handoffs/{hid}", json=edit, headers=auth(api_tokens.bob))
    assert r.status_code == 403
    r = client.patch(f"{base}/handoffs/{hid}", json=edit, headers=auth(api_tokens.jane))
    assert r.status_code == 200
    assert r.json()["document"]["open_questions"] == ["Why only v2.3.1?"]
    assert r.json()["document"]["current_status"]["state"] == "rolling back"
    assert r.json()["document"]["current_status"]["severity"] == "SEV1"
    r = client.patch(
        f"{base}/handoffs/{hid}", json={"open_questions": "one"}, headers=auth(api_tokens.jane)
    )
    assert r.status_code == 422 and "open_questions" in r.text
    assert client.get(f"{base}/handoffs/{hid}", headers=auth(api_tokens.jane)).json()["document"][
        "open_questions"
    ] == ["Why only v2.3.1?"]
    # Only Bob confirms, and the refusal names him.
    r = client.post(f"{base}/handoffs/{hid}/confirm", headers=auth(api_tokens.jane))
    assert r.status_code == 403 and "(bob.wilson)" in r.json()["error"]["message"]
    r = client.post(f"{base}/handoffs/{hid}/confirm", headers=auth(api_tokens.bob))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "confirmed" and done["confirmed_at"].startswith("2024-03-15T09:30")
    assert done["document"]["handoff_confirmed"] == {
        "outgoing_signature": "jane.smith",
        "incoming_signature": "bob.wilson",
        "handoff_complete": True,
    }
    shown = client.get(base, headers=auth(api_tokens.bob)).json()
    assert shown["roles"]["incident_commander"] == "bob.wilson"
    events = timeline(client, api_tokens.admin, key)
    texts = [e["description"] for e in events]
    assert "Handoff of command drafted: jane.smith to bob.wilson" in texts
    assert "Incident Commander reassigned from jane.smith to bob.wilson" in texts
    confirmed = [e for e in events if e["description"].startswith("Command handed off")]
    assert len(confirmed) == 1 and confirmed[0]["actor"] == "bob.wilson"
    assert confirmed[0]["details"]["document"]["open_questions"] == ["Why only v2.3.1?"]
    # A confirmed handoff is final.
    r = client.post(f"{base}/handoffs/{hid}/confirm", headers=auth(api_tokens.bob))
    assert r.status_code == 409


def test_handoff_input_and_visibility(client: TestClient, api_tokens: Tokens) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}/handoffs"
    for body, field in (({"to": "nobody.here"}, "to"), ({"to": "jane.smith"}, "to"), ({}, "to")):
        r = client.post(base, json=body, headers=auth(api_tokens.jane))
        assert r.status_code == 422 and field in r.text, r.text
    # Someone without the IC's authority may not hand command away.
    r = client.post(base, json={"to": "tom.nguyen"}, headers=auth(api_tokens.bob))
    assert r.status_code == 403 and "(jane.smith)" in r.json()["error"]["message"]
    r = client.post(base, json={"to": "bob.wilson"}, headers=auth(api_tokens.jane))
    assert r.status_code == 201
    r = client.post(base, json={"to": "tom.nguyen"}, headers=auth(api_tokens.jane))
    assert r.status_code == 409
    # A restricted incident's handoffs are invisible to outsiders.
    secret = _declare(client, api_tokens.jane, type="security_breach", commander="jane.smith")
    r = client.post(
        f"/api/v1/incidents/{secret}/handoffs", json={"to": "tom.nguyen"},
        headers=auth(api_tokens.jane),
    )  # fmt: skip
    assert r.status_code == 201
    for token in (api_tokens.bob, api_tokens.viewer):
        r = client.get(f"/api/v1/incidents/{secret}/handoffs", headers=auth(token))
        assert r.status_code == 404
    r = client.post(
        f"/api/v1/incidents/{secret}/handoffs/{r.json().get('id', 0) or 1}/confirm",
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 404


def test_an_unconfirmed_handoff_escalates_through_the_engine(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    r = client.post(
        f"/api/v1/incidents/{key}/handoffs",
        json={"to": "bob.wilson"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 201
    runner = TimerRunner()
    clock.advance(timedelta(minutes=14))
    runner(ctx)
    assert not _unconfirmed(client, api_tokens, key)
    clock.advance(timedelta(minutes=1))
    runner(ctx)
    runner(ctx)
    (event,) = _unconfirmed(client, api_tokens, key)
    assert event["description"] == (
        "Handoff of command to bob.wilson not confirmed after 15 minutes; jane.smith still "
        "commands; told bob.wilson, jane.smith"
    )
    with ctx.db.unit_of_work() as uow:
        told = set(
            uow.session.scalars(
                select(Notification.recipient).where(Notification.reason == "handoff")
            )
        )
    assert told == {"bob.wilson", "jane.smith"}
    # Confirmed in time, nothing escalates.
    other = _declare(client, api_tokens.jane, commander="jane.smith")
    hid = client.post(
        f"/api/v1/incidents/{other}/handoffs", json={"to": "bob.wilson"},
        headers=auth(api_tokens.jane),
    ).json()["id"]  # fmt: skip
    r = client.post(
        f"/api/v1/incidents/{other}/handoffs/{hid}/confirm", headers=auth(api_tokens.bob)
    )
    assert r.status_code == 200
    clock.advance(timedelta(minutes=30))
    runner(ctx)
    assert not _unconfirmed(client, api_tokens, other)


def _unconfirmed(client: TestClient, tokens: Tokens, key: str) -> list[dict[str, Any]]:
    return [e for e in timeline(client, tokens.admin, key) if e["details"].get("unconfirmed")]


def test_roles_history_shows_how_long_each_role_was_held(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    clock.advance(timedelta(minutes=40))
    hid = client.post(
        f"/api/v1/incidents/{key}/handoffs", json={"to": "bob.wilson"},
        headers=auth(api_tokens.jane),
    ).json()["id"]  # fmt: skip
    clock.advance(timedelta(minutes=5))
    client.post(f"/api/v1/incidents/{key}/handoffs/{hid}/confirm", headers=auth(api_tokens.bob))
    clock.advance(timedelta(minutes=30))
    r = client.get("/api/v1/users/jane.smith/roles-history", headers=auth(api_tokens.viewer))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(t["incident_id"], t["role"], t["seconds"]) for t in body["tenures"]] == [
        (key, "incident_commander", 45 * 60.0)
    ]
    assert body["totals"] == {"incident_commander": 45 * 60.0}
    bob = client.get("/api/v1/users/bob.wilson/roles-history", headers=auth(api_tokens.viewer))
    (held,) = bob.json()["tenures"]
    assert held["until"] is None and held["seconds"] == 30 * 60.0
    # A restricted incident's roles stay out of an outsider's view.
    secret = _declare(client, api_tokens.jane, type="security_breach", commander="jane.smith")
    seen = client.get("/api/v1/users/jane.smith/roles-history", headers=auth(api_tokens.bob))
    assert secret not in {t["incident_id"] for t in seen.json()["tenures"]}
    mine = client.get("/api/v1/users/jane.smith/roles-history", headers=auth(api_tokens.jane))
    assert secret in {t["incident_id"] for t in mine.json()["tenures"]}
    assert client.get("/api/v1/users/jane.smith/roles-history").status_code == 401


def test_the_handoff_carries_the_environment_and_the_next_update_due(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    for service, ends in (("payment-service", "10:30"), ("database", "11:00")):
        r = client.post(
            "/api/v1/maintenance",
            json={"service": service, "ends_at": f"2024-03-15T{ends}:00Z", "reason": "Upgrade"},
            headers=auth(api_tokens.responder),
        )
        assert r.status_code == 201, r.text
    # Not begun yet: not open now, so not in the document.
    r = client.post(
        "/api/v1/maintenance",
        json={"service": "payment-service", "starts_at": "2024-03-15T11:00:00Z",
              "ends_at": "2024-03-15T12:00:00Z", "reason": "Later"},
        headers=auth(api_tokens.responder),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    for service, name in (("payment-service", "PaymentLatency"), ("database", "DbLatency")):
        key = make_integration(client, api_tokens.admin, "alertmanager", service)
        post_am(client, key, am_alert(name, instance=f"{service}-1"))
    route(ctx)
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    client.put(base + "/roles/communications_lead", json={"user": "tom.nguyen"},
               headers=auth(api_tokens.jane))  # fmt: skip
    clock.advance(timedelta(minutes=5))
    r = client.post(
        base + "/events",
        json={"type": "communication", "description": "Customers emailed"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code in (200, 201), r.text
    clock.advance(timedelta(minutes=3))
    r = client.post(base + "/handoffs", json={"to": "bob.wilson"}, headers=auth(api_tokens.jane))
    assert r.status_code == 201, r.text
    doc = r.json()["document"]
    # SEV1 updates every 15 minutes from the last communication (09:35).
    assert doc["stakeholder_status"] == {
        "last_update": "2024-03-15T09:35:00+00:00",
        "next_update": "2024-03-15T09:50:00+00:00",
        "update_overdue": False,
        "contact": "tom.nguyen",
    }
    env = doc["environment_state"]
    assert env["maintenance_windows"] == [
        {"service": "payment-service", "reason": "Upgrade", "until": "2024-03-15T10:30:00+00:00"}
    ]
    assert env["alerts_silenced"] == [
        "PaymentLatency firing (payment-service) until 2024-03-15T10:30:00+00:00"
    ]
    # The room shows the same due time; past it, the update is overdue, due now.
    login(client, api_tokens.jane)
    page = client.get(f"/incidents/{key}")
    assert page.status_code == 200
    assert 'id="next-update" class="muted">Next stakeholder update due' in page.text
    assert 'datetime="2024-03-15T09:50:00+00:00"' in page.text
    hid = r.json()["id"]
    client.post(f"{base}/handoffs/{hid}/cancel", headers=auth(api_tokens.jane))
    clock.advance(timedelta(minutes=30))
    r = client.post(base + "/handoffs", json={"to": "bob.wilson"}, headers=auth(api_tokens.jane))
    assert r.status_code == 201, r.text
    status = r.json()["document"]["stakeholder_status"]
    assert status["next_update"] == "2024-03-15T10:08:00+00:00" and status["update_overdue"]
    page = client.get(f"/incidents/{key}")
    assert 'class="flag">Stakeholder update overdue' in page.text
    # A resolved incident has no cadence running: nothing is due.
    r = client.post(base + "/status", json={"status": "resolved"}, headers=auth(api_tokens.jane))
    assert r.status_code == 200, r.text
    assert 'id="next-update"' not in client.get(f"/incidents/{key}").text


def test_a_handoff_id_no_integer_column_holds_is_refused_not_a_server_error(
    client: TestClient, api_tokens: Tokens
) -> None:
    """Found by the PostgreSQL fuzz run: 2**47 overflowed INTEGER there and answered 500."""
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    for suffix in ("", "/confirm", "/cancel"):
        method = client.get if not suffix else client.post
        r = method(f"/api/v1/incidents/{key}/handoffs/140737488355328{suffix}",
                   headers=auth(api_tokens.jane))  # fmt: skip
        assert r.status_code == 422 and "hid" in r.text, r.text
    r = client.post(
        f"/api/v1/incidents/{key}/approvals/140737488355328/decision",
        json={"granted": True, "reason": "ok"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 422 and "aid" in r.text, r.text
