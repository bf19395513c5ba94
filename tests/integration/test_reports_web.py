"""The reports dashboard (/reports): a session, the same figures and charts, escaping,
restricted incidents, bad input named."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_web import bearer, login
from warroom.clock import FakeClock


def test_the_dashboard_shows_the_period_with_charts_for_those_allowed(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    clock.set(datetime(2024, 4, 10, 12, 0, tzinfo=UTC))
    rows = [
        {"external_id": "d1", "title": "A", "severity": "SEV1", "services": ["payment-service"],
         "declared_at": "2024-04-02T10:00:00Z", "acknowledged_at": "2024-04-02T10:05:00Z",
         "resolved_at": "2024-04-02T11:00:00Z"},
        {"external_id": "d2", "title": "B", "severity": "SEV2",
         "declared_at": "2024-04-03T10:00:00Z"},
        {"external_id": "d3", "title": "Secret", "severity": "SEV2", "restricted": True,
         "declared_at": "2024-04-04T10:00:00Z"},
    ]  # fmt: skip
    r = client.post("/api/v1/import/incidents", json=rows, headers=bearer(api_tokens.admin))
    assert r.status_code == 200, r.text
    anonymous = client.get("/reports", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    login(client, api_tokens.bob)  # a responder, not a participant of the restricted one
    page = client.get("/reports", params={"period": "weekly", "on": "2024-04-03"})
    assert page.status_code == 200
    assert "2024-04-01 to 2024-04-07" in page.text
    assert '<strong id="report-count">2</strong>' in page.text
    assert page.text.count('class="chart-bar"') >= 7 + 2 + 1  # days, severities, services
    assert "SLA compliance" in page.text and "acknowledge" in page.text
    assert "payment-service" in page.text
    assert "Content-Security-Policy" in page.headers
    client.cookies.clear()
    login(client, api_tokens.admin)
    page = client.get("/reports", params={"period": "weekly", "on": "2024-04-03"})
    assert '<strong id="report-count">3</strong>' in page.text


def test_bad_input_is_named(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    page = client.get("/reports", params={"period": "hourly"})
    assert page.status_code == 400 and "period: choose one of" in page.text
    page = client.get("/reports", params={"period": "daily", "on": "2024-13-01"})
    assert page.status_code == 400 and "on: &#39;2024-13-01&#39; is not a date" in page.text
    page = client.get("/reports", params={"period": "daily", "on": "<b>x</b>"})
    assert page.status_code == 400 and "<b>x</b>" not in page.text
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text
