"""JSON that parses but can never be stored, on every intake route, SQLite and PostgreSQL:
deep nesting, a lone surrogate, a NUL character, NaN and Infinity. Each is a 400 naming
the field — never a 500, never a 503 with Retry-After (senders retry those forever), never
an exception's name — and nothing is stored."""

from __future__ import annotations

import asyncio
import json
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
from tests.integration.test_intake_keys import change_event
from tests.integration.test_sources_api import firing_grafana
from warroom.alerts.ingest import BatchWriter, Unavailable
from warroom.alerts.logic import Action, AlertEvent, InvalidEvent
from warroom.alerts.models import Alert
from warroom.alerts.service import Source
from warroom.changes.models import Change
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.db import Database
from warroom.integrations.models import Integration
from warroom.jsonbody import MAX_DEPTH

# Words that would mean an exception leaked into an answer.
LEAKS = ("Error", "Exception", "Traceback", "psycopg", "sqlite", "sqlalchemy")


@dataclass(frozen=True)
class Route:
    name: str
    type: str
    # The route's body with `value` put where a sender's free-form data goes; the path
    # the answer must name.
    body: Callable[[str, Any], dict[str, Any]]
    field: str
    send: Callable[[TestClient, str, bytes], httpx.Response]


def _post(path: str, bearer: bool) -> Callable[[TestClient, str, bytes], httpx.Response]:
    def send(client: TestClient, key: str, raw: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers |= auth(key)
        return client.post(path, content=raw, headers=headers)

    return send


def _pd(key: str, value: Any) -> dict[str, Any]:
    body = trigger(key)
    body["payload"]["custom_details"] = {"note": value}
    return body


def _change(key: str, value: Any) -> dict[str, Any]:
    body = change_event(key)
    body["payload"]["custom_details"] = {"note": value}
    return body


def _am(key: str, value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(AM_BODY))
    body["alerts"][0]["annotations"]["note"] = value
    return body


def _grafana(key: str, value: Any) -> dict[str, Any]:
    body = firing_grafana()
    body["alerts"][0]["annotations"]["note"] = value
    return body


def _webhook(key: str, value: Any) -> dict[str, Any]:
    return {"title": "Disk 95% on db-1", "id": "disk-db-1", "details": {"note": value}}


ROUTES = [
    Route(
        "pd-enqueue", "pagerduty", _pd, "payload.custom_details.note", _post("/v2/enqueue", False)
    ),
    Route(
        "pd-change-enqueue",
        "pagerduty",
        _change,
        "payload.custom_details.note",
        _post("/v2/change/enqueue", False),
    ),
    Route(
        "alertmanager",
        "alertmanager",
        _am,
        "alerts.0.annotations.note",
        _post("/api/v1/integrations/alertmanager", True),
    ),
    Route(
        "grafana",
        "grafana",
        _grafana,
        "alerts.0.annotations.note",
        _post("/api/v1/integrations/grafana", True),
    ),
    Route(
        "webhook",
        "webhook",
        _webhook,
        "details.note",
        _post("/api/v1/integrations/webhook", True),
    ),
]


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


# (case, the value in the body as JSON text, words the answer's message must contain)
CASES = [
    ("lone-surrogate", '"\\ud800"', "surrogate"),
    ("lone-low-surrogate", '"ok \\udc00 then"', "surrogate"),
    ("nul", '"before\\u0000after"', "NUL"),
    ("nan", "NaN", "NaN"),
    ("infinity", "Infinity", "Infinity"),
    ("minus-infinity", "-Infinity", "Infinity"),
    ("overflow-to-infinity", "1e400", "Infinity"),
    ("nested-300", json.dumps(nested(300)), f"deeper than {MAX_DEPTH}"),
]

PLACEHOLDER = "@@VALUE@@"


def _raw(route: Route, key: str, value_json: str) -> bytes:
    text = json.dumps(route.body(key, PLACEHOLDER))
    return text.replace(json.dumps(PLACEHOLDER), value_json).encode()


def _count(ctx: AppContext) -> tuple[int, int]:
    with ctx.db.unit_of_work() as uow:
        return (
            uow.session.scalar(select(func.count()).select_from(Alert)) or 0,
            uow.session.scalar(select(func.count()).select_from(Change)) or 0,
        )


def _key(client: TestClient, admin: str, type: str) -> str:
    r = client.post(
        "/api/v1/integrations",
        json={"name": f"{type}-bad-json", "type": type, "service": "payment-service"},
        headers=auth(admin),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def _message_and_field(route: Route, response: httpx.Response) -> tuple[str, str | None]:
    body = response.json()
    if route.name.startswith("pd-"):
        assert body["status"] == "invalid event"
        [message] = body["errors"]
        return message, None
    return body["error"]["message"], body["error"]["details"]["field"]


@pytest.mark.parametrize("case, value_json, words", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_unstorable_json_is_a_400_naming_the_field(
    ctx: AppContext,
    client: TestClient,
    api_tokens: Tokens,
    route: Route,
    case: str,
    value_json: str,
    words: str,
) -> None:
    key = _key(client, api_tokens.admin, route.type)
    # The same body with an ordinary value is accepted: only the value is at fault.
    fine = route.send(client, key, _raw(route, key, '"fine"'))
    assert fine.status_code in (200, 202), fine.text
    before = _count(ctx)

    response = route.send(client, key, _raw(route, key, value_json))
    assert response.status_code == 400, response.text
    assert "retry-after" not in response.headers
    assert not any(word in response.text for word in LEAKS), response.text
    message, field = _message_and_field(route, response)
    assert words in message
    if field is not None:
        assert field.startswith(route.field)
    else:
        assert f"'{route.field}" in message
    assert _count(ctx) == before


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_nesting_too_deep_for_the_parser_is_a_400(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, route: Route
) -> None:
    """A body nested far deeper than the parser recurses (not just deeper than the limit)."""
    key = _key(client, api_tokens.admin, route.type)
    deep = "[" * 100_000 + "1" + "]" * 100_000  # json.dumps itself would recurse too far
    response = route.send(client, key, _raw(route, key, deep))
    assert response.status_code == 400, response.text
    assert "retry-after" not in response.headers
    assert "Recursion" not in response.text and "nested deeper" in response.text
    assert _count(ctx) == (0, 0)


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_raw_surrogate_bytes_and_field_names(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, route: Route
) -> None:
    """A surrogate sent as raw (invalid UTF-8) bytes, and a NUL in a field's name."""
    key = _key(client, api_tokens.admin, route.type)
    raw = _raw(route, key, '"x"').replace(b'"x"', b'"\xed\xa0\x80"')
    response = route.send(client, key, raw)
    assert response.status_code == 400, response.text
    assert not any(word in response.text for word in LEAKS), response.text
    body = route.body(key, "x")
    text = json.dumps(body).replace('"note"', '"no\\u0000te"')
    response = route.send(client, key, text.encode())
    assert response.status_code == 400, response.text
    assert "NUL" in response.text and "retry-after" not in response.headers
    assert _count(ctx) == (0, 0)


def test_the_routing_key_and_summary_are_checked_too(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = _key(client, api_tokens.admin, "pagerduty")
    body = json.dumps(trigger(key)).replace("DISK at 99%", "DISK\\u0000 at 99%")
    r = client.post("/v2/enqueue", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errors"] == ["'payload.summary' contains a NUL character (\\u0000)"]
    body = json.dumps(trigger(key)).replace(f'"{key}"', f'"{key[:-1]}\\u0000"')
    r = client.post("/v2/enqueue", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0].startswith("'routing_key'")
    assert _count(ctx) == (0, 0)


def test_report_api_refuses_a_nul_or_a_surrogate(ctx: AppContext, client: TestClient) -> None:
    for text, word in (('"Checkout \\u0000 spins"', "NUL"), ('"\\udfff"', "surrogate")):
        raw = '{"service": "payment-service", "summary": ' + text + ', "email": "ann@example.com"}'
        r = client.post(
            "/api/v1/reports/problem",
            content=raw.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"]["field"] == "summary"
        assert word in r.json()["error"]["message"]
    r = client.post(
        "/report",
        content=b"service=payment-service&summary=Checkout%00spins",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and "NUL" in r.text
    assert _count(ctx) == (0, 0)


def test_a_key_the_database_could_not_compare_is_just_unknown(
    client: TestClient, api_tokens: Tokens
) -> None:
    """A NUL (or anything no key holds) in a key sent in the URL: the same answer as any
    unknown key, not a database error."""
    for key in ("%00", "abc%00def", "x" * 33, "%C3%A9" * 4):
        r = client.post(f"/api/v1/integrations/alertmanager?key={key}", json=AM_BODY)
        assert r.status_code == 401, r.text
        r = client.post(f"/api/v1/integrations/webhook?key={key}", json={"title": "t"})
        assert r.status_code == 401, r.text
        r = client.get(f"/api/v1/heartbeats/{key}")
        assert r.status_code == 404, r.text


# --- the batch writer's own safety net ------------------------------------------------------


@pytest.fixture
def source(db: Database, clock: FakeClock) -> Source:
    with db.unit_of_work() as uow:
        row = Integration(
            name="direct",
            type="pagerduty",
            service="payment-service",
            key=secrets.token_hex(16),
            settings={},
            created_at=clock.now(),
        )
        uow.session.add(row)
        uow.session.flush()
        made = Source(integration_id=row.id, service=row.service)
        uow.commit()
    return made


@pytest.mark.parametrize(
    "fields",
    [
        {"summary": "\ud800"},
        {"source": "\ud800"},
        {"source": "a\x00b"},
        {"dedup_key": "bad\x00"},
        {"details": {"note": "\ud800"}},
        {"details": {"note": "a\x00b"}},
    ],
    ids=[
        "summary-surrogate",
        "source-surrogate",
        "source-nul",
        "key-nul",
        "details-surrogate",
        "details-nul",
    ],
)
def test_the_batch_writer_never_marks_an_unstorable_event_retryable(
    db: Database, clock: FakeClock, source: Source, fields: dict[str, Any]
) -> None:
    """Should such an event get past the routes' checks, the writer still answers "invalid"
    (400) if it cannot be stored, never "unavailable" (503), and its neighbour in the batch
    is committed."""
    bad = AlertEvent(**{"action": Action.TRIGGER, "dedup_key": "bad", "summary": "s", **fields})
    good = AlertEvent(action=Action.TRIGGER, dedup_key="good", summary="s")

    async def scenario() -> list[Any]:
        writer = BatchWriter(db, clock)
        try:
            return list(
                await asyncio.gather(
                    writer.submit([(source, bad)]),
                    writer.submit([(source, good)]),
                    return_exceptions=True,
                )
            )
        finally:
            await writer.close()

    results = asyncio.run(scenario())
    # Either the layer below stores it after all (as escaped JSON, say), or it is refused as
    # invalid: never "unavailable".
    assert not isinstance(results[0], Unavailable), results[0]
    if isinstance(results[0], BaseException):
        assert isinstance(results[0], InvalidEvent), results[0]
        assert not any(word in str(results[0]) for word in LEAKS), results[0]
    assert not isinstance(results[1], BaseException), results[1]
    with db.unit_of_work() as uow:
        keys = set(uow.session.scalars(select(Alert.dedup_key)))
    assert "good" in keys


def test_the_batch_writer_refuses_a_summary_sqlite_cannot_encode(
    db: Database, clock: FakeClock, source: Source
) -> None:
    """The case that used to be a 503 naming UnicodeEncodeError (SQLite) is a 400 now."""
    bad = AlertEvent(action=Action.TRIGGER, dedup_key="bad", summary="\ud800")

    async def scenario() -> BaseException | None:
        writer = BatchWriter(db, clock)
        try:
            await writer.submit([(source, bad)])
        except Exception as exc:
            return exc
        finally:
            await writer.close()
        return None

    outcome = asyncio.run(scenario())
    if db.engine.dialect.name == "sqlite":
        assert isinstance(outcome, InvalidEvent)
        assert outcome.errors == ["event rejected by the database: a value in it cannot be stored"]
    else:
        assert outcome is None or isinstance(outcome, InvalidEvent)


# --- reading alerts and changes: filters the database could not take -------------------------


def test_alert_and_change_reads_refuse_what_no_row_can_match(
    client: TestClient, api_tokens: Tokens
) -> None:
    """Out-of-range ids and offsets and NUL characters are 4xx naming the parameter (the
    database would answer them with an error, not with nothing)."""
    viewer = auth(api_tokens.viewer)
    for path, field in (
        ("/api/v1/alerts/2147483648", "alert_id"),
        ("/api/v1/alerts/0", "alert_id"),
        ("/api/v1/alerts?integration=2147483648", "integration"),
        ("/api/v1/alerts?offset=2147483648", "offset"),
        ("/api/v1/alerts?service=pay%00ment", "service"),
        ("/api/v1/alerts?dedup_key=a%00b", "dedup_key"),
        ("/api/v1/alerts?incident=INC-99999999999", "incident"),
        ("/api/v1/changes?service=%00", "service"),
        ("/api/v1/changes?offset=99999999999", "offset"),
    ):
        r = client.get(path, headers=viewer)
        assert r.status_code == 422, (path, r.text)
        details = r.json()["error"]["details"]
        named = [d["field"] for d in details] if isinstance(details, list) else [details["field"]]
        assert named == [field], (path, r.text)
    r = client.get("/api/v1/incidents/INC-99999999999/changes", headers=viewer)
    assert r.status_code == 404
    # In range, they simply find nothing.
    assert client.get("/api/v1/alerts/2147483647", headers=viewer).status_code == 404
    r = client.get("/api/v1/alerts?integration=2147483647&offset=2147483647", headers=viewer)
    assert r.status_code == 200 and r.json()["items"] == []


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-05:00"], ids=["before", "after"]
)
def test_a_time_beyond_the_calendar_is_a_400(
    ctx: AppContext, client: TestClient, api_tokens: Tokens, stamp: str
) -> None:
    """A time whose UTC falls outside years 1 to 9999 is bad input, not a server error."""
    pd = _key(client, api_tokens.admin, "pagerduty")
    am = _key(client, api_tokens.admin, "alertmanager")
    r = client.post("/v2/enqueue", json=trigger(pd, timestamp=stamp))
    assert r.status_code == 400 and "'payload.timestamp' is invalid" in r.json()["errors"][0]
    body = change_event(pd)
    body["payload"]["timestamp"] = stamp
    r = client.post("/v2/change/enqueue", json=body)
    assert r.status_code == 400 and "'payload.timestamp' is invalid" in r.json()["errors"][0]
    body = json.loads(json.dumps(AM_BODY))
    body["alerts"][0]["startsAt"] = stamp
    r = client.post("/api/v1/integrations/alertmanager", json=body, headers=auth(am))
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "alerts.0.startsAt"
    r = client.get("/api/v1/changes", params={"since": stamp}, headers=auth(api_tokens.viewer))
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "since"
    assert _count(ctx) == (0, 0)
