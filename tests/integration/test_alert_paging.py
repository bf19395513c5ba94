"""Alerts outside any incident act by their severity (`alert_routing`): critical pages
along the service's escalation policy until acknowledged, warning tells the owning team's
Slack channel once, info sends nothing, and an alert in maintenance sends nothing.

The jobs run directly against the fake clock; the outbox rows are the expectation (no
delivery runs). At T0 the `platform` schedule has tom.nguyen as primary and priya.patel
as secondary; payment-service pages along `platform-oncall` (10 minutes a step) and is
owned by the `payments` team (#payments). The alerts' summaries match no auto-declare
rule of the examples, so no incident is declared.
"""

from __future__ import annotations

from datetime import timedelta

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
)
from warroom.alerts.models import Alert
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification, Timer
from warroom.engine.timer_job import TimerRunner

Row = tuple[str | None, str, str, str]


def settle(ctx: AppContext) -> None:
    """Route, then run the timers due now."""
    route(ctx)
    TimerRunner()(ctx)


def outbox(ctx: AppContext) -> list[Row]:
    """(recipient, channel, reason, status) of every message, oldest first."""
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(
            select(
                Notification.recipient,
                Notification.channel,
                Notification.reason,
                Notification.status,
                Notification.alert_id,
            ).order_by(Notification.id)
        ).all()
    for row in rows:
        assert row.alert_id is not None, "every message here is about an alert"
    return [(r.recipient, r.channel, r.reason, r.status) for r in rows]


def alert_timers(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Timer.key, Timer.status).where(Timer.kind == "escalate_alert").order_by(Timer.id)
        ).all()
    return [(r.key, r.status) for r in rows]


def trigger(client: TestClient, key: str, dedup: str, severity: str) -> None:
    post_pd(
        client,
        pd_event(
            key, "trigger", dedup, summary=f"Ledger reconciler lag ({dedup})", severity=severity
        ),
    )


def test_a_critical_alert_pages_the_on_call_escalates_and_stops_when_acknowledged(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-lag", "critical")
    settle(ctx)
    assert incidents(client, api_tokens.admin) == []
    # The primary's high-urgency contact plan: e-mail and Slack now, SMS and a call later.
    tom = outbox(ctx)
    assert {(r, c) for r, c, _, _ in tom} >= {("tom.nguyen", "email"), ("tom.nguyen", "slack")}
    assert {r for r, _, _, _ in tom} == {"tom.nguyen"}
    assert {(reason, status) for _, _, reason, status in tom} == {("page", "pending")}
    # Routing it again (the source repeats it) pages nobody twice.
    post_pd(client, pd_event(key, "trigger", "ledger-lag", severity="critical"))
    settle(ctx)
    assert len(outbox(ctx)) == len(tom)

    clock.advance(minutes=9)
    settle(ctx)
    assert len(outbox(ctx)) == len(tom)
    clock.advance(minutes=1)  # 10 minutes unacknowledged: the secondary
    settle(ctx)
    priya = outbox(ctx)[len(tom) :]
    assert priya and {r for r, _, _, _ in priya} == {"priya.patel"}
    assert {reason for _, _, reason, _ in priya} == {"page"}

    post_pd(client, pd_event(key, "acknowledge", "ledger-lag"))
    settle(ctx)
    # Nothing not yet sent goes out; no further step is due.
    assert {status for _, _, _, status in outbox(ctx)} == {"cancelled"}
    assert [s for _, s in alert_timers(ctx)] == ["done", "done", "cancelled"]
    clock.advance(minutes=30)
    settle(ctx)
    assert len(outbox(ctx)) == len(tom) + len(priya)


def test_a_resolved_alert_stops_paging(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-lag", "critical")
    settle(ctx)
    clock.advance(minutes=2)
    post_pd(client, pd_event(key, "resolve", "ledger-lag"))
    settle(ctx)
    clock.advance(minutes=20)
    settle(ctx)
    assert {r for r, _, _, _ in outbox(ctx)} == {"tom.nguyen"}
    assert alert_timers(ctx)[-1][1] == "cancelled"


def test_a_warning_alert_tells_the_team_channel_once_and_never_pages(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-slow", "warning")
    settle(ctx)
    post_pd(client, pd_event(key, "trigger", "ledger-slow", severity="warning"))
    clock.advance(minutes=30)
    settle(ctx)
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(select(Notification.channel, Notification.address)).all()
    assert [tuple(r) for r in rows] == [("slack", "#payments")]
    assert [reason for _, _, reason, _ in outbox(ctx)] == ["alert"]
    assert alert_timers(ctx) == []


def test_an_error_alert_tells_the_channel_and_every_member_by_email(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-errors", "error")
    settle(ctx)
    team = next(t for t in ctx.config.teams if t.name == "payments")
    with ctx.db.unit_of_work() as uow:
        rows = uow.session.execute(select(Notification.channel, Notification.address)).all()
    channels = sorted(c for c, _ in rows)
    assert channels == ["email"] * len(team.members) + ["slack"]
    assert alert_timers(ctx) == []


def test_an_info_alert_sends_nothing(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-note", "info")
    clock.advance(minutes=15)
    settle(ctx)
    assert outbox(ctx) == []
    assert alert_timers(ctx) == []


def test_an_alert_in_maintenance_sends_nothing(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    window = {
        "service": "payment-service",
        "starts_at": "2024-03-15T09:00:00Z",
        "ends_at": "2024-03-15T11:00:00Z",
        "reason": "Ledger migration",
    }
    r = client.post("/api/v1/maintenance", json=window, headers=auth(api_tokens.responder))
    assert r.status_code == 201, r.text
    key = make_integration(client, api_tokens.admin, "pagerduty", "payment-service")
    trigger(client, key, "ledger-lag", "critical")
    settle(ctx)
    clock.advance(timedelta(minutes=20))
    settle(ctx)
    with ctx.db.unit_of_work() as uow:
        [alert] = uow.session.scalars(select(Alert)).all()
        assert alert.suppressed
    assert outbox(ctx) == []
    assert alert_timers(ctx) == []
