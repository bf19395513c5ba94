"""The status page: components from configuration, the public projection of incidents,
and the published snapshot served with ETags while the database is down."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings
from warroom.statuspage.publish import publish

SECRET_TITLE = "db-7 primary lost quorum after Bob's failover script"


@pytest.fixture
def ctx(db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: Path) -> AppContext:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False, status_dir=tmp_path / "status"
    )
    return AppContext(settings=settings, db=db, config=config, clock=clock)


def _declare(client: TestClient, tokens: Tokens, **extra: object) -> str:
    body = {"title": SECRET_TITLE, "severity": "SEV1", "services": ["api-gateway"], **extra}
    answer = client.post(
        "/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {tokens.responder}"}
    )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["id"]
    return key


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _snapshot_text(ctx: AppContext) -> str:
    root = ctx.settings.status_dir
    assert root is not None
    return "\n".join(
        p.read_text() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".gz"
    )


def test_configured_components_are_listed_operational(
    client: TestClient, api_tokens: Tokens
) -> None:
    answer = client.get("/api/v1/status-page/components", headers=_as(api_tokens.viewer))
    assert answer.status_code == 200
    rows = answer.json()
    assert [r["name"] for r in rows] == ["Website", "API", "Authentication", "Payments", "Search"]
    assert {r["status"] for r in rows} == {"operational"}
    assert [r["group"] for r in rows][:3] == [None, "Platform", "Platform"]


def test_components_api_checks_names_and_statuses(client: TestClient, api_tokens: Tokens) -> None:
    made = client.post(
        "/api/v1/status-page/components",
        json={"name": "CDN", "group": "Platform"},
        headers=_as(api_tokens.responder),
    )
    assert made.status_code == 201, made.text
    again = client.post(
        "/api/v1/status-page/components", json={"name": "CDN"}, headers=_as(api_tokens.responder)
    )
    assert again.status_code == 409
    bad = client.patch(
        "/api/v1/status-page/components/CDN",
        json={"status": "on_fire"},
        headers=_as(api_tokens.responder),
    )
    assert bad.status_code == 422 and "status" in bad.json()["error"]["message"]
    missing = client.patch(
        "/api/v1/status-page/components/Nope",
        json={"status": "major_outage"},
        headers=_as(api_tokens.responder),
    )
    assert missing.status_code == 404
    viewer = client.patch(
        "/api/v1/status-page/components/CDN",
        json={"status": "major_outage"},
        headers=_as(api_tokens.viewer),
    )
    assert viewer.status_code == 403
    ok = client.patch(
        "/api/v1/status-page/components/CDN",
        json={"status": "partial_outage"},
        headers=_as(api_tokens.responder),
    )
    assert ok.json()["status"] == "partial_outage" and ok.json()["status_source"] == "manual"
    anonymous = client.get("/api/v1/status-page/components")
    assert anonymous.status_code == 401


def test_a_public_status_change_publishes_only_the_public_words(
    client: TestClient, api_tokens: Tokens, ctx: AppContext, clock: FakeClock
) -> None:
    key = _declare(client, api_tokens)
    internal = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "message": "bob's script dropped the replica"},
        headers=_as(api_tokens.responder),
    )
    assert internal.status_code == 200
    listed = client.get("/api/v1/status-page/incidents", headers=_as(api_tokens.viewer)).json()
    assert listed == []  # nothing public yet

    clock.advance(minutes=5)
    public = client.post(
        f"/api/v1/incidents/{key}/status",
        json={
            "status": "monitoring",
            "message": "A fix is in place; API requests succeed again.",
            "public": True,
            "components": {"API": "major_outage", "Website": "degraded_performance"},
        },
        headers=_as(api_tokens.responder),
    )
    assert public.status_code == 200, public.text
    [projection] = client.get(
        "/api/v1/status-page/incidents", headers=_as(api_tokens.viewer)
    ).json()
    assert projection["name"] == "Investigating issues with API, Website"
    assert projection["status"] == "monitoring"
    assert projection["impact"] == "critical"
    assert [u["body"] for u in projection["updates"]] == [
        "A fix is in place; API requests succeed again."
    ]
    components = {
        c["name"]: c["status"]
        for c in client.get("/api/v1/status-page/components", headers=_as(api_tokens.viewer)).json()
    }
    assert components["API"] == "major_outage"
    assert components["Website"] == "degraded_performance"
    assert components["Payments"] == "operational"

    publish(ctx)
    summary = client.get("/status/api/v2/summary.json").json()
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    [incident] = summary["incidents"]
    assert incident["name"] == "Investigating issues with API, Website"
    text = _snapshot_text(ctx)
    assert SECRET_TITLE not in text and "Bob" not in text and "replica" not in text
    assert "jane" not in text.lower()

    # Resolving (even without --public) resolves the public incident and puts the
    # components back.
    clock.advance(minutes=30)
    resolved = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "resolved", "message": "root cause: bob's script"},
        headers=_as(api_tokens.responder),
    )
    assert resolved.status_code == 200
    publish(ctx)
    summary = client.get("/status/api/v2/summary.json").json()
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"
    assert {c["status"] for c in summary["components"]} == {"operational"}
    history = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert history[0]["status"] == "resolved"
    assert history[0]["incident_updates"][0]["body"] == "This incident has been resolved."
    assert "bob" not in _snapshot_text(ctx).lower()


def test_a_component_named_in_any_script_is_made_and_found_by_its_location(
    client: TestClient, api_tokens: Tokens
) -> None:
    # Found by the fuzzer: a name outside Latin-1 made the Location header fail (500).
    name = "Zahlungen \u68a0 \U00071241"
    made = client.post(
        "/api/v1/status-page/components", json={"name": name}, headers=_as(api_tokens.responder)
    )
    assert made.status_code == 201, made.text
    location = made.headers["Location"]
    assert location.isascii()
    moved = client.patch(
        location, json={"status": "degraded_performance"}, headers=_as(api_tokens.responder)
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["name"] == name


def test_bad_components_name_the_field_and_change_nothing(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _declare(client, api_tokens)
    unknown = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "public": True, "components": {"Teleport": "major_outage"}},
        headers=_as(api_tokens.responder),
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"]["field"] == "components.Teleport"
    bad_status = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "public": True, "components": {"API": "broken"}},
        headers=_as(api_tokens.responder),
    )
    assert bad_status.status_code == 422
    assert "components.API" in bad_status.json()["error"]["message"]
    # The refused changes left the incident where it was.
    incident = client.get(f"/api/v1/incidents/{key}", headers=_as(api_tokens.viewer)).json()
    assert incident["status"] == "investigating"
    assert client.get("/api/v1/status-page/incidents", headers=_as(api_tokens.viewer)).json() == []


def test_restricted_incidents_are_published_only_by_an_admin(
    client: TestClient, api_tokens: Tokens, ctx: AppContext
) -> None:
    key = _declare(client, api_tokens, restricted=True, commander="jane.smith")
    refused = client.post(
        f"/api/v1/incidents/{key}/status",
        json={"status": "identified", "public": True, "message": "We found it"},
        headers=_as(api_tokens.jane),
    )
    assert refused.status_code == 409
    explicit = client.post(
        f"/api/v1/status-page/incidents/{key}",
        json={"status": "identified", "message": "We found it"},
        headers=_as(api_tokens.jane),
    )
    assert explicit.status_code == 409
    publish(ctx)
    assert client.get("/status/api/v2/incidents.json").json()["incidents"] == []
    by_admin = client.post(
        f"/api/v1/status-page/incidents/{key}",
        json={"status": "identified", "message": "We found it", "title": "Login delays"},
        headers=_as(api_tokens.admin),
    )
    assert by_admin.status_code == 200, by_admin.text
    publish(ctx)
    [shown] = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert shown["name"] == "Login delays"


def test_what_people_typed_is_escaped_everywhere(
    client: TestClient, api_tokens: Tokens, ctx: AppContext
) -> None:
    key = _declare(client, api_tokens)
    title = 'Checkout "cart" & <b>payments</b>'
    message = "<script>alert(1)</script> & 'quotes'"
    answer = client.post(
        f"/api/v1/status-page/incidents/{key}",
        json={"status": "investigating", "message": message, "title": title},
        headers=_as(api_tokens.responder),
    )
    assert answer.status_code == 200
    publish(ctx)
    code = answer.json()["code"]
    for path in ("/status", f"/status/incidents/{code}", "/status/history"):
        html = client.get(path).text
        assert "<script>" not in html and "<b>payments" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert "&#34;cart&#34; &amp; &lt;b&gt;" in html, path
    for feed in ("/status/history.rss", "/status/history.atom"):
        xml = client.get(feed).text
        assert "<script>" not in xml and "&lt;script&gt;" in xml, feed
    raw = client.get("/status/api/v2/summary.json").content
    assert b"<script>" not in raw and b"\\u003cscript\\u003e" in raw
    assert json.loads(raw)["incidents"][0]["incident_updates"][0]["body"] == message


def test_public_routes_serve_the_snapshot_with_caching_headers(
    client: TestClient, api_tokens: Tokens, ctx: AppContext
) -> None:
    page = client.get("/status")
    assert page.status_code == 200  # published on first request
    assert "All Systems Operational" in page.text
    assert "set-cookie" not in page.headers
    assert "stale-if-error=86400" in page.headers["cache-control"]
    etag = page.headers["etag"]
    again = client.get("/status", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    packed = client.get("/status/api/v2/status.json", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.json()["status"]["indicator"] == "none"
    assert client.get("/status/status.css").headers["content-type"].startswith("text/css")
    assert client.get("/status/incidents/nope").status_code == 404
    assert client.get("/status/../warroom.db").status_code == 404
    head = client.head("/status/api/v2/summary.json")
    assert head.status_code == 200 and head.content == b""

    # A change shows up once published; the ETag moves with it.
    client.patch(
        "/api/v1/status-page/components/Search",
        json={"status": "partial_outage"},
        headers=_as(api_tokens.responder),
    )
    publish(ctx)
    ctx_dir = ctx.settings.status_dir
    assert ctx_dir is not None
    fresh = client.get("/status", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert "Partial System Outage" in fresh.text
    on_disk = gzip.decompress((ctx_dir / "index.html.gz").read_bytes()).decode()
    assert on_disk == fresh.text
