"""Drills (docs/drills.md): a scenario's alerts go through the real intake at their
offsets on the fake clock; the incident they open is a drill — left out of the metrics,
labelled [DRILL] on every message, kept off the public status page, paging only the
drill's participants — and the report scores the response.

At T0 (2024-03-15 09:30 UTC) the `platform` schedule has tom.nguyen as primary and
priya.patel as secondary; the database service pages along `platform-oncall` (10 minutes
a step). The drill leaves tom.nguyen out, so the first step pages nobody.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import (
    auth,
    make_integration,
    pd_event,
    post_pd,
    route,
)
from warroom.alerts.models import Alert
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.drills import service as drills
from warroom.engine.models import Notification
from warroom.engine.timer_job import TimerRunner
from warroom.incidents.models import Incident
from warroom.statuspage.models import PublicIncident

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "drills"


def scenario(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLE / "sev1-database-outage.yaml").read_text())
    data.update(changes)
    return dict(data)


def settle(ctx: AppContext) -> None:
    """What the engine does on a pass: inject due drill alerts, route, run due timers."""
    drills.advance(ctx)
    route(ctx)
    TimerRunner()(ctx)


def messages(ctx: AppContext, incident_id: int) -> list[Any]:
    with ctx.db.unit_of_work() as uow:
        return list(
            uow.session.execute(
                select(Notification.recipient, Notification.subject, Notification.body)
                .where(Notification.incident_id == incident_id)
                .order_by(Notification.id)
            ).all()
        )


def start(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    r = client.post("/api/v1/drills", json={"scenario": scenario(**changes)}, headers=auth(token))
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_drill_runs_through_the_intake_and_is_scored(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    admin = auth(api_tokens.admin)
    make_integration(client, api_tokens.admin, "pagerduty", "database", "drill-alertmanager")
    real_key = make_integration(client, api_tokens.admin, "pagerduty", "database", "real-pd")
    drill = start(client, api_tokens.admin, participants=["priya.patel", "jane.smith"])
    assert drill["id"] == "DRILL-1" and drill["alerts_sent"] == 1  # the one at 0s
    settle(ctx)
    drill = client.get("/api/v1/drills/DRILL-1", headers=admin).json()
    key = drill["incident"]
    assert key is not None, "the auto-declare rule declared the drill's incident"

    # A real alert of the same kind on the same service opens a real incident of its own.
    post_pd(
        client,
        pd_event(
            real_key,
            "trigger",
            "real-db",
            summary="Real connection failures",
            custom_details={},
        )
        | {},
    )
    with ctx.db.unit_of_work() as uow:
        real = uow.session.scalar(select(Alert).where(Alert.dedup_key == "real-db"))
        assert real is not None
        real.labels = {"alertname": "DatabaseConnectionFailures", "warroom_drill": "1"}
        uow.commit()
    settle(ctx)
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Incident.id, Incident.drill_id).order_by(Incident.id)
        ).all()
        real_alert = uow.session.scalar(select(Alert).where(Alert.dedup_key == "real-db"))
        assert real_alert is not None
        # A label sent from outside makes nothing a drill: a real incident of its own.
        assert real_alert.incident_id is not None and real_alert.incident_id != rows[0].id
    assert [r.drill_id for r in rows] == [1, None]
    assert client.get(f"/api/v1/incidents/{key}", headers=admin).json()["drill"] == "DRILL-1"
    drill_incident = rows[0].id

    # The first step (tom.nguyen, primary) is not a participant: nobody paged yet.
    assert all(
        m.recipient in (None, "priya.patel", "jane.smith") for m in messages(ctx, drill_incident)
    )
    clock.advance(minutes=2)
    settle(ctx)
    assert client.get("/api/v1/drills/DRILL-1", headers=admin).json()["alerts_sent"] == 2
    clock.advance(minutes=9)  # 11 minutes: the policy's second step, priya.patel
    settle(ctx)
    with ctx.db.unit_of_work() as uow:
        joined = uow.session.scalars(
            select(Alert.incident_id).where(Alert.dedup_key.like("drill-1-%"))
        ).all()
        # The drill's alerts join the drill's incident or none: never the real one.
        assert rows[1].id not in joined and drill_incident in joined
    sent = messages(ctx, drill_incident)
    recipients = {m.recipient for m in sent if m.recipient}
    assert "priya.patel" in recipients and "tom.nguyen" not in recipients
    assert recipients <= {"priya.patel", "jane.smith"}
    for m in sent:
        assert "[DRILL]" in (m.subject or "") + m.body, m
    real_messages = messages(ctx, rows[1].id)
    assert real_messages and all("[DRILL]" not in (m.subject or "") + m.body for m in real_messages)

    # The responders work the drill.
    jane = auth(api_tokens.jane)
    assert client.post(f"/api/v1/incidents/{key}/ack", json={}, headers=jane).status_code == 200
    for role, user in (
        ("incident_commander", "jane.smith"),
        ("technical_lead", "priya.patel"),
        ("communications_lead", "jane.smith"),
    ):
        r = client.put(f"/api/v1/incidents/{key}/roles/{role}", json={"user": user}, headers=admin)
        assert r.status_code == 200, r.text
    clock.advance(minutes=2)  # 13 minutes
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "communication", "description": "Failing over to pg-main-2"},
        headers=jane,
    )
    assert r.status_code == 201, r.text
    # A public status change on a drill publishes nothing.
    r = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "monitoring", "message": "Failed over", "public": True},
        headers=jane,
    )
    assert r.status_code == 200, r.text
    with ctx.db.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PublicIncident)) == 0

    report = client.get("/api/v1/drills/DRILL-1/report", headers=admin).json()
    measures = {m["name"]: m for m in report["measures"]}
    assert measures["declare"]["seconds"] == 0 and measures["declare"]["met"] is True
    assert measures["acknowledge"]["seconds"] == 11 * 60 and measures["acknowledge"]["met"] is False
    assert measures["first_update"]["seconds"] == 13 * 60 and measures["first_update"]["met"]
    assert measures["mitigate"]["seconds"] == 13 * 60 and measures["mitigate"]["met"] is True
    assert measures["roles"]["seconds"] is None  # the scribe was never named
    assert report["roles"]["missing"] == ["scribe"]
    assert report["score"] == {"met": 3, "measured": 4, "of": 5}
    assert "Acknowledge alert" in report["runbook"]["expected_not_done"]
    assert report["runbook"]["steps"] > 0 and report["runbook"]["done"] == 0

    # The organisation's metrics count the real incident only.
    metrics = client.get("/api/v1/reports/metrics", headers=admin).json()
    assert metrics["count"] == 1

    listed = client.get("/api/v1/drills", headers=admin).json()["drills"]
    assert [d["id"] for d in listed] == ["DRILL-1"] and listed[0]["incident"] == key
    assert listed[0]["alerts_sent"] == 3
    finished = client.post("/api/v1/drills/DRILL-1/finish", headers=admin)
    assert finished.status_code == 200 and finished.json()["status"] == "finished"
    with ctx.db.unit_of_work() as uow:
        open_alerts = uow.session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.dedup_key.like("drill-1-%"))
            .where(Alert.resolved_at.is_(None))
        )
        assert open_alerts == 0  # finishing resolves the drill's alerts


def test_a_drill_declared_by_hand_is_never_published_and_ends_when_finished(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    admin = auth(api_tokens.admin)
    make_integration(client, api_tokens.admin, "pagerduty", "database", "drill-alertmanager")
    start(
        client,
        api_tokens.admin,
        alerts=[
            {"summary": "Nothing any rule takes"},
            {"summary": "Comes after the end", "at": "30 minutes"},
        ],
    )
    settle(ctx)
    assert client.get("/api/v1/drills/DRILL-1", headers=admin).json()["incident"] is None
    r = client.post("/api/v1/drills/DRILL-1/declare", json={}, headers=auth(api_tokens.responder))
    assert r.status_code == 201, r.text
    key = r.json()["incident"]
    with ctx.db.unit_of_work() as uow:
        from warroom.statuspage import service as statuspage
        from warroom.statuspage.logic import PublicStatus

        incident = uow.session.get(Incident, int(key.removeprefix("INC-")))
        assert incident is not None and incident.drill_id == 1
        try:
            statuspage.publish_update(
                uow.session,
                incident=incident,
                status=PublicStatus.INVESTIGATING,
                body="x",
                now=ctx.clock.now(),
                actor="admin",
            )
        except Exception as exc:
            assert "drill" in str(exc)
        else:
            raise AssertionError("a drill was published")
    assert client.get("/api/v1/reports/metrics", headers=admin).json()["count"] == 0
    assert client.post("/api/v1/drills/DRILL-1/finish", headers=admin).status_code == 200
    clock.advance(minutes=45)
    settle(ctx)  # the 30-minute alert never comes once the drill is over
    assert client.get("/api/v1/drills/DRILL-1", headers=admin).json()["alerts_sent"] == 1
    assert client.post("/api/v1/drills/DRILL-1/finish", headers=admin).status_code == 409


def test_bad_scenarios_name_the_field(client: TestClient, api_tokens: Tokens) -> None:
    admin = auth(api_tokens.admin)
    make_integration(client, api_tokens.admin, "pagerduty", "database", "drill-alertmanager")
    cases = [
        ({"participants": ["nobody.here"]}, "participants.0"),
        ({"alerts": []}, "alerts"),
        ({"integration": "missing"}, "integration"),
        ({"alerts": [{"summary": "x", "at": "2 days"}]}, "alerts.0.at"),
        ({"alerts": [{"summary": "x", "labels": {"warroom_drill": "9"}}]}, "alerts.0.labels"),
    ]
    for change, field in cases:
        r = client.post("/api/v1/drills", json={"scenario": scenario(**change)}, headers=admin)
        assert r.status_code == 422, (change, r.text)
        assert field in r.text, (change, r.text)
    r = client.post(
        "/api/v1/drills", json={"scenario": scenario()}, headers=auth(api_tokens.responder)
    )
    assert r.status_code == 403
    assert client.get("/api/v1/drills", headers=admin).json()["drills"] == []
