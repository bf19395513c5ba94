"""Every API route, walked as an outsider, never shows a restricted incident or its
evidence, custody, breach clocks or audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.security.conftest import KEY
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings

TITLE = "Zebra-Quokka exfiltration"
SECRET_TEXT = "evidence-body-Platypus"


@pytest.fixture
def api(
    db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: object
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False,
        evidence_key=KEY, evidence_dir=f"{tmp_path}/locker",
    )  # fmt: skip
    ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
    with TestClient(create_app(ctx)) as c:
        yield c


def _fill(path: str, key: str) -> str:
    values = {"key": key, "incident": key, "id": key, "evidence_id": "1", "regime": "gdpr",
              "obligation": "authority"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_no_get_route_shows_a_restricted_incident_to_an_outsider(
    api: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    jane = {"Authorization": f"Bearer {api_tokens.jane}"}
    r = api.post(
        "/api/v1/incidents",
        json={"title": TITLE, "severity": "SEV1", "restricted": True, "description": TITLE},
        headers=jane,
    )
    key = r.json()["id"]
    assert (
        api.post(
            f"/api/v1/incidents/{key}/evidence",
            json={"text": SECRET_TEXT, "reason": "r", "name": f"{TITLE}.txt"},
            headers=jane,
        ).status_code
        == 201
    )
    assert (
        api.post(
            f"/api/v1/incidents/{key}/breach",
            json={"aware_at": (clock.now() - timedelta(hours=1)).isoformat(), "nature": TITLE},
            headers=jane,
        ).status_code
        == 201
    )
    # The owner sees it, so the walk below means something.
    assert (
        TITLE in api.get(f"/api/v1/incidents/{key}/breach/drafts/gdpr/authority", headers=jane).text
    )
    routes = [
        path
        for path, operations in api.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if "get" in operations
    ]
    assert "/api/v1/incidents/{key}/evidence/{evidence_id}/content" in routes
    walked = 0
    for outsider in (api_tokens.bob, api_tokens.viewer, api_tokens.responder):
        headers = {"Authorization": f"Bearer {outsider}"}
        for path in routes:
            url = _fill(path, key)
            r = api.get(url, params={"reason": "curious", "limit": "500"}, headers=headers)
            walked += 1
            assert r.status_code < 500, (url, r.status_code, r.text)
            for secret in (TITLE, SECRET_TEXT):
                assert secret not in r.text, (url, r.status_code)
            if "{key}" in path:
                assert r.status_code in (403, 404), (url, r.status_code)
    assert walked > 30
