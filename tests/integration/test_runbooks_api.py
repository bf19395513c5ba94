"""Runbooks as live checklists, and approvals of actions that need the IC (issue 13)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import auth, timeline
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.engine.timer_job import TimerRunner


def _declare(client: TestClient, token: str, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "SEV1", "services": ["payment-service"]}
    body.update(fields)
    r = client.post("/api/v1/incidents", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _steps(checklist: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for p in checklist["phases"] for s in p["steps"]}


def test_the_checklist_follows_the_matched_runbooks_by_phase(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(
        client,
        api_tokens.jane,
        type="service_outage",
        services=["database"],
        commander="jane.smith",
    )
    r = client.get(f"/api/v1/incidents/{key}/checklist", headers=auth(api_tokens.viewer))
    assert r.status_code == 200, r.text
    body = r.json()
    attached = {b["name"]: b["matched_by"] for b in body["runbooks"]}
    assert attached == {
        "Standard Incident Response Procedure": "incident type service_outage names it",
        "Service Outage": "match: type service_outage",
        "Deployment Issues": "match: type service_outage",
        "Database Connection Failure": "match: service database",
    }
    assert [p["name"] for p in body["phases"]] == [
        "detection",
        "declaration",
        "investigation",
        "remediation",
        "resolution",
        "recovery",
        "post_incident",
    ]
    assert body["current_phase"] == "detection"
    steps = _steps(body)
    ack = steps["acknowledge-alert-within-sla"]
    assert ack["sla"] == "5 minutes" and ack["state"] == "pending" and not ack["overdue"]
    assert ack["due_at"].startswith("2024-03-15T09:35:00")
    assert ack["extras"] == {}
    assessment = steps["perform-initial-assessment"]
    assert "Check recent deployments" in assessment["extras"]["checklist"]
    # A SEV3 gets the seed's SEV3 SLA.
    other = _declare(client, api_tokens.jane, severity="SEV3", services=["search"])
    r = client.get(f"/api/v1/incidents/{other}/checklist", headers=auth(api_tokens.jane))
    assert _steps(r.json())["acknowledge-alert-within-sla"]["sla"] == "1 hour"
    assert [b["name"] for b in r.json()["runbooks"]] == ["Standard Incident Response Procedure"]


def test_ticking_and_skipping_land_on_the_timeline(client: TestClient, api_tokens: Tokens) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}/checklist"
    r = client.post(
        base + "/acknowledge-alert-within-sla", json={"state": "done"}, headers=auth(api_tokens.bob)
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "done" and r.json()["done_by"] == "bob.wilson"
    # Skipping needs a note; the error names the field.
    r = client.post(
        base + "/perform-initial-assessment",
        json={"state": "skipped"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "note"
    r = client.post(
        base + "/perform-initial-assessment",
        json={"state": "skipped", "note": "the alert said it all"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 200 and r.json()["note"] == "the alert said it all"
    r = client.post(base + "/no-such-step", json={"state": "done"}, headers=auth(api_tokens.bob))
    assert r.status_code == 404
    r = client.post(base + "/perform-initial-assessment", json={"state": "maybe"},
                    headers=auth(api_tokens.bob))  # fmt: skip
    assert r.status_code == 422
    r = client.post(base + "/perform-initial-assessment", json={"state": "done"},
                    headers=auth(api_tokens.viewer))  # fmt: skip
    assert r.status_code == 403
    texts = [e["description"] for e in timeline(client, api_tokens.admin, key)]
    assert "Checklist (detection): Done: Acknowledge alert within SLA" in texts
    assert (
        "Checklist (detection): Skipped: Perform initial assessment. the alert said it all" in texts
    )
    steps = _steps(client.get(base, headers=auth(api_tokens.jane)).json())
    assert steps["perform-initial-assessment"]["state"] == "skipped"
    assert steps["determine-if-incident-declaration-is-needed"]["state"] == "pending"


def test_an_overdue_step_is_flagged_and_reminded_through_the_engine(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    runner = TimerRunner()
    clock.advance(timedelta(minutes=4))
    runner(ctx)
    texts = [e["description"] for e in timeline(client, api_tokens.admin, key)]
    assert not any("overdue" in t for t in texts)
    clock.advance(timedelta(minutes=1))
    runner(ctx)
    runner(ctx)  # a second pass changes nothing
    overdue = [e for e in timeline(client, api_tokens.admin, key) if e["details"].get("overdue")]
    assert [e["description"] for e in overdue] == [
        "Checklist step overdue (detection, SLA 5 minutes): Acknowledge alert within SLA; "
        "reminded jane.smith"
    ]
    body = client.get(f"/api/v1/incidents/{key}/checklist", headers=auth(api_tokens.jane)).json()
    assert _steps(body)["acknowledge-alert-within-sla"]["overdue"] is True
    with ctx.db.unit_of_work() as uow:
        sent = set(
            uow.session.scalars(
                select(Notification.recipient).where(Notification.reason == "checklist")
            )
        )
    assert sent == {"jane.smith"}


def test_an_approval_is_needed_decided_by_the_ic_and_recorded(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, services=["database"], commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    step = "apply-the-schema-or-index-change-that-fixes-it"
    r = client.post(
        f"{base}/checklist/{step}", json={"state": "done"}, headers=auth(api_tokens.bob)
    )
    assert r.status_code == 403
    message = r.json()["error"]["message"]
    assert "Database schema changes" in message and "(jane.smith)" in message
    r = client.post(
        f"{base}/approvals",
        json={"action": "Database schema changes", "reason": "add the missing index"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["status"] == "pending" and asked["needs_ic"] is True
    assert asked["requested_by"] == "bob.wilson"
    # Bob may not approve his own request: only the IC may, and the refusal says so.
    r = client.post(
        f"{base}/approvals/{asked['id']}/decision",
        json={"granted": True, "reason": "fine"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 403
    assert r.json()["error"]["details"]["may"] == ["jane.smith"]
    assert "Incident Commander (jane.smith)" in r.json()["error"]["message"]
    r = client.post(
        f"{base}/approvals/{asked['id']}/decision",
        json={"granted": True, "reason": "go, with the rollback ready"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 200 and r.json()["status"] == "granted"
    assert r.json()["decided_by"] == "jane.smith"
    again = client.post(
        f"{base}/approvals/{asked['id']}/decision",
        json={"granted": False, "reason": "changed my mind"},
        headers=auth(api_tokens.jane),
    )
    assert again.status_code == 409
    r = client.post(
        f"{base}/checklist/{step}", json={"state": "done"}, headers=auth(api_tokens.bob)
    )
    assert r.status_code == 200
    listed = client.get(f"{base}/approvals", headers=auth(api_tokens.viewer)).json()
    assert [(a["action"], a["status"]) for a in listed] == [("Database schema changes", "granted")]
    texts = [e["description"] for e in timeline(client, api_tokens.admin, key)]
    assert (
        "Approval requested by bob.wilson: Database schema changes: add the missing index" in texts
    )
    assert (
        "Approval granted by jane.smith: Database schema changes: go, with the rollback ready"
        in texts
    )
    r = client.post(f"{base}/approvals", json={"action": "", "reason": "x"},
                    headers=auth(api_tokens.bob))  # fmt: skip
    assert r.status_code == 422 and "action" in r.text


def test_restricted_incidents_keep_their_checklist_and_approvals_hidden(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, type="security_breach", services=[])
    for path in ("/checklist", "/approvals"):
        r = client.get(f"/api/v1/incidents/{key}{path}", headers=auth(api_tokens.bob))
        assert r.status_code == 404, path
    r = client.post(
        f"/api/v1/incidents/{key}/checklist/preserve-evidence",
        json={"state": "done"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 404
    body = client.get(f"/api/v1/incidents/{key}/checklist", headers=auth(api_tokens.jane)).json()
    assert _steps(body)["preserve-evidence"]["phase"] == "detection"


def test_an_upgrade_moves_the_pending_steps_to_the_tighter_sla(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = _declare(client, api_tokens.jane, severity="SEV3", commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    clock.advance(timedelta(minutes=2))
    r = client.post(
        base + "/severity",
        json={"severity": "SEV1", "reason": "all regions"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 200, r.text
    ack = _steps(client.get(base + "/checklist", headers=auth(api_tokens.jane)).json())[
        "acknowledge-alert-within-sla"
    ]
    assert ack["sla"] == "5 minutes" and ack["due_at"].startswith("2024-03-15T09:35:00")
    runner = TimerRunner()
    clock.advance(timedelta(minutes=3))
    runner(ctx)
    clock.advance(timedelta(hours=1))  # past the old SEV3 due time too
    runner(ctx)
    overdue = [e["description"] for e in timeline(client, api_tokens.admin, key)
               if e["details"].get("overdue")]  # fmt: skip
    assert overdue == [
        "Checklist step overdue (detection, SLA 5 minutes): Acknowledge alert within SLA; "
        "reminded jane.smith"
    ]
