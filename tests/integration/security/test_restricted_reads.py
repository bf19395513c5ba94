"""Reads of a restricted incident go on the audit chain (who, what, when); reads of an
ordinary one write nothing; the chain still verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import Tokens
from tests.integration.security.conftest import auth, declare
from warroom.clock import FakeClock
from warroom.config.loader import ConfigError
from warroom.configuration import load_config
from warroom.db import Database
from warroom.security import audit


def reads(api: TestClient, token: str, number: str) -> list[dict[str, object]]:
    r = api.get(
        "/api/v1/audit",
        params={"action": "incident.read", "target": f"incidents:{number}", "limit": "1000"},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_reads_of_a_restricted_incident_are_audited(
    api: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = declare(api, api_tokens.jane, restricted=True)
    number = key.removeprefix("INC-")
    clock.advance(minutes=5)
    assert api.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.admin)).status_code == 200
    clock.advance(minutes=1)
    r = api.get(f"/api/v1/incidents/{key}/timeline", headers=auth(api_tokens.jane))
    assert r.status_code == 200
    # An outsider reads nothing: a 404, as for a number that does not exist, and no entry.
    assert api.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.bob)).status_code == 404
    found = reads(api, api_tokens.admin, number)
    assert [(e["actor"], e["details"]["request"]) for e in reversed(found)] == [  # type: ignore[index]
        ("admin", f"GET /api/v1/incidents/{key}"),
        ("jane.smith", f"GET /api/v1/incidents/{key}/timeline"),
    ]
    assert found[0]["at"] != found[1]["at"]  # when: the application's clock
    # The lists stay filtered: the outsider's list does not name it, and lists write nothing.
    listed = api.get("/api/v1/incidents", headers=auth(api_tokens.bob)).json()
    assert key not in {i["id"] for i in listed["items"]}
    assert len(reads(api, api_tokens.admin, number)) == 2
    verdict = api.get("/api/v1/audit/verify", headers=auth(api_tokens.admin)).json()
    assert verdict["ok"], verdict


def test_the_web_page_of_a_restricted_incident_is_audited(
    api: TestClient, api_tokens: Tokens
) -> None:
    key = declare(api, api_tokens.jane, restricted=True)
    r = api.post("/login", data={"token": api_tokens.jane}, follow_redirects=False)
    assert r.status_code == 303
    assert api.get(f"/incidents/{key}").status_code == 200
    found = reads(api, api_tokens.admin, key.removeprefix("INC-"))
    assert [(e["actor"], e["details"]["request"]) for e in found] == [  # type: ignore[index]
        ("jane.smith", f"GET /incidents/{key}")
    ]


def test_reads_of_an_ordinary_incident_write_nothing(
    api: TestClient, api_tokens: Tokens, db: Database
) -> None:
    ordinary = declare(api, api_tokens.jane)
    restricted = declare(api, api_tokens.jane, restricted=True)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    def audit_statements(key: str) -> list[str]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            for path in (f"/api/v1/incidents/{key}", f"/api/v1/incidents/{key}/timeline"):
                assert api.get(path, headers=auth(api_tokens.admin)).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        return [s for s in statements if "audit_log" in s or "chain_heads" in s]

    # An ordinary incident's reads touch neither the log nor its lock...
    assert audit_statements(ordinary) == []
    # ...a restricted one's take four statements each: head ensured, locked, moved, entry.
    assert len(audit_statements(restricted)) == 2 * 4


def test_the_chain_verifies_after_many_audited_reads(
    api: TestClient, api_tokens: Tokens, db: Database
) -> None:
    key = declare(api, api_tokens.jane, restricted=True)
    api.post(f"/api/v1/incidents/{key}/ack", json={}, headers=auth(api_tokens.jane))
    for token in (api_tokens.jane, api_tokens.admin, api_tokens.jane):
        api.get(f"/api/v1/incidents/{key}", headers=auth(token))
    # What `warroom audit verify` asks the API for, read directly.
    with db.unit_of_work() as uow:
        count, problems = audit.verify(uow.session)
    assert problems == [] and count > 3


def _config(tmp_path: Path, security: str) -> Path:
    (tmp_path / "people.yaml").write_text(
        "users:\n  - {handle: lena.kovacs, name: Lena Kovacs}\n"
        "teams:\n  - {name: secops, members: [lena.kovacs]}\n"
    )
    (tmp_path / "security.yaml").write_text(security)
    return tmp_path


def test_security_people_are_checked_against_users_and_teams(tmp_path: Path) -> None:
    folder = _config(tmp_path, "security:\n  team: [secops, lena.kovacs]\n  notify: [secops]\n")
    config = load_config(folder)
    assert config.security.team == ["secops", "lena.kovacs"]
    bad = _config(tmp_path, "security:\n  team: [lena.kovacs, mallory]\n  notify: [nobody]\n")
    with pytest.raises(ConfigError) as raised:
        load_config(bad)
    text = str(raised.value)
    assert "security.team.1: unknown user or team 'mallory'" in text
    assert "security.notify.0: unknown user or team 'nobody'" in text
