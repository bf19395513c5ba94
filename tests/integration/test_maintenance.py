"""Maintenance windows: the API, configured windows, and what they do to routing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_alert_routing import (
    FakePrometheus,
    alerts,
    am_alert,
    auth,
    incidents,
    make_integration,
    post_am,
    promql_config,
    resolve_am,
    route,
)
from warroom.alerts.routing import evaluate_rules
from warroom.clock import FakeClock
from warroom.config.alerts import ConfiguredMaintenance
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.maintenance.service import Calendar, configured_windows, weekly_occurrences

T0 = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


def schedule(client: TestClient, token: str, **body: Any) -> Any:
    return client.post("/api/v1/maintenance", json=body, headers=auth(token))


def configured(config: WarroomConfig, *windows: dict[str, Any]) -> WarroomConfig:
    parsed = [ConfiguredMaintenance.model_validate(w) for w in windows]
    return config.model_copy(update={"maintenance_windows": parsed})


# --- the API ------------------------------------------------------------------------------


def test_schedule_list_and_cancel_windows(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    r = schedule(
        client,
        api_tokens.responder,
        service="database",
        starts_at="2024-03-15T10:00:00+01:00",
        ends_at="2024-03-15T11:00:00Z",
        reason="Minor version upgrade",
    )
    assert r.status_code == 201, r.text
    window = r.json()
    assert r.headers["Location"] == f"/api/v1/maintenance/{window['id']}"
    assert window == {
        "id": window["id"],
        "source": "api",
        "name": None,
        "service": "database",
        "starts_at": "2024-03-15T09:00:00Z",
        "ends_at": "2024-03-15T11:00:00Z",
        "reason": "Minor version upgrade",
        "created_by": "responder",
        "created_at": "2024-03-15T09:30:00Z",
        "cancelled_at": None,
        "active": True,
    }
    later = schedule(
        client, api_tokens.admin, service="search", starts_at="2024-03-16T00:00:00Z",
        ends_at="2024-03-16T02:00:00Z",
    ).json()  # fmt: skip
    # Starting now when no start is given.
    now = schedule(client, api_tokens.admin, service="web-app", ends_at="2024-03-15T10:00:00Z")
    assert now.json()["starts_at"] == "2024-03-15T09:30:00Z"

    def listed(query: str = "") -> list[tuple[str, bool]]:
        r = client.get(f"/api/v1/maintenance{query}", headers=auth(api_tokens.viewer))
        assert r.status_code == 200, r.text
        return [(w["service"], w["active"]) for w in r.json()]

    assert listed() == [("web-app", True), ("search", False), ("database", True)]
    assert listed("?active=true") == [("web-app", True), ("database", True)]
    assert listed("?active=false") == [("search", False)]
    assert listed("?service=search") == [("search", False)]
    shown = client.get(f"/api/v1/maintenance/{later['id']}", headers=auth(api_tokens.viewer))
    assert shown.json()["service"] == "search"

    clock.advance(minutes=10)
    r = client.delete(f"/api/v1/maintenance/{window['id']}", headers=auth(api_tokens.responder))
    assert r.status_code == 200
    assert (r.json()["cancelled_at"], r.json()["active"]) == ("2024-03-15T09:40:00Z", False)
    # Cancelling twice changes nothing.
    again = client.delete(f"/api/v1/maintenance/{window['id']}", headers=auth(api_tokens.admin))
    assert again.json()["cancelled_at"] == "2024-03-15T09:40:00Z"
    assert listed("?active=true") == [("web-app", True)]
    clock.advance(hours=1)
    ended = client.delete(f"/api/v1/maintenance/{now.json()['id']}", headers=auth(api_tokens.admin))
    assert ended.status_code == 409
    assert ended.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"service": "nope", "ends_at": "2024-03-15T11:00:00Z"}, 422, "service"),
        (
            {
                "service": "search",
                "starts_at": "2024-03-15T11:00:00Z",
                "ends_at": "2024-03-15T10:00:00Z",
            },
            422,
            "ends_at",
        ),
        ({"service": "search", "ends_at": "2024-03-15T09:00:00Z"}, 422, "ends_at"),
        ({"service": "search", "ends_at": "2024-03-15T11:00:00"}, 422, "ends_at"),  # no offset
        ({"service": "search"}, 422, "ends_at"),
        ({"service": "search", "ends_at": "2024-03-15T11:00:00Z", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(
    client: TestClient, api_tokens: Tokens, body: dict[str, Any], status: int, field: str
) -> None:
    r = client.post("/api/v1/maintenance", json=body, headers=auth(api_tokens.responder))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"].startswith(f"{field}:") or error["details"]["field"] == field


def test_who_may_do_what(client: TestClient, api_tokens: Tokens) -> None:
    body = {"service": "search", "ends_at": "2024-03-15T11:00:00Z"}
    assert client.post("/api/v1/maintenance", json=body).status_code == 401
    assert schedule(client, api_tokens.viewer, **body).status_code == 403
    window = schedule(client, api_tokens.responder, **body).json()
    assert client.get("/api/v1/maintenance", headers=auth(api_tokens.viewer)).status_code == 200
    r = client.delete(f"/api/v1/maintenance/{window['id']}", headers=auth(api_tokens.viewer))
    assert r.status_code == 403
    assert client.get("/api/v1/maintenance/999", headers=auth(api_tokens.viewer)).status_code == 404
    too_big = client.get("/api/v1/maintenance/99999999999", headers=auth(api_tokens.viewer))
    assert too_big.status_code == 422


# --- what windows do to alerts ----------------------------------------------------------


def test_alerts_in_a_window_are_recorded_suppressed_and_declare_again_after_it(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    schedule(
        client, api_tokens.responder, service="payment-service", ends_at="2024-03-15T10:30:00Z"
    )
    key = make_integration(client, api_tokens.admin, "alertmanager", "payment-service")
    during = am_alert("PaymentFailureRate", value=4, instance="pay-1")
    post_am(client, key, during)
    route(ctx)
    assert incidents(client, api_tokens.admin) == []
    [alert] = alerts(client, api_tokens.viewer)
    assert (alert["status"], alert["suppressed"], alert["incident"]) == ("triggered", True, None)
    # Still suppressed when it is acknowledged or resolved later.
    clock.advance(hours=1)
    resolve_am(client, key, during)
    route(ctx)
    assert incidents(client, api_tokens.admin) == []
    # The window has ended: the same trigger declares again.
    post_am(client, key, am_alert("PaymentFailureRate", value=4, instance="pay-2"))
    route(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert (incident["severity"], incident["services"]) == ("SEV1", ["payment-service"])
    assert [a["suppressed"] for a in alerts(client, api_tokens.viewer)] == [True, False]


def test_windows_of_other_services_change_nothing(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    schedule(client, api_tokens.responder, service="search", ends_at="2024-03-15T10:30:00Z")
    key = make_integration(client, api_tokens.admin, "alertmanager", "payment-service")
    post_am(client, key, am_alert("PaymentFailureRate", value=4))
    route(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1


def test_a_cancelled_window_suppresses_what_arrived_while_it_was_open(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    window = schedule(
        client, api_tokens.responder, service="database", ends_at="2024-03-15T12:00:00Z"
    ).json()
    key = make_integration(client, api_tokens.admin, "alertmanager", "database")
    post_am(client, key, am_alert("DatabaseConnectionFailures", instance="db-1"))
    clock.advance(minutes=5)
    client.delete(f"/api/v1/maintenance/{window['id']}", headers=auth(api_tokens.responder))
    route(ctx)  # routed after the cancel, but it arrived during the window
    assert incidents(client, api_tokens.admin) == []
    post_am(client, key, am_alert("DatabaseConnectionFailures", instance="db-2"))
    route(ctx)
    assert len(incidents(client, api_tokens.admin)) == 1


def test_configured_windows_suppress_and_are_listed(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, config: WarroomConfig
) -> None:
    ctx.config = configured(
        config,
        {
            "name": "payments-migration",
            "service": "payment-service",
            "starts_at": "2024-03-15T09:00:00Z",
            "ends_at": "2024-03-15T10:00:00Z",
            "reason": "Card processor migration",
        },
        {
            "name": "weekly-patching",
            "services": ["database"],
            "weekly": {"days": ["sunday"], "start": "02:00", "duration": "2h"},
        },
    )
    key = make_integration(client, api_tokens.admin, "alertmanager", "payment-service")
    post_am(client, key, am_alert("PaymentFailureRate", value=4))
    route(ctx)
    assert incidents(client, api_tokens.admin) == []
    assert alerts(client, api_tokens.viewer)[0]["suppressed"] is True
    r = client.get("/api/v1/maintenance", headers=auth(api_tokens.viewer))
    assert [
        (w["source"], w["name"], w["service"], w["starts_at"], w["ends_at"], w["active"])
        for w in r.json()
    ] == [
        (
            "config",
            "payments-migration",
            "payment-service",
            "2024-03-15T09:00:00Z",
            "2024-03-15T10:00:00Z",
            True,
        ),
        # The next Sunday's occurrence (2024-03-15 is a Friday).
        (
            "config",
            "weekly-patching",
            "database",
            "2024-03-17T02:00:00Z",
            "2024-03-17T04:00:00Z",
            False,
        ),
    ]
    r = client.get("/api/v1/maintenance?active=true", headers=auth(api_tokens.viewer))
    assert [w["name"] for w in r.json()] == ["payments-migration"]


def test_weekly_windows_follow_their_time_zone_across_dst() -> None:
    window = ConfiguredMaintenance.model_validate(
        {
            "service": "database",
            "weekly": {
                "days": ["sun"],
                "start": "02:30",
                "duration": "2h",
                "timezone": "Europe/Berlin",
            },
        }
    )
    assert window.weekly is not None

    def covered(at: datetime) -> bool:
        return Calendar(configured_windows(window, at)).covering("database", at) is not None

    winter_sunday = datetime(2024, 3, 10, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert covered(winter_sunday)
    assert covered(winter_sunday + timedelta(hours=1, minutes=59))
    assert not covered(winter_sunday + timedelta(hours=2))
    assert not covered(winter_sunday - timedelta(seconds=1))
    summer_sunday = datetime(2024, 6, 2, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert covered(summer_sunday)
    assert not covered(datetime(2024, 6, 3, 0, 30, tzinfo=UTC))  # Monday
    # Around `around`: the occurrences of the week before and after.
    starts = [s for s, _ in weekly_occurrences(window.weekly, winter_sunday)]
    assert datetime(2024, 3, 10, 1, 30, tzinfo=UTC) in starts
    assert datetime(2024, 3, 17, 1, 30, tzinfo=UTC) in starts


def test_a_pending_rule_waits_for_the_window_to_end(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = make_integration(client, api_tokens.admin, "alertmanager", "api-gateway")
    post_am(client, key, am_alert("HighErrorRate", value=12))
    route(ctx)
    clock.advance(minutes=1)
    schedule(client, api_tokens.responder, service="api-gateway", ends_at="2024-03-15T09:40:00Z")
    clock.advance(minutes=4)
    assert evaluate_rules(ctx) == pytest.approx(300.0)  # until the window ends
    assert incidents(client, api_tokens.admin) == []
    clock.advance(minutes=5)
    evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["severity"] == "SEV1"


def test_a_promql_rule_does_not_declare_for_a_service_in_maintenance(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    clock: FakeClock,
    config: WarroomConfig,
) -> None:
    schedule(
        client, api_tokens.responder, service="payment-service", ends_at="2024-03-15T10:00:00Z"
    )
    with FakePrometheus() as prometheus:
        ctx.config = promql_config(config, prometheus.url, "payment-failures")
        prometheus.series = [({}, "3")]
        evaluate_rules(ctx)
        assert incidents(client, api_tokens.admin) == []
        clock.advance(minutes=29, seconds=59)
        evaluate_rules(ctx)
        assert incidents(client, api_tokens.admin) == []
        clock.advance(seconds=1)  # the window has ended
        evaluate_rules(ctx)
    [incident] = incidents(client, api_tokens.admin)
    assert incident["services"] == ["payment-service"]
