"""PagerDuty change events: stored as changes of the integration's service, listed by the
API, put on the timelines of the service's incidents, never opening or paging anything
(SQLite and PostgreSQL). The real PagerDuty clients are driven in tests/e2e."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from tests.integration.test_alert_routing import am_alert, post_am, route
from tests.integration.test_alerts_ingest import auth, make_integration
from tests.integration.test_web import login
from warroom.alerts.models import Alert
from warroom.changes.logic import RECENT_ON_TIMELINE
from warroom.changes.models import Change
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.engine.models import Notification, Timer
from warroom.incidents.models import Incident

PD_EXAMPLE = {
    "payload": {
        "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
        "timestamp": "2024-03-15T08:42:58.315+0000",
        "source": "acme-build-pipeline-tool-default-i-9999",
        "custom_details": {"build_state": "passed", "build_number": "2", "run_time": "1236s"},
    },
    "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}],
}


def change(key: str, summary: str = "Deploy payments v2.3.1", **payload: Any) -> dict[str, Any]:
    return {"routing_key": key, "payload": {"summary": summary, **payload}}


@pytest.fixture
def pd_key(client: TestClient, api_tokens: Tokens) -> str:
    return str(make_integration(client, api_tokens.admin, "pagerduty")["key"])


def send(client: TestClient, body: Any) -> Any:
    return client.post("/v2/change/enqueue", json=body)


def counts(ctx: AppContext) -> dict[str, int]:
    with ctx.db.unit_of_work() as uow:
        s = uow.session
        return {
            table.__tablename__: s.scalar(select(func.count()).select_from(table)) or 0
            for table in (Change, Alert, Incident, Notification, Timer)
        }


def changes(client: TestClient, token: str, query: str = "") -> dict[str, Any]:
    r = client.get(f"/api/v1/changes{query}", headers=auth(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


def declare(client: TestClient, token: str, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "SEV2", "services": ["payment-service"]}
    r = client.post("/api/v1/incidents", json=body | fields, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def timeline(client: TestClient, token: str, key: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(token))
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["type"] == "change"]


# --- in ----------------------------------------------------------------------------------


def test_pagerdutys_example_is_accepted_and_stored(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    r = send(client, {"routing_key": pd_key, **PD_EXAMPLE})
    assert r.status_code == 202
    assert r.json() == {"status": "success", "message": "Change event processed"}
    [item] = changes(client, api_tokens.viewer)["items"]
    assert item["service"] == "payment-service"
    assert item["summary"] == PD_EXAMPLE["payload"]["summary"]
    assert item["source"] == "acme-build-pipeline-tool-default-i-9999"
    assert item["timestamp"] == "2024-03-15T08:42:58.315000Z"
    assert item["received_at"] == "2024-03-15T09:30:00Z"
    assert item["custom_details"] == PD_EXAMPLE["payload"]["custom_details"]
    assert item["links"] == PD_EXAMPLE["links"]
    # Without a timestamp the change happened when it arrived.
    clock.advance(minutes=3)
    assert send(client, change(pd_key)).status_code == 202
    newest = changes(client, api_tokens.viewer)["items"][0]
    assert newest["timestamp"] == newest["received_at"] == "2024-03-15T09:33:00Z"
    assert newest["source"] is None and newest["links"] == [] and newest["custom_details"] == {}


def test_changes_never_open_incidents_or_page_anyone(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    for i in range(3):
        assert send(client, change(pd_key, f"deploy {i}", source="ci")).status_code == 202
    assert counts(ctx) == {
        "changes": 3,
        "alerts": 0,
        "incidents": 0,
        "notifications": 0,
        "timers": 0,
    }
    # Nor do they page for an open incident of the service: they only join its timeline.
    declare(client, api_tokens.responder)
    before = counts(ctx)
    assert send(client, change(pd_key, "hotfix")).status_code == 202
    after = counts(ctx)
    assert after == before | {"changes": before["changes"] + 1}


# (body change, the error PagerDuty-style)
BAD = [
    ({"payload": None}, "'payload' is missing or blank"),
    ({"payload": "deploy"}, "'payload' is missing or blank"),
    ({"payload": {"source": "ci"}}, "'payload.summary' is missing or blank"),
    ({"payload": {"summary": "   "}}, "'payload.summary' is missing or blank"),
    ({"payload": {"summary": 42}}, "'payload.summary' must be a string"),
    ({"payload": {"summary": "x" * 1025}}, "'payload.summary' is too long (max 1024 characters)"),
    (
        {"payload": {"summary": "s", "timestamp": "yesterday"}},
        "'payload.timestamp' is invalid (must be ISO 8601 with an offset)",
    ),
    (
        {"payload": {"summary": "s", "timestamp": "2024-03-15T08:00:00"}},
        "'payload.timestamp' is invalid (must be ISO 8601 with an offset)",
    ),
    (
        {"payload": {"summary": "s", "timestamp": 1710489600}},
        "'payload.timestamp' must be a string (ISO 8601 with an offset)",
    ),
    ({"payload": {"summary": "s", "source": ["ci"]}}, "'payload.source' must be a string"),
    ({"payload": {"summary": "s"}, "links": "https://ci"}, "'links' must be an array"),
    (
        {"payload": {"summary": "s"}, "links": ["https://ci"]},
        "'links.0' must be an object with 'href'",
    ),
    (
        {"payload": {"summary": "s"}, "links": [{"text": "ci"}]},
        "'links.0.href' is missing or blank",
    ),
    (
        {"payload": {"summary": "s"}, "links": [{"href": "https://ci", "text": 7}]},
        "'links.0.text' must be a string",
    ),
    ({"routing_key": None}, "'routing_key' is missing or blank"),
    ({"routing_key": "short"}, "Length of 'routing_key' is incorrect (should be 32 characters)"),
]


@pytest.mark.parametrize("patch, error", BAD, ids=[e for _, e in BAD])
def test_bad_change_events_are_400_in_pagerdutys_shape_naming_the_field(
    ctx: AppContext, client: TestClient, pd_key: str, patch: dict[str, Any], error: str
) -> None:
    r = send(client, change(pd_key) | patch)
    assert r.status_code == 400
    assert r.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [error],
    }
    assert counts(ctx)["changes"] == 0


def test_every_problem_is_listed_and_the_limits_are_inclusive(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    r = send(client, {"payload": {"timestamp": "soon"}, "links": {}})
    assert r.status_code == 400
    assert r.json()["errors"] == [
        "'routing_key' is missing or blank",
        "'payload.summary' is missing or blank",
        "'payload.timestamp' is invalid (must be ISO 8601 with an offset)",
        "'links' must be an array",
    ]
    r = send(client, [change(pd_key)])
    assert r.status_code == 400 and r.json()["errors"] == ["Event object must be a JSON object"]
    r = client.post(
        "/v2/change/enqueue", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["errors"] == ["JSON parse error"]
    assert counts(ctx)["changes"] == 0
    assert send(client, change(pd_key, "x" * 1024)).status_code == 202
    assert changes(client, api_tokens.viewer)["items"][0]["summary"] == "x" * 1024


def test_an_oversized_change_event_is_413(ctx: AppContext, client: TestClient, pd_key: str) -> None:
    body = change(pd_key, custom_details={"log": "x" * (512 * 1024)})
    r = client.post(
        "/v2/change/enqueue", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert counts(ctx)["changes"] == 0


# --- out ---------------------------------------------------------------------------------


def test_list_filters_paginates_and_needs_a_token(
    client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    other = make_integration(client, api_tokens.admin, "pagerduty", name="pd-search")
    r = client.post(
        "/api/v1/integrations",
        json={"name": "pd-web", "type": "pagerduty", "service": "web-app"},
        headers=auth(api_tokens.admin),
    )
    web_key = r.json()["key"]
    assert other["key"] != web_key
    for hour in (1, 2, 3, 4):
        stamp = f"2024-03-15T0{hour}:00:00Z"
        assert send(client, change(pd_key, f"pay {hour}", timestamp=stamp)).status_code == 202
        assert send(client, change(web_key, f"web {hour}", timestamp=stamp)).status_code == 202

    page = changes(client, api_tokens.viewer, "?service=payment-service")
    assert [c["summary"] for c in page["items"]] == ["pay 4", "pay 3", "pay 2", "pay 1"]
    assert (page["total"], page["limit"], page["offset"]) == (4, 50, 0)
    page = changes(client, api_tokens.viewer, "?since=2024-03-15T03:00:00Z&limit=3")
    assert [c["summary"] for c in page["items"]] == ["web 4", "pay 4", "web 3"]
    assert page["total"] == 4
    page = changes(
        client,
        api_tokens.viewer,
        "?service=web-app&since=2024-03-15T02:00:00%2B00:00&until=2024-03-15T04:00:00Z",
    )
    assert [c["summary"] for c in page["items"]] == ["web 3", "web 2"]
    page = changes(client, api_tokens.viewer, "?limit=2&offset=6")
    assert [c["summary"] for c in page["items"]] == ["web 1", "pay 1"]
    assert changes(client, api_tokens.viewer, "?service=search")["items"] == []

    assert client.get("/api/v1/changes").status_code == 401
    assert client.get("/api/v1/changes", headers=auth("not-a-token")).status_code == 401
    for query in ("since=yesterday", "since=2024-03-15T02:00:00", "limit=0", "limit=501"):
        r = client.get(f"/api/v1/changes?{query}", headers=auth(api_tokens.viewer))
        assert r.status_code == 422, query
    for query in ("offset=-1", "offset=2147483648", "service=pay%00ment"):
        r = client.get(f"/api/v1/changes?{query}", headers=auth(api_tokens.viewer))
        assert r.status_code == 422, query
        assert r.json()["error"]["details"]


# --- on incidents ------------------------------------------------------------------------


def test_a_change_joins_the_timeline_of_the_services_open_incidents(
    client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    open_key = declare(client, api_tokens.responder)
    other_service = declare(client, api_tokens.responder, services=["search"])
    resolved = declare(client, api_tokens.responder)
    r = client.post(
        f"/api/v1/incidents/{resolved}/status",
        json={"status": "resolved"},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 200, r.text
    clock.advance(minutes=5)
    body = {"routing_key": pd_key, **PD_EXAMPLE}
    body["payload"] = PD_EXAMPLE["payload"] | {"timestamp": "2024-03-15T09:34:00Z"}
    assert send(client, body).status_code == 202

    [entry] = timeline(client, api_tokens.viewer, open_key)
    assert entry["description"] == (
        "Change on payment-service: Build Success: Increase snapshot create timeout to 30 seconds"
    )
    assert entry["timestamp"] == "2024-03-15T09:34:00Z"
    assert entry["source"] == "external"
    assert entry["details"]["source"] == "acme-build-pipeline-tool-default-i-9999"
    assert entry["details"]["links"] == ["https://acme.pagerduty.dev/build/2"]
    assert entry["details"]["service"] == "payment-service"
    assert timeline(client, api_tokens.viewer, other_service) == []
    assert timeline(client, api_tokens.viewer, resolved) == []


def test_a_declared_incident_shows_its_services_recent_changes(
    client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    r = client.post(
        "/api/v1/integrations",
        json={"name": "pd-search", "type": "pagerduty", "service": "search"},
        headers=auth(api_tokens.admin),
    )
    search_key = r.json()["key"]
    for summary, stamp in (
        ("too old", "2024-03-14T09:29:59Z"),  # 24 h and a second before the declaration
        ("yesterday's config push", "2024-03-14T09:30:00Z"),
        ("deploy v2.3.1", "2024-03-15T09:10:00Z"),
        ("skewed clock", "2024-03-15T09:34:00Z"),  # within 5 minutes after: a skewed clock
        ("the future", "2024-03-15T09:36:00Z"),
    ):
        assert send(client, change(pd_key, summary, timestamp=stamp)).status_code == 202
    assert send(client, change(search_key, "search reindex")).status_code == 202

    key = declare(client, api_tokens.responder)
    entries = timeline(client, api_tokens.viewer, key)
    assert [e["description"] for e in entries] == [
        "Recent change on payment-service: yesterday's config push",
        "Recent change on payment-service: deploy v2.3.1",
        "Recent change on payment-service: skewed clock",
    ]
    assert entries[1]["timestamp"] == "2024-03-15T09:10:00Z"

    # The incident's own list: from the same start until it is resolved (or now).
    r = client.get(f"/api/v1/incidents/{key}/changes", headers=auth(api_tokens.viewer))
    assert r.status_code == 200
    listed = ["skewed clock", "deploy v2.3.1", "yesterday's config push"]
    assert [c["summary"] for c in r.json()["items"]] == listed
    clock.advance(minutes=2)
    r = client.get(f"/api/v1/incidents/{key}/changes", headers=auth(api_tokens.viewer))
    assert [c["summary"] for c in r.json()["items"]] == ["the future", *listed]
    # Markdown export carries them as well.
    r = client.get(
        f"/api/v1/incidents/{key}/timeline?format=markdown", headers=auth(api_tokens.viewer)
    )
    assert "Recent change on payment-service: deploy v2.3.1" in r.text


def test_many_recent_changes_show_the_newest_and_say_how_many_more(
    client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    for minute in range(RECENT_ON_TIMELINE + 3):
        stamp = f"2024-03-15T08:{minute:02d}:00Z"
        assert send(client, change(pd_key, f"deploy {minute}", timestamp=stamp)).status_code == 202
    key = declare(client, api_tokens.responder)
    entries = timeline(client, api_tokens.viewer, key)
    assert len(entries) == RECENT_ON_TIMELINE + 1
    shown = [e["description"] for e in entries if e["description"].startswith("Recent")]
    assert shown[0] == "Recent change on payment-service: deploy 3"
    assert shown[-1] == f"Recent change on payment-service: deploy {RECENT_ON_TIMELINE + 2}"
    [note] = [e for e in entries if not e["description"].startswith("Recent")]
    assert note["description"].startswith("3 earlier recent changes not shown here")
    assert f"/api/v1/incidents/{key}/changes" in note["description"]
    r = client.get(f"/api/v1/incidents/{key}/changes?limit=5", headers=auth(api_tokens.viewer))
    assert r.json()["total"] == RECENT_ON_TIMELINE + 3 and len(r.json()["items"]) == 5


def test_a_restricted_incidents_changes_are_as_invisible_as_the_incident(
    client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    assert send(client, change(pd_key, "rotate credentials")).status_code == 202
    key = declare(client, api_tokens.admin, type="security_breach", restricted=True)
    r = client.get(f"/api/v1/incidents/{key}/changes", headers=auth(api_tokens.viewer))
    assert r.status_code == 404
    r = client.get(f"/api/v1/incidents/{key}/changes", headers=auth(api_tokens.admin))
    assert [c["summary"] for c in r.json()["items"]] == ["rotate credentials"]
    assert client.get(f"/api/v1/incidents/{key}/changes").status_code == 401


def test_the_incident_page_shows_the_changes(
    client: TestClient, api_tokens: Tokens, pd_key: str
) -> None:
    assert send(client, change(pd_key, "Deploy <b>v2.3.1</b>")).status_code == 202
    key = declare(client, api_tokens.responder)
    assert login(client, api_tokens.responder).status_code == 303
    page = client.get(f"/incidents/{key}")
    assert page.status_code == 200
    assert "Recent change on payment-service: Deploy &lt;b&gt;v2.3.1&lt;/b&gt;" in page.text


def test_an_auto_declared_incident_shows_recent_changes_and_the_change_pages_nobody(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, pd_key: str, clock: FakeClock
) -> None:
    """The engine's own declarations (a rule on an alert) get the recent changes too."""
    assert send(client, change(pd_key, "Deploy payments v2.3.1", source="ci")).status_code == 202
    route(ctx)
    assert counts(ctx)["incidents"] == 0  # a change is nothing to route
    clock.advance(minutes=4)
    am_key = make_integration(client, api_tokens.admin, "alertmanager")["key"]
    post_am(client, am_key, am_alert("PaymentFailureRate", value=1.5))
    route(ctx)
    r = client.get("/api/v1/incidents", headers=auth(api_tokens.viewer))
    [incident] = r.json()["items"]
    assert incident["created_by"] == "warroom" and "payment-service" in incident["services"]
    [entry] = timeline(client, api_tokens.viewer, incident["id"])
    assert entry["description"] == "Recent change on payment-service: Deploy payments v2.3.1"
    assert entry["timestamp"] == "2024-03-15T09:30:00Z"
