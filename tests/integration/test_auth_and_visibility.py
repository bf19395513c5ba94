"""Authentication, roles, and restricted incidents invisible to outsiders everywhere."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Tokens
from warroom.app import prepare
from warroom.auth.models import ApiToken
from warroom.auth.service import hash_token
from warroom.context import AppContext
from warroom.settings import Settings


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_or_wrong_token_is_401_with_json_error(
    client: TestClient, api_tokens: Tokens
) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Basic {api_tokens.admin}"},
    ):
        r = client.get("/api/v1/incidents", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"


def test_viewer_reads_but_cannot_write(client: TestClient, api_tokens: Tokens) -> None:
    r = client.post(
        "/api/v1/incidents",
        json={"title": "x", "severity": "SEV3"},
        headers=auth(api_tokens.viewer),
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/incidents", headers=auth(api_tokens.viewer)).status_code == 200


def test_only_admins_manage_tokens_and_the_value_is_shown_once(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    assert (
        client.post(
            "/api/v1/tokens",
            json={"name": "ci", "role": "viewer"},
            headers=auth(api_tokens.responder),
        ).status_code
        == 403
    )
    r = client.post(
        "/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=auth(api_tokens.admin)
    )
    assert r.status_code == 201
    created = r.json()
    value = created["token"]
    assert value.startswith("wr_") and len(value) > 40
    listed = client.get("/api/v1/tokens", headers=auth(api_tokens.admin)).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    with ctx.db.unit_of_work() as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.name == "ci"))
        assert (
            row is not None and row.token_hash == hash_token(value) and value not in row.token_hash
        )
    assert client.get("/api/v1/whoami", headers=auth(value)).json() == {
        "name": "ci",
        "role": "viewer",
        "user": None,
    }
    dup = client.post(
        "/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=auth(api_tokens.admin)
    )
    assert dup.status_code == 409
    bad_role = client.post(
        "/api/v1/tokens", json={"name": "x", "role": "god"}, headers=auth(api_tokens.admin)
    )
    assert bad_role.status_code == 422 and bad_role.json()["error"]["details"][0]["field"] == "role"
    revoked = client.delete(f"/api/v1/tokens/{created['id']}", headers=auth(api_tokens.admin))
    assert revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/whoami", headers=auth(value)).status_code == 401


def test_bootstrap_token_is_ensured_at_start(ctx: AppContext) -> None:
    value = "b" * 40
    ctx.settings = Settings(database_url=ctx.db.url, auto_migrate=False, bootstrap_token=value)
    prepare(ctx)
    prepare(ctx)  # idempotent
    with ctx.db.unit_of_work() as uow:
        rows = list(
            uow.session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
        )
        assert len(rows) == 1 and rows[0].role == "admin"


def _restricted(client: TestClient, token: str) -> str:
    r = client.post(
        "/api/v1/incidents",
        json={
            "title": "Customer records exfiltrated",
            "severity": "SEV1",
            "type": "security_breach",
        },
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    assert r.json()["restricted"] is True
    return str(r.json()["id"])


def test_restricted_incidents_are_invisible_to_outsiders(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _restricted(client, api_tokens.jane)
    open_key = client.post(
        "/api/v1/incidents",
        json={"title": "Slow search", "severity": "SEV3"},
        headers=auth(api_tokens.jane),
    ).json()["id"]
    outsiders = (api_tokens.bob, api_tokens.viewer, api_tokens.responder)
    for token in outsiders:
        listed = client.get("/api/v1/incidents", headers=auth(token)).json()
        assert [i["id"] for i in listed["items"]] == [open_key]
        assert listed["total"] == 1
        for path in ("", "/timeline", "/timeline?format=markdown"):
            r = client.get(f"/api/v1/incidents/{key}{path}", headers=auth(token))
            assert r.status_code == 404, (path, r.status_code)
        missing = client.get("/api/v1/incidents/INC-999999", headers=auth(token)).json()
        hidden = client.get(f"/api/v1/incidents/{key}", headers=auth(token)).json()
        assert hidden["error"]["code"] == missing["error"]["code"] == "not_found"
        for method, path, body in (
            ("post", "/ack", None),
            ("post", "/status", {"status": "identified"}),
            ("post", "/severity", {"severity": "SEV2", "reason": "x"}),
            ("put", "/roles/scribe", {"user": "bob.wilson"}),
            ("post", "/events", {"type": "action", "description": "peek"}),
            ("post", "/participants", {"user": "bob.wilson"}),
        ):
            r = client.request(
                method.upper(), f"/api/v1/incidents/{key}{path}", json=body, headers=auth(token)
            )
            assert r.status_code in (403, 404), (path, r.status_code)
    # Triage naming a hidden incident opens a new one rather than touching (or revealing) it.
    triage = client.post(
        "/api/v1/triage",
        json={"incident": key, "impact": "service_outage", "urgency": "low"},
        headers=auth(api_tokens.bob),
    )
    assert triage.status_code == 200 and triage.json()["action"] == "declared"
    assert triage.json()["incident"]["id"] != key
    # The declarer and admins see it.
    for token in (api_tokens.jane, api_tokens.admin):
        assert client.get(f"/api/v1/incidents/{key}", headers=auth(token)).status_code == 200
        assert key in [
            i["id"] for i in client.get("/api/v1/incidents", headers=auth(token)).json()["items"]
        ]


def test_a_role_or_an_invitation_makes_a_participant(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = _restricted(client, api_tokens.jane)
    assert client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.bob)).status_code == 404
    r = client.put(
        f"/api/v1/incidents/{key}/roles/technical_lead",
        json={"user": "bob.wilson"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 200
    assert client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.bob)).status_code == 200
    assert (
        client.get(f"/api/v1/incidents/{key}/timeline", headers=auth(api_tokens.bob)).status_code
        == 200
    )
    # Standing down keeps the participant (they saw it, and the record says so).
    client.delete(f"/api/v1/incidents/{key}/roles/technical_lead", headers=auth(api_tokens.jane))
    assert (
        "bob.wilson"
        in client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.jane)).json()[
            "participants"
        ]
    )


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/{key}",
        "/api/v1/incidents/{key}/ack",
        "/api/v1/incidents/{key}/status",
        "/api/v1/incidents/{key}/severity",
        "/api/v1/incidents/{key}/roles/{role}",
        "/api/v1/incidents/{key}/events",
        "/api/v1/incidents/{key}/timeline",
        "/api/v1/classify",
        "/api/v1/triage",
        "/api/v1/tokens",
    ):
        assert path in paths, path
    assert all(p.startswith("/api/v1/") for p in paths), paths
