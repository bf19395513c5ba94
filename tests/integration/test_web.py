"""The web shell through TestClient: login, dashboard, incident page, HTMX actions, and
the security measures (cookie flags, CSRF, Origin, CSP, escaping, restricted incidents)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from warroom.app import create_app
from warroom.context import AppContext
from warroom.settings import Settings

HOSTILE = "<script>alert(1)</script>"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def declare(client: TestClient, token: str, **fields: Any) -> str:
    body = {"title": "Checkout errors", "severity": "SEV2", "services": ["payment-service"]}
    body.update(fields)
    r = client.post("/api/v1/incidents", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    key: str = r.json()["id"]
    return key


def login(client: TestClient, token: str, next: str | None = None) -> httpx.Response:
    data = {"token": token} if next is None else {"token": token, "next": next}
    return client.post("/login", data=data, follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def htmx(csrf: str | None = None) -> dict[str, str]:
    headers = {"HX-Request": "true"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


# --- login and session --------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2F"
    r = client.get("/incidents/INC-1", follow_redirects=False)
    assert r.headers["location"] == "/login?next=%2Fincidents%2FINC-1"
    # htmx cannot follow a redirect to a page; it is told where to navigate instead.
    r = client.get("/fragments/incidents", headers=htmx())
    assert r.status_code == 401
    assert r.headers["hx-redirect"].startswith("/login?next=")
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="token"' in page.text and 'type="password"' in page.text


def test_a_bad_token_is_refused_without_saying_why(client: TestClient, api_tokens: Tokens) -> None:
    for token in ("nope", "", "x" * 5000):
        r = login(client, token)
        assert r.status_code == 401
        assert "That token was not accepted." in r.text
        assert "set-cookie" not in r.headers
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_sets_an_httponly_strict_cookie_and_lands_on_the_dashboard(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = login(client, api_tokens.responder)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    # The cookie holds a session id of its own, never the API token.
    assert cookie.startswith("warroom_session=") and api_tokens.responder not in cookie
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # plain http base URL
    page = client.get("/")
    assert page.status_code == 200
    assert "Active incidents" in page.text
    assert ">responder<" in page.text  # the header names the token and its role


def test_the_cookie_is_secure_behind_an_https_base_url(ctx: AppContext, api_tokens: Tokens) -> None:
    settings = Settings(
        database_url=ctx.db.url, auto_migrate=False, base_url="https://warroom.example"
    )
    secure = AppContext(settings=settings, db=ctx.db, config=ctx.config, clock=ctx.clock)
    with TestClient(create_app(secure), base_url="https://testserver") as client:
        r = login(client, api_tokens.viewer)
        assert r.status_code == 303
        assert "secure" in [p.strip().lower() for p in r.headers["set-cookie"].split(";")]


def test_next_only_goes_to_local_paths(client: TestClient, api_tokens: Tokens) -> None:
    for hostile in (
        "https://evil.example",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: x=1",
        "",
    ):
        r = login(client, api_tokens.viewer, next=hostile)
        assert r.status_code == 303
        assert r.headers["location"] == "/", hostile
    r = login(client, api_tokens.viewer, next="/incidents/INC-7")
    assert r.headers["location"] == "/incidents/INC-7"
    # The login form carries `next` through, escaped.
    page = client.get("/login", params={"next": '/x"><b>'})
    assert 'value="/x&#34;&gt;&lt;b&gt;"' in page.text


def test_logout_needs_the_csrf_token_and_clears_the_cookie(
    client: TestClient, api_tokens: Tokens
) -> None:
    login(client, api_tokens.responder)
    csrf = csrf_of(client.get("/"))
    assert client.post("/logout", follow_redirects=False).status_code == 403
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert r.headers["set-cookie"].startswith('warroom_session="";')
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_web_session(client: TestClient, api_tokens: Tokens) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "temp", "role": "viewer"}, headers=bearer(api_tokens.admin)
    ).json()
    login(client, created["token"])
    assert client.get("/").status_code == 200
    client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(api_tokens.admin))
    assert client.get("/", follow_redirects=False).status_code == 303


# --- dashboard and incident page ----------------------------------------------------------


def test_dashboard_lists_active_incidents_and_escapes_titles(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(
        client, api_tokens.responder, title=f"Checkout {HOSTILE} broken", commander="bob.wilson"
    )
    done = declare(client, api_tokens.responder, title="Old & gone", severity="SEV4")
    r = client.post(
        f"/api/v1/incidents/{done}/status",
        json={"status": "resolved"},
        headers=bearer(api_tokens.responder),
    )
    assert r.status_code == 200
    login(client, api_tokens.viewer)
    for path in ("/", "/fragments/incidents"):
        page = client.get(path)
        assert page.status_code == 200
        assert f'href="/incidents/{key}"' in page.text
        assert "Checkout &lt;script&gt;alert(1)&lt;/script&gt; broken" in page.text
        assert HOSTILE not in page.text
        assert 'class="sev sev-2"' in page.text
        assert "payment-service" in page.text and "bob.wilson" in page.text
        assert "Recently resolved" in page.text and "Old &amp; gone" in page.text
    active = client.get("/fragments/incidents").text.split("Recently resolved")[0]
    assert done not in active
    # The dashboard polls its fragment; the pause while hidden lives in warroom.js (no eval).
    page = client.get("/").text
    assert 'hx-get="/fragments/incidents"' in page and "every 30s" in page


def test_incident_page_shows_details_roles_and_timeline(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(
        client,
        api_tokens.responder,
        title=HOSTILE,
        type="service_outage",
        description="<img src=x onerror=alert(1)>",
        commander="jane.smith",
    )
    event = {
        "type": "investigation",
        "description": "Pool <b>exhausted</b>",
        "details": {"pods": [1, 2]},
    }
    assert (
        client.post(
            f"/api/v1/incidents/{key}/events", json=event, headers=bearer(api_tokens.responder)
        ).status_code
        == 201
    )
    login(client, api_tokens.viewer)
    number = key.removeprefix("INC-")
    for path in (f"/incidents/{key}", f"/incidents/{number}", f"/incidents/{key.lower()}"):
        page = client.get(path)
        assert page.status_code == 200, path
    text = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and HOSTILE not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "<img" not in text
    assert "Pool &lt;b&gt;exhausted&lt;/b&gt;" in text
    assert "Service Outage" in text or "service_outage" in text
    assert "investigating" in text and "SEV2" in text
    # Every configured role with its title, held or not.
    assert "Incident Commander" in text and "jane.smith" in text
    assert "Technical Lead" in text and "unassigned" in text
    # The timeline: type, source, actor, details.
    assert "declaration" in text and "investigation" in text and "human" in text
    assert "responder" in text and "1, 2" in text


def test_a_missing_incident_is_a_404_page(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    for key in ("INC-999", "999", "nonsense", "INC-1x"):
        r = client.get(f"/incidents/{key}")
        assert r.status_code == 404
        assert "There is no such incident" in r.text
        assert r.headers["content-type"].startswith("text/html")


def test_restricted_incidents_are_invisible_to_outsiders(
    client: TestClient, api_tokens: Tokens
) -> None:
    secret = declare(
        client, api_tokens.jane, title="Leaked keys", severity="SEV1", type="security_breach"
    )
    login(client, api_tokens.bob)
    assert "Leaked keys" not in client.get("/").text
    assert "Leaked keys" not in client.get("/fragments/incidents").text
    hidden = client.get(f"/incidents/{secret}")
    missing = client.get("/incidents/INC-999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text  # indistinguishable from a number that does not exist
    csrf = csrf_of(client.get("/"))
    assert client.post(f"/incidents/{secret}/ack", headers=htmx(csrf)).status_code == 404
    for insider in (api_tokens.admin, api_tokens.jane):
        login(client, insider)
        assert "Leaked keys" in client.get("/").text
        page = client.get(f"/incidents/{secret}")
        assert page.status_code == 200
        assert "restricted" in page.text


# --- actions ------------------------------------------------------------------------------


def test_viewers_see_no_controls_and_cannot_act(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.viewer)
    page = client.get(f"/incidents/{key}")
    assert ">Acknowledge<" not in page.text and 'id="ack"' not in page.text
    assert "hx-post" not in page.text and 'name="status"' not in page.text
    csrf = csrf_of(page)
    for path, data in (
        (f"/incidents/{key}/ack", {}),
        (f"/incidents/{key}/status", {"status": "identified"}),
        (f"/incidents/{key}/events", {"type": "note", "description": "hi"}),
    ):
        assert client.post(path, data=data, headers=htmx(csrf)).status_code == 403
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 403
    incident = client.get(f"/api/v1/incidents/{key}", headers=bearer(api_tokens.viewer)).json()
    assert incident["acknowledged_at"] is None and incident["status"] == "investigating"


def test_actions_need_the_csrf_token(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.responder)
    page = client.get(f"/incidents/{key}")
    csrf = csrf_of(page)
    assert 'id="ack"' in page.text
    refused = client.post(f"/incidents/{key}/ack", headers=htmx())
    assert refused.status_code == 403
    assert refused.headers["hx-refresh"] == "true"  # the page reloads with the current session
    assert client.post(f"/incidents/{key}/ack", headers=htmx("0" * 64)).status_code == 403
    assert client.post(f"/incidents/{key}/ack", data={"csrf_token": "forged"}).status_code == 403
    # Another session's token does not fit this one.
    login(client, api_tokens.jane)
    other = csrf_of(client.get("/"))
    login(client, api_tokens.responder)
    assert client.post(f"/incidents/{key}/ack", headers=htmx(other)).status_code == 403
    # A new login is a new session, with a CSRF token of its own.
    assert csrf_of(client.get(f"/incidents/{key}")) != csrf
    csrf = csrf_of(client.get(f"/incidents/{key}"))
    # A foreign Origin is refused even with the right token.
    cross = {**htmx(csrf), "Origin": "https://evil.example"}
    assert client.post(f"/incidents/{key}/ack", headers=cross).status_code == 403
    incident = client.get(f"/api/v1/incidents/{key}", headers=bearer(api_tokens.viewer)).json()
    assert incident["acknowledged_at"] is None

    r = client.post(f"/incidents/{key}/ack", headers={**htmx(csrf), "Origin": "http://testserver"})
    assert r.status_code == 200
    assert r.text.startswith('<article id="incident"')  # the fragment, not a whole page
    assert "Acknowledged." in r.text
    assert "acknowledgement" in r.text and "Acknowledged by responder" in r.text
    assert 'id="ack"' not in r.text  # nothing left to acknowledge
    incident = client.get(f"/api/v1/incidents/{key}", headers=bearer(api_tokens.viewer)).json()
    assert incident["acknowledged_at"] is not None
    timeline = client.get(f"/incidents/{key}").text
    assert "Acknowledged by responder" in timeline


def test_status_changes_offer_only_allowed_transitions(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.responder)
    page = client.get(f"/incidents/{key}")
    csrf = csrf_of(page)
    options = re.findall(
        r'<option value="(\w+)">', page.text.split('name="status"')[1].split("</select>")[0]
    )
    assert options == ["identified", "monitoring", "resolved"]
    r = client.post(
        f"/incidents/{key}/status",
        data={"status": "identified", "message": "Connection <leak>"},
        headers=htmx(csrf),
    )
    assert r.status_code == 200
    assert "Status changed to identified: Connection &lt;leak&gt;" in r.text
    # A refused transition comes back as 409 with the reason, swapped in by htmx.
    r = client.post(f"/incidents/{key}/status", data={"status": "closed"}, headers=htmx(csrf))
    assert r.status_code == 409
    assert "only a resolved incident can be closed" in r.text
    r = client.post(f"/incidents/{key}/status", data={"status": "bogus"}, headers=htmx(csrf))
    assert r.status_code == 422
    # Without htmx the same form posts and redirects back to the page.
    r = client.post(
        f"/incidents/{key}/status",
        data={"status": "monitoring", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{key}"
    incident = client.get(f"/api/v1/incidents/{key}", headers=bearer(api_tokens.viewer)).json()
    assert incident["status"] == "monitoring"


def test_notes_are_added_to_the_timeline(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.jane)
    csrf = csrf_of(client.get(f"/incidents/{key}"))
    r = client.post(
        f"/incidents/{key}/events",
        data={"type": "decision", "description": f"Roll back {HOSTILE}"},
        headers=htmx(csrf),
    )
    assert r.status_code == 200
    assert "Roll back &lt;script&gt;" in r.text and HOSTILE not in r.text
    events = client.get(
        f"/api/v1/incidents/{key}/timeline", headers=bearer(api_tokens.viewer)
    ).json()["events"]
    assert events[-1]["type"] == "decision" and events[-1]["actor"] == "jane.smith"
    for bad in (
        {"type": "decision", "description": "  "},
        {"type": "declaration", "description": "x"},
    ):
        assert (
            client.post(f"/incidents/{key}/events", data=bad, headers=htmx(csrf)).status_code == 422
        )


# --- headers, assets, schema --------------------------------------------------------------


def test_pages_carry_security_headers(client: TestClient, api_tokens: Tokens) -> None:
    login(client, api_tokens.viewer)
    for path in ("/login", "/", "/fragments/incidents", "/incidents/INC-404"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
    page = client.get("/").text
    assert "<style" not in page and " style=" not in page
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/static/htmx.min.js" defer>',
        '<script src="/static/warroom.js" defer>',
    ]
    assert "includeIndicatorStyles&#34;:false" in page and "allowEval&#34;:false" in page


def test_static_assets_are_served(client: TestClient) -> None:
    r = client.get("/static/htmx.min.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text.startswith("var htmx=")
    assert client.get("/static/warroom.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/warroom.js").status_code == 200
    assert "Zero-Clause BSD" in client.get("/static/htmx.LICENSE").text
    assert client.get("/static/../views.py").status_code == 404


def test_web_routes_stay_out_of_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/incidents" in paths
    for web in ("/", "/login", "/logout", "/fragments/incidents", "/incidents/{key}"):
        assert web not in paths
    assert not any(p.startswith("/incidents/") for p in paths)
