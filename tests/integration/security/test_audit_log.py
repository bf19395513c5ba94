"""The audit log: every change and token use on a write, hash-chained; verification names
a changed or deleted row."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from tests.conftest import Tokens
from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.context import AppContext
from warroom.db import Database
from warroom.security import audit


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entries(client: TestClient, token: str, **params: str) -> list[dict[str, object]]:
    r = client.get("/api/v1/audit", params={"limit": "1000", **params}, headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_changes_and_token_use_are_recorded_with_who(
    client: TestClient, api_tokens: Tokens
) -> None:
    r = client.post(
        "/api/v1/incidents",
        json={"title": "Suspicious logins", "severity": "SEV2"},
        headers=auth(api_tokens.jane),
    )
    key = r.json()["id"]
    client.post(
        f"/api/v1/incidents/{key}/severity",
        json={"severity": "SEV1", "reason": "admin accounts involved"},
        headers=auth(api_tokens.jane),
    )
    r = client.post(
        "/api/v1/tokens", json={"name": "siem", "role": "viewer"}, headers=auth(api_tokens.admin)
    )
    secret = r.json()["token"]
    number = key.removeprefix("INC-")
    mine = entries(client, api_tokens.admin, target=f"incidents:{number}")
    actions = [e["action"] for e in reversed(mine)]
    assert actions[0] == "incidents.insert" and "incidents.update" in actions
    update = next(e for e in mine if e["action"] == "incidents.update")
    assert update["actor"] == "jane.smith"
    assert update["details"]["fields"]["severity"] == ["SEV2", "SEV1"]  # type: ignore[index]
    assert update["details"]["request"] == f"POST /api/v1/incidents/{key}/severity"  # type: ignore[index]
    uses = entries(client, api_tokens.admin, action="token.write")
    assert {e["target"] for e in uses} >= {"token:jane", "token:admin"}
    # The admin's token creation is there; the token's value and hash are not.
    created = entries(client, api_tokens.admin, action="api_tokens.insert")
    assert created[0]["actor"] == "admin"
    assert created[0]["details"]["fields"]["token_hash"] == "[redacted]"  # type: ignore[index]
    export = client.get("/api/v1/audit/export", headers=auth(api_tokens.admin))
    assert export.status_code == 200
    assert secret not in export.text and api_tokens.jane not in export.text
    # Reads are not changes: a GET adds nothing.
    before = len(entries(client, api_tokens.admin))
    client.get(f"/api/v1/incidents/{key}", headers=auth(api_tokens.jane))
    assert len(entries(client, api_tokens.admin)) == before


def test_only_admins_read_the_audit_log(client: TestClient, api_tokens: Tokens) -> None:
    for path in ("/api/v1/audit", "/api/v1/audit/verify", "/api/v1/audit/export"):
        assert client.get(path, headers=auth(api_tokens.responder)).status_code == 403
        assert client.get(path).status_code == 401


def test_the_log_is_append_only(db: Database, client: TestClient, api_tokens: Tokens) -> None:
    client.post(
        "/api/v1/incidents", json={"title": "x", "severity": "SEV3"}, headers=auth(api_tokens.jane)
    )
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


@pytest.mark.usefixtures("unguarded")
def test_verification_names_a_changed_and_a_deleted_row(
    db: Database, client: TestClient, api_tokens: Tokens
) -> None:
    for title in ("one", "two", "three"):
        client.post(
            "/api/v1/incidents",
            json={"title": title, "severity": "SEV3"},
            headers=auth(api_tokens.jane),
        )
    report = client.get("/api/v1/audit/verify", headers=auth(api_tokens.admin)).json()
    assert report["ok"] is True and report["entries"] >= 6, report
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    report = client.get("/api/v1/audit/verify", headers=auth(api_tokens.admin)).json()
    assert report["ok"] is False
    assert report["problems"] == [
        "entry 2: altered (its content no longer matches its hash)",
        "entry 5: deleted",
    ]


def test_changes_rolled_back_with_a_savepoint_are_not_audited(
    db: Database, ctx: AppContext
) -> None:
    with db.unit_of_work() as uow:
        try:
            with uow.session.begin_nested():
                tokens.create(
                    uow.session, name="ghost", role=Role.VIEWER, user=None, now=ctx.clock.now()
                )
                raise RuntimeError("routing failed")
        except RuntimeError:
            pass
        tokens.create(uow.session, name="real", role=Role.VIEWER, user=None, now=ctx.clock.now())
        uow.commit()
    with db.unit_of_work() as uow:
        rows, _ = audit.page(uow.session, actor=None, action="api_tokens.insert", target=None,
                             limit=10, offset=0)  # fmt: skip
        names = [r.details["fields"]["name"] for r in rows]
        count, problems = audit.verify(uow.session)
    assert names == ["real"]
    assert problems == [] and count == 1
    # A transaction rolled back as a whole leaves nothing either.
    with db.unit_of_work() as uow:
        tokens.create(uow.session, name="never", role=Role.VIEWER, user=None, now=ctx.clock.now())
        uow.session.flush()
        uow.rollback()
    with db.unit_of_work() as uow:
        assert audit.verify(uow.session)[0] == 1


def test_auditing_an_incident_reads_none_of_its_generated_columns(
    ctx: AppContext, client: TestClient, api_tokens: Tokens
) -> None:
    """The incidents' spans are generated by the database and deferred: recording a
    declaration or a change must not read them back (a SELECT per span at every flush that
    follows a change; a declaration and its page made twelve in the engine)."""
    read_back: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "detect_seconds" in statement:
            read_back.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", note)
    try:
        r = client.post(
            "/api/v1/incidents",
            json={"title": "Checkout errors", "severity": "SEV2"},
            headers=auth(api_tokens.jane),
        )
        assert r.status_code == 201, r.text
        key = r.json()["id"]
        r = client.post(
            f"/api/v1/incidents/{key}/severity",
            json={"severity": "SEV1", "reason": "all regions"},
            headers=auth(api_tokens.jane),
        )
        assert r.status_code == 200, r.text
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", note)
    assert read_back == []
    mine = entries(client, api_tokens.admin, target=f"incidents:{key.removeprefix('INC-')}")
    inserted = next(e for e in mine if e["action"] == "incidents.insert")
    assert inserted["details"]["fields"]["title"] == "Checkout errors"  # type: ignore[index]
    update = next(e for e in mine if e["action"] == "incidents.update")
    assert update["details"]["fields"]["severity"] == ["SEV2", "SEV1"]  # type: ignore[index]
