"""A public status change from the web shell becomes a public update."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.test_web import bearer, csrf_of, declare, htmx, login


def test_the_web_status_form_can_publish(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.responder)
    login(client, api_tokens.responder)
    page = client.get(f"/incidents/{key}")
    assert 'name="public"' in page.text
    csrf = csrf_of(page)
    quiet = client.post(
        f"/incidents/{key}/status",
        data={"status": "identified", "message": "internal words"},
        headers=htmx(csrf),
    )
    assert quiet.status_code == 200
    listed = client.get("/api/v1/status-page/incidents", headers=bearer(api_tokens.viewer))
    assert listed.json() == []
    loud = client.post(
        f"/incidents/{key}/status",
        data={"status": "monitoring", "message": "A fix is live.", "public": "1"},
        headers=htmx(csrf),
    )
    assert loud.status_code == 200
    [public] = client.get("/api/v1/status-page/incidents", headers=bearer(api_tokens.viewer)).json()
    assert [u["body"] for u in public["updates"]] == ["A fix is live."]
