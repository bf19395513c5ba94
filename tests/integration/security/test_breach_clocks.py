"""Regulatory clocks: a breach starts them, the engine reminds and escalates on the fake
clock, recording a notification stops them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.engine.timer_job import TimerRunner


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def declare(client: TestClient, token: str) -> str:
    r = client.post(
        "/api/v1/incidents",
        json={"title": "Customer table exposed", "severity": "SEV1"},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    key = str(r.json()["id"])
    r = client.put(
        f"/api/v1/incidents/{key}/roles/incident_commander",
        json={"user": "jane.smith"},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    return key


def messages(ctx: AppContext) -> list[tuple[str | None, str]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(Notification)
            .where(Notification.reason == "regulatory")
            .order_by(Notification.id)
        )
        return sorted({(n.recipient, n.payload.get("urgency", "")) for n in rows})


def regulatory_notes(client: TestClient, key: str, token: str) -> list[str]:
    events = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(token)).json()["events"]
    return [e["description"] for e in events if e["description"].startswith(("GDPR", "NIS2"))]


def run_until(ctx: AppContext, clock: FakeClock, when: datetime) -> None:
    runner = TimerRunner(owner="test")
    while clock.now() < when:
        clock.advance(min(timedelta(minutes=30), when - clock.now()))
        runner(ctx)


def test_gdpr_72_hours_reminders_escalation_and_the_notification_that_stops_it(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = declare(client, api_tokens.admin)
    aware = clock.now() - timedelta(hours=2)
    r = client.post(
        f"/api/v1/incidents/{key}/breach",
        json={
            "aware_at": aware.isoformat(),
            "regimes": ["gdpr"],
            "nature": "An unauthenticated export endpoint returned customer rows",
            "data_categories": ["names", "email addresses"],
            "approx_subjects": 12000,
        },
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 201, r.text
    breach = r.json()
    clocks = {c["obligation"]: c for c in breach["clocks"]}
    assert set(clocks) == {"authority", "data_subjects"}
    deadline = aware + timedelta(hours=72)
    assert datetime.fromisoformat(clocks["authority"]["deadline"]) == deadline
    assert clocks["authority"]["state"] == "running"
    assert clocks["authority"]["seconds_left"] == 70 * 3600
    # Nothing until 24 hours before the deadline.
    run_until(ctx, clock, deadline - timedelta(hours=24, minutes=1))
    assert regulatory_notes(client, key, api_tokens.jane) == []
    run_until(ctx, clock, deadline - timedelta(hours=24))
    notes = regulatory_notes(client, key, api_tokens.jane)
    assert any("notify the supervisory authority" in n and "24h 00m" in n for n in notes), notes
    # The incident commander and security.notify hear of it, at low urgency for now.
    assert {r for r, _ in messages(ctx)} == {"jane.smith", "lena.kovacs"}
    # The data subjects are notified; the authority is not yet.
    r = client.post(
        f"/api/v1/incidents/{key}/breach/notifications",
        json={"regime": "gdpr", "obligation": "data_subjects", "reference": "email campaign 7"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 200, r.text
    state = {c["obligation"]: c for c in r.json()["clocks"]}
    assert state["data_subjects"]["state"] == "notified"
    assert state["data_subjects"]["notified_by"] == "jane.smith"
    run_until(ctx, clock, deadline + timedelta(minutes=1))
    notes = regulatory_notes(client, key, api_tokens.jane)
    authority = [n for n in notes if "supervisory authority" in n]
    subjects = [n for n in notes if "data subjects" in n]
    assert len(authority) == 4 and "overdue" in authority[-1]  # 24h, 6h, 1h, overdue
    assert len(subjects) == 1  # its 24 h reminder; none after the notification
    shown = client.get(f"/api/v1/incidents/{key}/breach", headers=auth(api_tokens.viewer)).json()
    assert {c["obligation"]: c["state"] for c in shown["clocks"]} == {
        "authority": "overdue",
        "data_subjects": "notified",
    }
    # Recording it twice is refused, naming the field.
    r = client.post(
        f"/api/v1/incidents/{key}/breach/notifications",
        json={"regime": "gdpr", "obligation": "data_subjects"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "obligation"


def test_nis2_deadlines_and_a_filled_draft(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = declare(client, api_tokens.admin)
    clock.set(datetime(2024, 3, 29, 9, 0, tzinfo=UTC))  # the Friday before DST in Brussels
    r = client.post(
        f"/api/v1/incidents/{key}/breach",
        json={
            "aware_at": clock.now().isoformat(),
            "regimes": ["nis2", "gdpr"],
            "nature": "Ransomware on the billing cluster",
            "measures": "Hosts isolated; credentials rotated",
        },
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 201, r.text
    due = {
        f"{c['regime']}:{c['obligation']}": datetime.fromisoformat(c["deadline"])
        for c in r.json()["clocks"]
    }
    assert due["nis2:early_warning"] == clock.now() + timedelta(hours=24)
    assert due["nis2:notification"] == clock.now() + timedelta(hours=72)
    # 10:00 CET on 29 March → 10:00 CEST on 29 April (08:00 UTC).
    assert due["nis2:final_report"] == datetime(2024, 4, 29, 8, 0, tzinfo=UTC)
    draft = client.get(
        f"/api/v1/incidents/{key}/breach/drafts/gdpr/authority", headers=auth(api_tokens.jane)
    ).json()
    assert "Ransomware on the billing cluster" in draft["text"]
    assert "Hosts isolated; credentials rotated" in draft["text"]
    assert "privacy@example.com" in draft["text"]
    checklist = {
        i["step"]: i["done"]
        for i in client.get(
            f"/api/v1/incidents/{key}/breach", headers=auth(api_tokens.jane)
        ).json()["checklist"]
    }
    assert checklist["Mitigation measures recorded"] is True
    assert checklist["Evidence preserved in the locker"] is False


def test_bad_breach_input_names_the_field(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = declare(client, api_tokens.admin)
    url = f"/api/v1/incidents/{key}/breach"
    now = clock.now()
    for body, field in (
        ({"aware_at": now.isoformat(), "regimes": ["hipaa"]}, "regimes"),
        ({"aware_at": (now + timedelta(days=1)).isoformat()}, "aware_at"),
        ({"aware_at": "2024-03-15T09:00:00"}, "aware_at"),  # no time zone
    ):
        r = client.post(url, json=body, headers=auth(api_tokens.jane))
        assert r.status_code == 422, r.text
        assert field in r.json()["error"]["message"]
    assert client.get(url, headers=auth(api_tokens.jane)).status_code == 404
    assert (
        client.post(
            url, json={"aware_at": now.isoformat()}, headers=auth(api_tokens.viewer)
        ).status_code
        == 403
    )
