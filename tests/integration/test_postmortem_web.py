"""The postmortem page of the web shell: login, CSRF, roles, restricted incidents, escaping."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_web import bearer, csrf_of, login


def resolved(client: TestClient, token: str, **fields: object) -> str:
    body = {"title": "Checkout <script>x</script>", "severity": "SEV2", **fields}
    key = str(client.post("/api/v1/incidents", json=body, headers=bearer(token)).json()["id"])
    r = client.post(f"/api/v1/incidents/{key}/status", json={"status": "resolved"},
                    headers=bearer(token))  # fmt: skip
    assert r.status_code == 200, r.text
    return key


def test_the_page_needs_a_session_and_escapes_user_text(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = resolved(client, api_tokens.jane)
    anonymous = client.get(f"/incidents/{key}/postmortem", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    login(client, api_tokens.jane)
    page = client.get(f"/incidents/{key}/postmortem")
    assert page.status_code == 200
    assert "<script>x</script>" not in page.text
    assert "Checkout &lt;script&gt;x&lt;/script&gt;" in page.text
    assert "Content-Security-Policy" in page.headers
    incident_page = client.get(f"/incidents/{key}")
    assert f'href="/incidents/{key}/postmortem"' in incident_page.text


def test_saving_needs_the_csrf_token_and_a_responder(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = resolved(client, api_tokens.jane)
    login(client, api_tokens.jane)
    csrf = csrf_of(client.get(f"/incidents/{key}/postmortem"))
    form = {"section_root_cause": "A leak", "why_0": "did it fail?", "because_0": "a leak",
            "version": "1"}  # fmt: skip
    forged = client.post(f"/incidents/{key}/postmortem", data=form, follow_redirects=False)
    assert forged.status_code == 403
    saved = client.post(f"/incidents/{key}/postmortem", data={**form, "csrf_token": csrf},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    pm = client.get(f"/api/v1/incidents/{key}/postmortem", headers=bearer(api_tokens.jane)).json()
    assert pm["sections"]["root_cause"] == "A leak" and pm["version"] == 2
    assert pm["five_whys"] == [{"why": "did it fail?", "because": "a leak"}]
    # The same form again is a stale revision: refused, and what was typed is shown again.
    stale = client.post(
        f"/incidents/{key}/postmortem",
        data={**form, "section_root_cause": "Typed again", "csrf_token": csrf},
    )
    assert stale.status_code == 409 and "Typed again" in stale.text

    client.cookies.clear()
    login(client, api_tokens.viewer)
    viewer_csrf = csrf_of(client.get(f"/incidents/{key}/postmortem"))
    refused = client.post(f"/incidents/{key}/postmortem/status",
                          data={"status": "in_review", "csrf_token": viewer_csrf})  # fmt: skip
    assert refused.status_code == 403


def test_a_restricted_incidents_postmortem_is_not_found_for_outsiders(
    client: TestClient, api_tokens: Tokens
) -> None:
    key = resolved(client, api_tokens.jane, restricted=True, commander="jane.smith")
    login(client, api_tokens.bob)
    assert client.get(f"/incidents/{key}/postmortem").status_code == 404
    csrf = csrf_of(client.get("/"))
    r = client.post(f"/incidents/{key}/action-items", data={
        "title": "x", "priority": "P1", "type": "detective", "owner": "bob.wilson",
        "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 404
    listed = client.get("/api/v1/action-items", headers=bearer(api_tokens.jane)).json()
    assert listed["total"] == 0
