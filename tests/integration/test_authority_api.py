"""Roles carry authority (issue 9, item 6), through the API, the web, the engine and routing.

- A refusal is a 403 that names who may act; an admin may always act, and the override
  is on the timeline.
- A level's required roles still empty after its response time are flagged on the
  incident and reminded, by an engine timer on the fake clock.
- An auto-declared incident gets its commander from the IC rotation: the example
  configuration's `incident-commander` schedule (jane.smith this week, bob.wilson backup),
  or the role's own weekly rotation when no schedule is named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import (
    auth,
    incidents,
    make_integration,
    pd_event,
    post_pd,
    route,
    timeline,
)
from tests.integration.test_paging import (  # noqa: F401 (fixtures)
    Harness,
    make_harness,
    slack,
    smtp,
    twilio,
)
from tests.integration.test_web import csrf_of, htmx, login
from warroom.auth import service as tokens
from warroom.auth.logic import SYSTEM, Role
from warroom.authority.rotation import commander_at
from warroom.clock import FakeClock
from warroom.config.authority import AuthorityConfig, IcRotation
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.oncall import service as oncall
from warroom.oncall.schemas import OverrideCreate

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def _declare(client: TestClient, token: str, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "SEV1", "services": ["payment-service"]}
    body.update(fields)
    r = client.post("/api/v1/incidents", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# --- refusals and overrides ----------------------------------------------------------------


def test_a_refusal_names_who_may_act_and_an_admin_override_is_recorded(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    # Bob holds no role: he may not downgrade the SEV1, take command, or resolve it.
    for method, path, body, verb in (
        ("POST", "/severity", {"severity": "SEV3", "reason": "looks fine"}, "change the severity"),
        ("PUT", "/roles/incident_commander", {"user": "bob.wilson"}, "assign roles"),
        ("DELETE", "/roles/incident_commander", None, "assign roles"),
        ("POST", "/status", {"status": "resolved"}, "resolve or close"),
    ):
        r = client.request(method, base + path, json=body, headers=auth(api_tokens.bob))
        assert r.status_code == 403, (path, r.text)
        error = r.json()["error"]
        assert error["code"] == "forbidden"
        assert error["message"] == (
            f"Only the Incident Commander (jane.smith) may {verb}"
            f"{' of' if verb == 'change the severity' else ''}"
            f"{' on' if verb == 'assign roles' else ''} a SEV1 incident (or an admin)"
        )
        assert error["details"]["may"] == ["jane.smith"]
    shown = client.get(base, headers=auth(api_tokens.jane)).json()
    assert shown["severity"] == "SEV1" and shown["status"] == "investigating"
    assert shown["roles"]["incident_commander"] == "jane.smith"
    # Moving to identified is anyone's to do.
    r = client.post(base + "/status", json={"status": "identified"}, headers=auth(api_tokens.bob))
    assert r.status_code == 200
    # The commander delegates; the TL she named still may not resolve.
    r = client.put(
        base + "/roles/technical_lead", json={"user": "bob.wilson"}, headers=auth(api_tokens.jane)
    )
    assert r.status_code == 200
    r = client.post(base + "/status", json={"status": "resolved"}, headers=auth(api_tokens.bob))
    assert r.status_code == 403
    # An admin may, and the timeline says whose call it was.
    r = client.post(
        base + "/severity",
        json={"severity": "SEV2", "reason": "one region only"},
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 200 and r.json()["severity"] == "SEV2"
    events = timeline(client, api_tokens.admin, key)
    override = [e for e in events if (e["details"] or {}).get("override")]
    assert len(override) == 1
    assert override[0]["actor"] == "admin"
    assert override[0]["description"] == (
        "Admin override by admin: only the Incident Commander (jane.smith) may change the "
        "severity of a SEV1 incident (or an admin)"
    )
    # The commander herself acts without any override.
    r = client.post(base + "/status", json={"status": "resolved"}, headers=auth(api_tokens.jane))
    assert r.status_code == 200
    assert len([e for e in timeline(client, api_tokens.admin, key)
                if (e["details"] or {}).get("override")]) == 1  # fmt: skip


def test_below_the_levels_that_need_a_commander_anyone_acts(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, severity="SEV3", commander="jane.smith")
    r = client.post(
        f"/api/v1/incidents/{key}/status", json={"status": "resolved"}, headers=auth(api_tokens.bob)
    )
    assert r.status_code == 200
    # While nobody commands a SEV1, the first responder may take command.
    key = _declare(client, api_tokens.jane)
    r = client.put(
        f"/api/v1/incidents/{key}/roles/incident_commander",
        json={"user": "bob.wilson"},
        headers=auth(api_tokens.bob),
    )
    assert r.status_code == 200 and r.json()["roles"]["incident_commander"] == "bob.wilson"


def test_the_web_shows_the_refusal_next_to_the_incident(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    login(client, api_tokens.bob)
    # Bob is not a participant of an unrestricted incident, but may look at it.
    csrf = csrf_of(client.get(f"/incidents/{key}"))
    r = client.post(f"/incidents/{key}/status", data={"status": "resolved"}, headers=htmx(csrf))
    assert r.status_code == 403
    assert "Only the Incident Commander (jane.smith) may resolve or close" in r.text
    assert (
        client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.jane)).json()["status"]
        == "investigating"
    )


# --- staffing ------------------------------------------------------------------------------


def _staffing_messages(h: Harness) -> list[tuple[str | None, str]]:
    with h.ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification).where(Notification.reason == "staffing").order_by(Notification.id)
        )
        return [(n.recipient, n.channel) for n in rows]


def _put_role(h: Harness, base: str, role: str, user: str) -> None:
    r = h.as_(h.tokens.jane).put(f"{base}/roles/{role}", json={"user": user})
    assert r.status_code == 200, r.text
    h.run()


@pytest.fixture
def staffed(make_harness: Any) -> Harness:  # noqa: F811
    harness: Harness = make_harness(staffing=True)
    return harness


def test_required_roles_left_empty_are_flagged_and_reminded(staffed: Harness) -> None:
    h = staffed
    # SEV2 responds "Within 15 minutes" and needs an IC, a TL and a communications lead.
    body = {"title": "Payments slow", "severity": "SEV2", "services": ["payment-service"],
            "commander": "jane.smith"}  # fmt: skip
    key = h.post("/api/v1/incidents", body, token=h.tokens.jane)["id"]
    base = f"/api/v1/incidents/{key}"
    h.at(14)
    assert h.as_(h.tokens.admin).get(base).json()["unfilled_roles"] == []
    assert _staffing_messages(h) == []
    h.at(15)
    shown = h.as_(h.tokens.admin).get(base).json()
    assert shown["unfilled_roles"] == ["technical_lead", "communications_lead"]
    notes = [e for e in h.timeline(key) if "roles still empty" in e["description"]]
    assert [n["description"] for n in notes] == [
        "SEV2 roles still empty after 15 minutes: Technical Lead, Communications Lead; "
        "reminded jane.smith"
    ]
    assert notes[0]["timestamp"].startswith("2024-03-15T09:45:00")
    first = _staffing_messages(h)
    assert first and {who for who, _ in first} == {"jane.smith"}
    # Filling a role clears it from the flag at once.
    _put_role(h, base, "technical_lead", "mike.chen")
    assert h.as_(h.tokens.admin).get(base).json()["unfilled_roles"] == ["communications_lead"]
    h.at(29)
    assert len(_staffing_messages(h)) == len(first)
    h.at(30)  # the next reminder, for what is still empty
    notes = [e for e in h.timeline(key) if "roles still empty" in e["description"]]
    assert notes[-1]["description"] == (
        "SEV2 roles still empty after 30 minutes: Communications Lead; reminded jane.smith"
    )
    assert len(_staffing_messages(h)) == 2 * len(first)
    _put_role(h, base, "communications_lead", "sarah.lee")
    assert h.as_(h.tokens.admin).get(base).json()["unfilled_roles"] == []
    h.at(90)
    assert len(_staffing_messages(h)) == 2 * len(first)
    assert len([e for e in h.timeline(key)
                if "roles still empty" in e["description"]]) == 2  # fmt: skip


def test_without_a_commander_the_paged_and_the_declarer_are_reminded(staffed: Harness) -> None:
    h = staffed
    body = {"title": "Checkout down", "severity": "SEV1", "services": ["payment-service"]}
    key = h.post("/api/v1/incidents", body, token=h.tokens.jane)["id"]
    h.at(5)  # SEV1 is "Immediate": the example configuration gives it 5 minutes
    shown = h.as_(h.tokens.admin).get(f"/api/v1/incidents/{key}").json()
    assert shown["unfilled_roles"] == [
        "incident_commander",
        "technical_lead",
        "communications_lead",
        "scribe",
    ]
    # tom.nguyen was paged (platform primary), jane.smith declared it.
    assert {who for who, _ in _staffing_messages(h)} == {"jane.smith", "tom.nguyen"}
    # Resolving ends the reminders and the flag.
    h.post(f"/api/v1/incidents/{key}/status", {"status": "resolved"}, token=h.tokens.jane)
    count = len(_staffing_messages(h))
    h.at(60)
    assert len(_staffing_messages(h)) == count
    assert h.as_(h.tokens.admin).get(f"/api/v1/incidents/{key}").json()["unfilled_roles"] == []


# --- the IC rotation ---------------------------------------------------------------------


def test_an_auto_declared_incident_gets_its_commander_from_the_rotation(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    post_pd(client, pd_event(key, "trigger", "pay-1", **{"class": "data_exfiltration"}))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    # Week 11 of the `incident-commander` schedule (from Monday 2024-01-01): jane.smith.
    assert incident["roles"] == {"incident_commander": "jane.smith"}
    assert "jane.smith" in incident["participants"]
    events = timeline(client, api_tokens.admin, incident["id"])
    [change] = [e for e in events if e["type"] == "role_change"]
    assert change["source"] == "automation" and change["actor"] == "warroom"
    assert any(
        e["description"]
        == "jane.smith commands from schedule incident-commander; backup bob.wilson"
        for e in events
    )
    # The rotation follows the schedule's overrides: Bob covers Jane today.
    with ctx.db.unit_of_work() as uow:
        oncall.create_override(
            uow.session,
            config=ctx.config,
            schedule="incident-commander",
            data=OverrideCreate(
                kind="replace",
                start=T0,
                end=T0 + timedelta(hours=2),
                user="bob.wilson",
                replaces="jane.smith",
                layer="primary",
            ),
            actor=SYSTEM,
            now=clock.now(),
        )
        uow.commit()
    r = client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": "resolved"},
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 200
    post_pd(client, pd_event(key, "trigger", "pay-2", **{"class": "data_exfiltration"}))
    clock.advance(minutes=1)
    route(ctx)
    newest = incidents(client, api_tokens.admin)[-1]
    assert newest["id"] != incident["id"]
    assert newest["roles"] == {"incident_commander": "bob.wilson"}


def test_the_roles_own_rotation_without_a_schedule(ctx: AppContext, config: WarroomConfig) -> None:
    # Seed 000's rotation as written: weekly, handoff Monday 09:00 UTC, backup required.
    variant = config.model_copy(
        update={
            "authority": AuthorityConfig(
                ic_rotation=IcRotation(participants=["bob.wilson", "priya.patel", "tom.nguyen"])
            )
        }
    )
    with ctx.db.unit_of_work() as uow:
        # 2024-03-15 is in week 10 from 2024-01-01: turn 10 → priya.patel (10 % 3 = 1).
        turn = commander_at(uow.session, variant, T0)
        assert (turn.commander, turn.backup) == ("priya.patel", "tom.nguyen")
        # Sunday night is still that turn; Monday 09:00 UTC hands over.
        monday = datetime(2024, 3, 18, 9, 0, tzinfo=UTC)
        assert commander_at(uow.session, variant, monday - timedelta(seconds=1)).commander == (
            "priya.patel"
        )
        assert commander_at(uow.session, variant, monday).commander == "tom.nguyen"
        none = config.model_copy(update={"authority": AuthorityConfig()})
        assert commander_at(uow.session, none, T0).commander is None


# --- decisions -----------------------------------------------------------------------------


def test_decisions_follow_can_authorize_and_requires_ic_approval(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    with ctx.db.unit_of_work() as uow:
        _, mike = tokens.create(
            uow.session, name="mike", role=Role.RESPONDER, user="mike.chen", now=clock.now()
        )
        uow.commit()
    key = _declare(client, api_tokens.jane, commander="jane.smith")
    base = f"/api/v1/incidents/{key}"
    r = client.put(
        base + "/roles/technical_lead", json={"user": "mike.chen"}, headers=auth(api_tokens.jane)
    )
    assert r.status_code == 200
    # The TL's own authority (seed 000's can_authorize).
    r = client.post(
        base + "/decisions",
        json={"authorizes": "Rollback to previous deployment", "description": "v2.3.1 leaks"},
        headers=auth(mike),
    )
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "decision" and r.json()["actor"] == "mike.chen"
    assert r.json()["description"] == "Authorized: Rollback to previous deployment. v2.3.1 leaks"
    assert r.json()["details"] == {
        "authorizes": "Rollback to previous deployment",
        "roles": ["technical_lead"],
    }
    # What needs the IC's approval (requires_ic_approval) is refused to the TL...
    r = client.post(
        base + "/decisions", json={"authorizes": "Database schema changes"}, headers=auth(mike)
    )
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        "Only the Incident Commander (jane.smith) may authorize 'Database schema changes' "
        "on a SEV1 incident (or an admin)"
    )
    # ...and is the IC's to give; bad input names the field and stores nothing.
    r = client.post(
        base + "/decisions", json={"authorizes": "Database schema changes"},
        headers=auth(api_tokens.jane),
    )  # fmt: skip
    assert r.status_code == 201
    before = len(timeline(client, api_tokens.admin, key))
    r = client.post(base + "/decisions", json={"authorizes": "  "}, headers=auth(api_tokens.jane))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "authorizes"
    assert len(timeline(client, api_tokens.admin, key)) == before
    # Who may do what, as the caller sees it.
    for token, allowed in ((api_tokens.jane, True), (api_tokens.bob, False), (mike, False)):
        rows = client.get(base + "/authority", headers=auth(token)).json()
        assert {row["action"]: row["allowed"] for row in rows} == {
            "change_severity": allowed,
            "assign_roles": allowed,
            "resolve": allowed,
        }
    rows = client.get(base + "/authority", headers=auth(api_tokens.admin)).json()
    assert all(row["allowed"] and row["override"] for row in rows)
    assert all(row["may"] == ["jane.smith"] for row in rows)


def test_the_incident_page_flags_empty_required_roles(staffed: Harness) -> None:
    h = staffed
    body = {"title": "Payments slow", "severity": "SEV2", "services": ["payment-service"],
            "commander": "jane.smith"}  # fmt: skip
    key = h.post("/api/v1/incidents", body, token=h.tokens.jane)["id"]
    web = h.api
    web.headers.pop("Authorization", None)
    login(web, h.tokens.jane)
    assert "still empty" not in web.get(f"/incidents/{key}").text
    h.at(15)
    page = web.get(f"/incidents/{key}").text
    assert page.count("required: still empty") == 2  # TL and communications lead
