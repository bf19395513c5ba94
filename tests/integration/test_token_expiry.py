"""Tokens with an expiry stop working by themselves, on every way in (API, the guard in
front of write routes, web sessions made with them); `expires_at` must lie ahead."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.clock import FakeClock


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_stops_at_its_expiry(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    ends = clock.now() + timedelta(hours=1)
    made = client.post(
        "/api/v1/tokens",
        json={"name": "temp", "role": "responder", "expires_at": ends.isoformat()},
        headers=auth(api_tokens.admin),
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert made.json()["expires_at"].startswith(ends.strftime("%Y-%m-%dT%H:%M"))
    body = {"title": "Checkout failing", "severity": "SEV3"}
    assert client.get("/api/v1/incidents", headers=auth(token)).status_code == 200
    assert client.post("/api/v1/incidents", json=body, headers=auth(token)).status_code == 201
    login = client.post("/login", data={"token": token}, follow_redirects=False)
    assert login.status_code < 400 and client.cookies.get("warroom_session")
    assert client.get("/", follow_redirects=False).status_code == 200

    clock.advance(timedelta(hours=1))
    assert client.get("/api/v1/incidents", headers=auth(token)).status_code == 401
    assert client.post("/api/v1/incidents", json=body, headers=auth(token)).status_code == 401
    # The web session it opened ends with it.
    assert client.get("/", follow_redirects=False).status_code in (302, 303, 401)
    listed = client.get("/api/v1/tokens", headers=auth(api_tokens.admin)).json()
    assert [t["expires_at"] is not None for t in listed if t["name"] == "temp"] == [True]


def test_an_expiry_must_lie_ahead_and_carry_an_offset(
    client: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    for value in (past, "2030-01-01T00:00:00", "soon"):
        r = client.post(
            "/api/v1/tokens",
            json={"name": "never", "role": "viewer", "expires_at": value},
            headers=auth(api_tokens.admin),
        )
        assert r.status_code == 422, (value, r.text)
        assert "expires_at" in r.text
    names = [t["name"] for t in client.get("/api/v1/tokens", headers=auth(api_tokens.admin)).json()]
    assert "never" not in names
