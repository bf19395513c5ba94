"""A key works only on the routes of its integration's type: every intake route by every
integration type, on SQLite and PostgreSQL. Another type's key is refused exactly like an
unknown key (same status, same body, same headers: the answer does not tell a key's type)
and nothing is stored."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import Tokens
from tests.integration.test_alerts_ingest import AM_BODY, auth, trigger
from tests.integration.test_sources_api import firing_grafana
from warroom.alerts.models import Alert
from warroom.changes.models import Change
from warroom.context import AppContext
from warroom.heartbeats.models import Heartbeat
from warroom.integrations.service import IntegrationType

TYPES = [t.value for t in IntegrationType]


def change_event(key: str) -> dict[str, Any]:
    return {
        "routing_key": key,
        "payload": {"summary": "Deploy payments v2.3.1", "source": "ci"},
        "links": [{"href": "https://ci.example/builds/42", "text": "build 42"}],
    }


@dataclass(frozen=True)
class Route:
    name: str
    accepts: frozenset[IntegrationType]
    send: Callable[[TestClient, str], httpx.Response]


ROUTES = [
    Route(
        "pd-enqueue",
        # Support tools send tickets in PagerDuty's format with a `report` key.
        frozenset({IntegrationType.PAGERDUTY, IntegrationType.REPORT}),
        lambda c, key: c.post("/v2/enqueue", json=trigger(key)),
    ),
    Route(
        "pd-change-enqueue",
        frozenset({IntegrationType.PAGERDUTY}),
        lambda c, key: c.post("/v2/change/enqueue", json=change_event(key)),
    ),
    Route(
        "alertmanager-bearer",
        frozenset({IntegrationType.ALERTMANAGER}),
        lambda c, key: c.post("/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(key)),
    ),
    Route(
        "alertmanager-query-key",
        frozenset({IntegrationType.ALERTMANAGER}),
        lambda c, key: c.post(
            "/api/v1/integrations/alertmanager", params={"key": key}, json=AM_BODY
        ),
    ),
    Route(
        "grafana",
        frozenset({IntegrationType.GRAFANA}),
        lambda c, key: c.post(
            "/api/v1/integrations/grafana", json=firing_grafana(), headers=auth(key)
        ),
    ),
    Route(
        "webhook",
        frozenset({IntegrationType.WEBHOOK}),
        lambda c, key: c.post(
            "/api/v1/integrations/webhook",
            json={"title": "Disk 95% on db-1", "id": "disk-db-1"},
            headers=auth(key),
        ),
    ),
    Route(
        "heartbeat-get",
        frozenset({IntegrationType.HEARTBEAT}),
        lambda c, key: c.get(f"/api/v1/heartbeats/{key}"),
    ),
    Route(
        "heartbeat-post",
        frozenset({IntegrationType.HEARTBEAT}),
        lambda c, key: c.post(f"/api/v1/heartbeats/{key}"),
    ),
]


def make_all(client: TestClient, admin: str) -> dict[str, str]:
    """One integration of every type; its key by type."""
    keys = {}
    for type in TYPES:
        body: dict[str, Any] = {"name": f"{type}-keys", "type": type, "service": "payment-service"}
        if type == IntegrationType.HEARTBEAT:
            body["settings"] = {"interval": "5m"}
        r = client.post("/api/v1/integrations", json=body, headers=auth(admin))
        assert r.status_code == 201, r.text
        keys[type] = r.json()["key"]
    return keys


def what_is_stored(ctx: AppContext) -> tuple[int, int, int]:
    """Alerts, changes and heartbeat check-ins."""
    with ctx.db.unit_of_work() as uow:
        s = uow.session
        return (
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(select(func.count()).select_from(Change)) or 0,
            s.scalar(
                select(func.count())
                .select_from(Heartbeat)
                .where(Heartbeat.last_checkin_at.is_not(None))
            )
            or 0,
        )


def _answer(response: httpx.Response) -> tuple[int, Any, str | None, str | None]:
    return (
        response.status_code,
        response.json(),
        response.headers.get("www-authenticate"),
        response.headers.get("retry-after"),
    )


@pytest.mark.parametrize("type", TYPES)
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_key_works_only_on_the_routes_of_its_type(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, route: Route, type: str
) -> None:
    keys = make_all(client, api_tokens.admin)
    unknown = secrets.token_hex(16)  # the form of a real key, issued to nobody
    assert unknown not in keys.values()

    refused = _answer(route.send(client, unknown))
    assert 400 <= refused[0] < 500 and refused[3] is None
    assert what_is_stored(ctx) == (0, 0, 0)

    response = route.send(client, keys[type])
    if type in route.accepts:
        assert response.status_code in (200, 202), response.text
        assert what_is_stored(ctx) != (0, 0, 0)
    else:
        assert _answer(response) == refused
        assert what_is_stored(ctx) == (0, 0, 0)


def test_the_refusals_are_the_documented_ones(client: TestClient) -> None:
    """What an unknown (or another type's) key gets on each route."""
    key = secrets.token_hex(16)
    r = client.post("/v2/enqueue", json=trigger(key))
    assert (r.status_code, r.json()["errors"]) == (400, ["Invalid routing key"])
    r = client.post("/v2/change/enqueue", json=change_event(key))
    assert (r.status_code, r.json()["errors"]) == (400, ["Invalid routing key"])
    for kind in ("alertmanager", "grafana", "webhook"):
        r = client.post(f"/api/v1/integrations/{kind}", json={}, headers=auth(key))
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["message"] == f"unknown {kind} integration key"
    r = client.get(f"/api/v1/heartbeats/{key}")
    assert r.status_code == 404 and r.json()["error"]["message"] == "no heartbeat with this key"
