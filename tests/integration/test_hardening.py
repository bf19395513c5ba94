"""Regression tests for issue 10: bounded input, stored data that always reads, bad input
as 4xx naming the field, bodies limited and read only after authentication, the OpenAPI
security scheme, server-side web sessions."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from tests.conftest import Tokens
from warroom.app import create_app
from warroom.auth.models import WebSession
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.db import Database
from warroom.incidents.models import Incident
from warroom.migrations import alembic_config
from warroom.settings import Settings
from warroom.timeline.models import TimelineEvent


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def declare(client: TestClient, token: str, **body: Any) -> str:
    payload = {"title": "Checkout down", "severity": "SEV2", "services": ["payment-service"]}
    r = client.post("/api/v1/incidents", json={**payload, **body}, headers=auth(token))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


def field_of(r: httpx.Response) -> str:
    details = r.json()["error"]["details"]
    if isinstance(details, dict):
        return str(details.get("field"))
    return ",".join(str(d["field"]) for d in details)


# --- 1. impact is bounded and typed; what is stored always reads ----------------------------


def test_impact_takes_bounded_flat_notes_and_refuses_the_rest(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)
    url = f"/api/v1/incidents/{key}/impact"
    ok = client.post(
        url,
        json={"revenue_loss": 1200.5, "region": "eu-west-1", "teams": ["payments", "sre"]},
        headers=auth(api_tokens.responder),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["impact"]["region"] == "eu-west-1"
    assert ok.json()["impact"]["teams"] == ["payments", "sre"]
    for body in (
        {"notes": nested(300)},  # the body that broke every read
        {"notes": {"a": 1}},  # no objects in notes
        {"notes": [[1]]},  # no nested lists
        {"notes": "x" * 1001},  # long text
        {f"k{i}": i for i in range(21)},  # too many notes
        {"bad key": 1},  # a name that is not a field name
    ):
        r = client.post(url, json=body, headers=auth(api_tokens.responder))
        assert r.status_code in (400, 422), (body if len(str(body)) < 200 else "…", r.text)
    # The deep body is refused before validation: 400 naming where it is too deep.
    r = client.post(url, json={"notes": nested(300)}, headers=auth(api_tokens.responder))
    assert r.status_code == 400 and "nested deeper" in r.text and "notes" in field_of(r)
    # A 10 MB impact is refused by size, before it is parsed.
    big = json.dumps({"notes": "x" * (10 * 1024 * 1024)})
    r = client.post(
        url,
        content=big,
        headers={**auth(api_tokens.responder), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and field_of(r) == "body"
    # Nothing of the refused bodies was stored; the incident and the list still read.
    shown = client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.viewer)).json()
    assert set(shown["impact"]) == {"revenue_loss", "region", "teams"}
    assert client.get("/api/v1/incidents", headers=auth(api_tokens.viewer)).status_code == 200


def test_declaring_checks_impact_and_event_details_too(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post(
        "/api/v1/incidents",
        json={"title": "t", "severity": "SEV2", "impact": {"x": {"y": 1}}},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 422 and "impact" in r.text
    key = declare(client, api_tokens.responder)
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "note", "description": "d", "details": {"a": nested(9)}},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 422 and "details" in field_of(r)
    r = client.post(
        f"/api/v1/incidents/{key}/events",
        json={"type": "note", "description": "d", "details": {"a": nested(3)}},
        headers=auth(api_tokens.responder),
    )
    assert r.status_code == 201, r.text


def _store_bad_rows(db: Database, number: int) -> None:
    """What the unbounded route used to accept, written straight to the database."""
    with db.unit_of_work() as uow:
        incident = uow.session.get(Incident, number)
        assert incident is not None
        incident.impact = {
            **incident.impact,
            "revenue_loss": 5.0,
            "junk": nested(300),
            "big": "y" * 100_000,
        }
        event = uow.session.scalars(
            select(TimelineEvent).where(TimelineEvent.incident_id == number)
        ).first()
        assert event is not None
        event.details = {"impact": {"junk": nested(300)}}
        uow.commit()


def test_bad_rows_already_stored_read_and_render(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)
    _store_bad_rows(ctx.db, int(key.split("-")[1]))
    for path in (
        f"/api/v1/incidents/{key}",
        "/api/v1/incidents",
        f"/api/v1/incidents/{key}/timeline",
    ):
        r = client.get(path, headers=auth(api_tokens.viewer))
        assert r.status_code == 200, (path, r.text[:300])
    shown = client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.viewer)).json()
    assert shown["impact"]["revenue_loss"] == 5.0 and "junk" not in shown["impact"]
    assert len(shown["impact"]["big"]) <= 4000
    r = client.get(
        f"/api/v1/incidents/{key}/timeline?format=markdown", headers=auth(api_tokens.viewer)
    )
    assert r.status_code == 200
    # The web page renders it too.
    client.post("/login", data={"token": api_tokens.viewer}, follow_redirects=False)
    assert client.get(f"/incidents/{key}").status_code == 200


def test_the_migration_repairs_stored_rows(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder, impact={"revenue_loss": 5.0, "vendor": "acme"})
    number = int(key.split("-")[1])
    _store_bad_rows(ctx.db, number)
    with ctx.db.engine.begin() as conn:
        cfg = alembic_config(ctx.db.engine)
        cfg.attributes["connection"] = conn
        # Back to the revision before the repair, whatever the chain holds in between.
        before = ScriptDirectory.from_config(cfg).get_revision("0011").down_revision
        command.downgrade(cfg, str(before))
        command.upgrade(cfg, "head")
    with ctx.db.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT CAST(impact AS TEXT) FROM incidents WHERE id = :n"), {"n": number}
        ).scalar_one()
        details = conn.execute(
            text("SELECT CAST(details AS TEXT) FROM timeline_events WHERE incident_id = :n"),
            {"n": number},
        ).scalars()
        deepest = max(text_value.count("[") for text_value in details)
    impact = json.loads(raw)
    assert impact["revenue_loss"] == 5.0 and impact["vendor"] == "acme"
    assert "junk" not in impact and len(impact["big"]) == 4000
    assert deepest <= 8


# --- 6. input the database would refuse is a 4xx naming the field ---------------------------


def test_nul_surrogate_and_non_finite_input_is_a_400_naming_the_field(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)
    cases = [
        ("/api/v1/incidents", '{"title": "a\\u0000b", "severity": "SEV2"}', "title", "NUL"),
        ("/api/v1/incidents", '{"title": "\\ud800", "severity": "SEV2"}', "title", "surrogate"),
        (
            f"/api/v1/incidents/{key}/status",
            '{"status": "identified", "message": "x\\u0000"}',
            "message",
            "NUL",
        ),
        (
            f"/api/v1/incidents/{key}/severity",
            '{"severity": "SEV1", "reason": "\\udc00"}',
            "reason",
            "surrogate",
        ),
        (
            f"/api/v1/incidents/{key}/events",
            '{"type": "note", "description": "d", "details": {"v": NaN}}',
            "details.v",
            "NaN",
        ),
        (
            f"/api/v1/incidents/{key}/events",
            '{"type": "note", "description": "d", "details": {"v": -Infinity}}',
            "details.v",
            "Infinity",
        ),
        (
            f"/api/v1/incidents/{key}/impact",
            '{"revenue_loss": Infinity}',
            "revenue_loss",
            "Infinity",
        ),
    ]
    for path, raw, field, word in cases:
        r = client.post(
            path,
            content=raw.encode(),
            headers={**auth(api_tokens.responder), "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (path, raw, r.text)
        assert field_of(r) == field and word in r.text, r.text
        assert "Error" not in r.json()["error"]["message"]  # no exception names
    events = client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(api_tokens.viewer))
    assert events.status_code == 200 and all(
        "\x00" not in e["description"] for e in events.json()["events"]
    )


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/v1/alerts/2147483648", "alert_id"),
        ("GET", "/api/v1/integrations/2147483648", "integration_id"),
        ("GET", "/api/v1/maintenance/2147483648", "window_id"),
        ("DELETE", "/api/v1/tokens/2147483648", "token_id"),
        ("POST", "/api/v1/calendar-feeds/2147483648/rotate", "feed_id"),
        ("DELETE", "/api/v1/calendar-feeds/99999999999", "feed_id"),
        ("GET", "/api/v1/incidents?offset=2147483648", "offset"),
        ("GET", "/api/v1/incidents?service=pay%00ment", "service"),
        ("GET", "/api/v1/incidents?severity=%00", "severity"),
    ],
)
def test_ids_beyond_32_bits_and_nul_filters_are_422_naming_the_parameter(
    client: TestClient, api_tokens: Tokens, method: str, path: str, field: str
) -> None:
    r = client.request(method, path, headers=auth(api_tokens.admin))
    assert r.status_code == 422, r.text
    assert field_of(r) == field


def test_an_incident_number_beyond_32_bits_is_not_found(
    client: TestClient, api_tokens: Tokens
) -> None:
    for key in ("INC-2147483648", "99999999999", "INC-²"):
        r = client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.viewer))
        assert r.status_code == 404, r.text


# --- 7. bodies: limited, read only after authentication --------------------------------------


def test_no_token_is_401_before_the_body_is_parsed(client: TestClient, api_tokens: Tokens) -> None:
    for headers in ({}, auth("wr_not-a-token")):
        r = client.post(
            "/api/v1/incidents",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    # With a token, the same body is the route's own validation error.
    r = client.post(
        "/api/v1/incidents",
        content=b"{not json",
        headers={**auth(api_tokens.responder), "Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_the_body_limit_applies_to_every_route(ctx: AppContext, api_tokens: Tokens) -> None:
    settings = Settings(
        database_url=ctx.db.url, auto_migrate=False, engine=False, max_body_bytes=4096
    )
    small = AppContext(settings=settings, db=ctx.db, config=ctx.config, clock=ctx.clock)
    with TestClient(create_app(small)) as client:
        body = json.dumps({"title": "t", "severity": "SEV2", "description": "x" * 5000})
        for path in ("/api/v1/incidents", "/login", "/v2/enqueue", "/api/v1/integrations/webhook"):
            r = client.post(
                path,
                content=body,
                headers={**auth(api_tokens.responder), "Content-Type": "application/json"},
            )
            assert r.status_code == 413, (path, r.text)
        # Under the limit, it is read as usual.
        r = client.post(
            "/api/v1/incidents",
            json={"title": "t", "severity": "SEV2"},
            headers=auth(api_tokens.responder),
        )
        assert r.status_code == 201


# --- 8. OpenAPI declares the bearer scheme -----------------------------------------------------


def test_openapi_declares_bearer_security_on_protected_routes(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"].lower() == "bearer" for s in schemes.values())
    name = next(iter(schemes))
    for path, method in (
        ("/api/v1/incidents", "get"),
        ("/api/v1/incidents", "post"),
        ("/api/v1/incidents/{key}/impact", "post"),
        ("/api/v1/tokens", "post"),
    ):
        assert {name: []} in doc["paths"][path][method]["security"], (path, method)


# --- 9. server-side web sessions ---------------------------------------------------------------


def _login(client: TestClient, token: str) -> str:
    r = client.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303
    match = re.match(r"warroom_session=([^;]+);", r.headers["set-cookie"])
    assert match
    return match.group(1)


def _csrf(client: TestClient) -> str:
    page = client.get("/")
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert match
    return match.group(1)


def test_logout_revokes_the_session_everywhere(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    session_id = _login(client, api_tokens.responder)
    assert api_tokens.responder not in session_id
    with ctx.db.unit_of_work() as uow:
        stored = uow.session.scalars(select(WebSession.session_hash)).all()
    assert stored and session_id not in stored  # only a hash is kept
    # A copy of the cookie elsewhere works until logout…
    with TestClient(client.app) as elsewhere:
        elsewhere.cookies.set("warroom_session", session_id)
        assert elsewhere.get("/", follow_redirects=False).status_code == 200
        r = client.post("/logout", data={"csrf_token": _csrf(client)}, follow_redirects=False)
        assert r.status_code == 303
        # …and not after.
        assert elsewhere.get("/", follow_redirects=False).status_code == 303
    # The API token itself is untouched by logging out of the web.
    assert client.get("/api/v1/incidents", headers=auth(api_tokens.responder)).status_code == 200


def test_sessions_expire_when_idle_and_at_their_maximum_age(
    ctx: AppContext, clock: FakeClock, api_tokens: Tokens
) -> None:
    settings = Settings(
        database_url=ctx.db.url,
        auto_migrate=False,
        engine=False,
        session_idle_seconds=600,
        session_max_age_seconds=3600,
    )
    app = create_app(AppContext(settings=settings, db=ctx.db, config=ctx.config, clock=clock))
    with TestClient(app) as client:
        _login(client, api_tokens.viewer)
        # Used every 9 minutes, it lives until its maximum age…
        for _ in range(6):
            clock.advance(timedelta(minutes=9))
            assert client.get("/", follow_redirects=False).status_code == 200
        clock.advance(timedelta(minutes=7))  # 61 minutes after login
        assert client.get("/", follow_redirects=False).status_code == 303
        # …and left alone for longer than the idle time, it ends.
        _login(client, api_tokens.viewer)
        clock.advance(timedelta(minutes=11))
        assert client.get("/", follow_redirects=False).status_code == 303


def test_integration_settings_are_bounded(client: TestClient, api_tokens: Tokens) -> None:
    body = {"name": "hooks", "type": "webhook", "service": "payment-service"}
    r = client.post(
        "/api/v1/integrations",
        json={**body, "settings": {"deep": nested(20)}},
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 422 and "settings" in field_of(r)
    r = client.post(
        "/api/v1/integrations",
        json={**body, "settings": {"note": "x" * 20_000}},
        headers=auth(api_tokens.admin),
    )
    assert r.status_code == 422 and "settings" in field_of(r)
