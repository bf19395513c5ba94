"""Alerts in from Grafana, generic webhooks and the public report form/API (SQLite and PG)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from tests.unit.test_alert_sources import GRAFANA, LEGACY
from warroom.alerts.models import Alert
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.people import Service
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    value = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def make_integration(
    client: TestClient,
    admin: str,
    type: str,
    settings: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or f"{type}-payments",
        "type": type,
        "service": "payment-service",
    }
    if settings is not None:
        body["settings"] = settings
    r = client.post("/api/v1/integrations", json=body, headers=auth(admin))
    assert r.status_code == 201, r.text
    return dict(r.json())


def alerts(client: TestClient, token: str, query: str = "") -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/alerts{query}", headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def stored(ctx: AppContext) -> int:
    with ctx.db.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(Alert)) or 0


def firing_grafana() -> dict[str, Any]:
    body = copy.deepcopy(GRAFANA)
    second = body["alerts"][1]
    second.update(status="firing", endsAt="0001-01-01T00:00:00Z")
    return body


# --- Grafana ------------------------------------------------------------------------------


def test_grafana_firing_redelivery_and_resolve(client: TestClient, api_tokens: Tokens) -> None:
    made = make_integration(client, api_tokens.admin, "grafana")
    assert made["url"].endswith("/api/v1/integrations/grafana")
    key = made["key"]
    r = client.post("/api/v1/integrations/grafana", json=firing_grafana(), headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"] == {"created": 2}
    # Grafana repeats the notification (repeat interval, HA): nothing new.
    r = client.post(f"/api/v1/integrations/grafana?key={key}", json=firing_grafana())
    assert r.json()["outcomes"] == {"duplicate": 2}
    listed = {a["dedup_key"]: a for a in alerts(client, api_tokens.viewer)}
    memory = listed["c6eadffa33fcdf37"]
    assert memory["summary"] == "This alert was triggered for zone us-1"
    assert memory["severity"] == "warning"
    assert memory["details"]["valueString"] == "[ var='B' labels={} value=44.2 ]"
    assert memory["details"]["values"] == {"B": 44.23943737541908, "C": 1}
    assert memory["group_key"] == '{}/{}:{alertname="High memory usage"}'
    assert memory["occurrences"] == 1
    assert listed["bc97ff14869b13e3"]["summary"] == "High CPU usage"

    resolved = copy.deepcopy(GRAFANA)  # its second alert is the CPU alert, resolved
    resolved["alerts"] = resolved["alerts"][1:]
    r = client.post("/api/v1/integrations/grafana", json=resolved, headers=auth(key))
    assert r.json()["outcomes"] == {"resolved": 1}
    statuses = {a["dedup_key"]: a["status"] for a in alerts(client, api_tokens.viewer)}
    assert statuses == {"c6eadffa33fcdf37": "triggered", "bc97ff14869b13e3": "resolved"}


def test_grafana_authorization_forms(client: TestClient, api_tokens: Tokens) -> None:
    key = make_integration(client, api_tokens.admin, "grafana")["key"]
    body = {**firing_grafana(), "alerts": firing_grafana()["alerts"][:1]}
    # Grafana's Basic auth settings: any user name, the key as password.
    r = client.post("/api/v1/integrations/grafana", json=body, headers=basic("grafana", key))
    assert r.status_code == 200, r.text
    # The contact point may use PUT.
    r = client.put("/api/v1/integrations/grafana", json=body, headers=basic("", key))
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"] == {"duplicate": 1}


def test_grafana_legacy_webhook(client: TestClient, api_tokens: Tokens) -> None:
    key = make_integration(client, api_tokens.admin, "grafana")["key"]
    r = client.post("/api/v1/integrations/grafana", json=LEGACY, headers=auth(key))
    assert r.json()["outcomes"] == {"created": 1}
    ok = {**LEGACY, "state": "ok"}
    r = client.post("/api/v1/integrations/grafana", json=ok, headers=auth(key))
    assert r.json()["outcomes"] == {"resolved": 1}
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["dedup_key"] == "grafana-rule-7" and alert["status"] == "resolved"


def test_grafana_bad_keys_are_401(ctx: AppContext, client: TestClient, api_tokens: Tokens) -> None:
    webhook = make_integration(client, api_tokens.admin, "webhook")["key"]
    body = firing_grafana()
    assert client.post("/api/v1/integrations/grafana", json=body).status_code == 401
    for headers in (
        auth("0" * 32),
        auth(webhook),
        basic("x", "wrong"),
        {"Authorization": "Basic !!"},
    ):
        r = client.post("/api/v1/integrations/grafana", json=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthorized"
    assert stored(ctx) == 0


def test_grafana_malformed_is_400_naming_the_field(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "grafana")["key"]
    bad = firing_grafana()
    bad["alerts"][1]["status"] = "sideways"
    r = client.post("/api/v1/integrations/grafana", json=bad, headers=auth(key))
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"] == "alerts.1.status"
    r = client.post(
        "/api/v1/integrations/grafana",
        content=b"{nope",
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "body"
    assert stored(ctx) == 0  # nothing half-written


# --- generic webhook ----------------------------------------------------------------------


def test_webhook_default_mapping_dedup_and_resolve(client: TestClient, api_tokens: Tokens) -> None:
    made = make_integration(client, api_tokens.admin, "webhook")
    assert made["url"].endswith("/api/v1/integrations/webhook")
    key = made["key"]
    event = {"title": "Queue backlog > 10k", "source": "worker-3", "severity": "P2", "id": "q1"}
    r = client.post("/api/v1/integrations/webhook", json=event, headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["outcomes"] == {"created": 1}
    r = client.post(f"/api/v1/integrations/webhook?key={key}", json=event)
    assert r.json()["outcomes"] == {"updated": 1}
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["occurrences"] == 2
    assert (alert["summary"], alert["source"], alert["severity"]) == (
        "Queue backlog > 10k",
        "worker-3",
        "error",
    )
    r = client.post(
        "/api/v1/integrations/webhook", json={"id": "q1", "status": "resolved"}, headers=auth(key)
    )
    assert r.json()["outcomes"] == {"resolved": 1}
    assert alerts(client, api_tokens.viewer)[0]["status"] == "resolved"


MAPPING = {
    "events": "$.checks[*]",
    "summary": ["@.output", "@.name"],
    "source": "$.agent.host",
    "dedup_key": "@.id",
    "action": "@.state",
    "severity": "@.level",
    "labels": "@.tags",
    "action_map": {"down": "trigger", "up": "resolve"},
    "severity_map": {"red": "critical"},
}


def test_webhook_with_a_mapping_splits_the_body(client: TestClient, api_tokens: Tokens) -> None:
    key = make_integration(client, api_tokens.admin, "webhook", {"mapping": MAPPING})["key"]
    body = {
        "agent": {"host": "probe-eu"},
        "checks": [
            {"id": "http-root", "name": "GET /", "state": "down", "level": "red", "tags": {"a": 1}},
            {"id": "tls", "output": "TLS expires in 3 days", "state": "down", "level": "amber"},
        ],
    }
    r = client.post("/api/v1/integrations/webhook", json=body, headers=basic("", key))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "alerts": 2, "outcomes": {"created": 2}}
    listed = {a["dedup_key"]: a for a in alerts(client, api_tokens.viewer)}
    assert listed["http-root"]["summary"] == "GET /"
    assert listed["http-root"]["severity"] == "critical"
    assert listed["http-root"]["source"] == "probe-eu"
    assert listed["http-root"]["labels"] == {"a": 1}
    assert listed["tls"]["summary"] == "TLS expires in 3 days"
    assert listed["tls"]["severity"] == "error"  # amber is not mapped: the default
    body["checks"] = [{"id": "tls", "state": "up"}]
    r = client.post("/api/v1/integrations/webhook", json=body, headers=auth(key))
    assert r.json()["outcomes"] == {"resolved": 1}


def test_webhook_missing_field_is_400_naming_the_mapping_field(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = make_integration(client, api_tokens.admin, "webhook", {"mapping": MAPPING})["key"]
    body = {"agent": {}, "checks": [{"id": "ok", "name": "fine"}, {"id": "x", "state": "down"}]}
    r = client.post("/api/v1/integrations/webhook", json=body, headers=auth(key))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["details"]["field"] == "mapping.summary"
    assert "(event 1)" in error["message"] and "@.output" in error["message"]
    r = client.post("/api/v1/integrations/webhook", json={"other": 1}, headers=auth(key))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "mapping.events"
    assert stored(ctx) == 0


def test_webhook_mapping_is_checked_when_the_integration_is_created(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post(
        "/api/v1/integrations",
        json={
            "name": "bad-webhook",
            "type": "webhook",
            "service": "payment-service",
            "settings": {"mapping": {"summary": "$..title"}},
        },
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "settings.mapping.summary"
    listed = client.get("/api/v1/integrations", headers=auth(api_tokens.admin)).json()
    assert [i["name"] for i in listed] == []


def test_webhook_bad_keys_are_401(client: TestClient, api_tokens: Tokens) -> None:
    grafana = make_integration(client, api_tokens.admin, "grafana")["key"]
    body = {"title": "x"}
    assert client.post("/api/v1/integrations/webhook", json=body).status_code == 401
    assert (
        client.post("/api/v1/integrations/webhook", json=body, headers=auth(grafana)).status_code
        == 401
    )
    assert client.post("/api/v1/integrations/webhook?key=nope", json=body).status_code == 401


# --- the report form and API --------------------------------------------------------------


def report_form(**fields: str) -> dict[str, str]:
    return {
        "service": "payment-service",
        "summary": "Checkout spins forever",
        "description": "Since 10:00 every card payment hangs.",
        "email": "",
        "website": "",
        **fields,
    }


def test_report_form_renders_without_login(client: TestClient) -> None:
    r = client.get("/report?service=search")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    page = r.text
    assert '<option value="payment-service">Payments</option>' in page
    assert '<option value="search" selected>Search</option>' in page
    assert 'name="website"' in page and "<div hidden" in page
    assert "<script" not in page and "style=" not in page  # nothing inline for the CSP
    assert 'maxlength="200"' in page and 'maxlength="5000"' in page
    assert "set-cookie" not in r.headers


@pytest.fixture
def odd_client(ctx: AppContext, config: WarroomConfig) -> Iterator[TestClient]:
    """A configuration whose service title is hostile HTML."""
    hostile = Service(name="payment-service", title='<script>alert("x")</script> & "Co"')
    odd = AppContext(
        settings=ctx.settings,
        db=ctx.db,
        config=config.model_copy(update={"services": [hostile]}),
        clock=ctx.clock,
    )
    with TestClient(create_app(odd)) as c:
        yield c


def test_report_form_escapes_service_names(odd_client: TestClient) -> None:
    page = odd_client.get("/report").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Co&#34;" in page


def test_report_form_creates_an_alert(client: TestClient, api_tokens: Tokens) -> None:
    r = client.post("/report", data=report_form(email="Ann@Example.com"))
    assert r.status_code == 200, r.text
    assert "Thank you" in r.text
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["service"] == "payment-service"
    assert alert["source"] == "user report"
    assert alert["summary"] == "User report: Checkout spins forever"
    assert alert["severity"] == "warning"
    assert alert["details"] == {
        "description": "Since 10:00 every card payment hangs.",
        "reporter_email": "ann@example.com",
    }
    assert f"alert {alert['id']}" in r.text
    integrations = client.get("/api/v1/integrations", headers=auth(api_tokens.admin)).json()
    assert [(i["name"], i["type"]) for i in integrations] == [
        ("user-reports-payment-service", "report")
    ]


def test_report_dedup_same_reporter_and_text_within_ten_minutes(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    client.post("/report", data=report_form())
    clock.advance(minutes=5)
    client.post("/report", data=report_form())  # the same again: the same alert
    [alert] = alerts(client, api_tokens.viewer)
    assert alert["occurrences"] == 2
    client.post("/report", data=report_form(summary="Refunds fail"))  # new text: new alert
    r = client.post("/api/v1/reports/problem", json=report_form(email="bob@example.com"))
    assert r.status_code == 202  # another reporter: new alert
    assert len(alerts(client, api_tokens.viewer)) == 3
    clock.advance(minutes=10, seconds=1)  # the repeat window has passed
    client.post("/report", data=report_form())
    listed = alerts(client, api_tokens.viewer)
    assert len(listed) == 4
    assert [a["occurrences"] for a in listed] == [1, 1, 1, 2]
    # One report integration per service, however many reports.
    integrations = client.get("/api/v1/integrations", headers=auth(api_tokens.admin)).json()
    assert len(integrations) == 1


def test_report_honeypot_is_silently_dropped(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post("/report", data=report_form(website="http://spam.example"))
    assert r.status_code == 200 and "Thank you" in r.text
    r = client.post("/api/v1/reports/problem", json=report_form(website="http://spam.example"))
    assert r.status_code == 202 and r.json() == {"status": "accepted"}
    assert stored(ctx) == 0
    assert client.get("/api/v1/integrations", headers=auth(api_tokens.admin)).json() == []


def test_report_rate_limit(ctx: AppContext, client: TestClient, clock: FakeClock) -> None:
    for i in range(5):
        r = client.post("/report", data=report_form(summary=f"problem {i}"))
        assert r.status_code == 200, r.text
    r = client.post("/report", data=report_form(summary="one too many"))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "12"
    assert "try again in 12 seconds" in r.text
    r = client.post("/api/v1/reports/problem", json=report_form(summary="via the API"))
    assert r.status_code == 429 and r.headers["retry-after"] == "12"
    assert r.json()["error"]["code"] == "too_many_requests"
    assert stored(ctx) == 5
    clock.advance(seconds=12)
    assert client.post("/api/v1/reports/problem", json=report_form()).status_code == 202


def test_report_api_answers_202_with_the_alert(client: TestClient, api_tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/reports/problem",
        json={"service": "search", "summary": "Search returns nothing"},
    )
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["status"] == "accepted"
    detail = client.get(f"/api/v1/alerts/{answer['alert_id']}", headers=auth(api_tokens.viewer))
    assert detail.json()["service"] == "search"
    assert detail.json()["summary"] == "User report: Search returns nothing"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"summary": "x" * 201}, "summary"),
        ({"description": "d" * 5001}, "description"),
        ({"summary": "   "}, "summary"),
        ({"service": "no-such-service"}, "service"),
        ({"service": ""}, "service"),
        ({"email": "not an email"}, "email"),
    ],
)
def test_report_bad_input_is_400_naming_the_field(
    ctx: AppContext, client: TestClient, fields: dict[str, str], field: str
) -> None:
    r = client.post("/api/v1/reports/problem", json=report_form(**fields))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field
    assert r.json()["error"]["message"].startswith(f"{field}:")
    r = client.post("/report", data=report_form(**fields))
    assert r.status_code == 400
    assert 'role="alert"' in r.text
    assert stored(ctx) == 0


def test_report_limits_are_inclusive(client: TestClient, api_tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/reports/problem", json=report_form(summary="s" * 200, description="d" * 5000)
    )
    assert r.status_code == 202, r.text


def test_report_oversized_and_malformed_bodies(ctx: AppContext, client: TestClient) -> None:
    huge = "x" * (70 * 1024)
    r = client.post("/api/v1/reports/problem", json=report_form(description=huge))
    assert r.status_code == 413
    r = client.post("/report", data=report_form(description=huge))
    assert r.status_code == 413
    r = client.post(
        "/api/v1/reports/problem",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "body"
    r = client.post("/api/v1/reports/problem", json=["a list"])
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "body"
    assert stored(ctx) == 0


def test_report_api_is_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    problem = paths["/api/v1/reports/problem"]["post"]
    schema = problem["requestBody"]["content"]["application/json"]["schema"]
    assert {"service", "summary"} <= set(schema["required"])
    assert "/api/v1/integrations/grafana" in paths
    assert "/api/v1/integrations/webhook" in paths
    assert "/report" not in paths


def test_report_form_needs_a_small_urlencoded_body(ctx: AppContext, client: TestClient) -> None:
    assert client.post("/report", json=report_form()).status_code == 415
    stuffed = "&".join(f"field{i}=x" for i in range(30))
    r = client.post(
        "/report",
        content=stuffed,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "too many form fields" in r.text
    assert stored(ctx) == 0
