"""The evidence locker: encrypted at rest, streamed, hash-verified, chain of custody."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import Tokens
from tests.integration.security.conftest import KEY, auth, blobs, declare, upload
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings


def test_a_file_is_stored_encrypted_and_comes_back_byte_for_byte(
    api: TestClient, api_tokens: Tokens, locker: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = declare(api, api_tokens.jane)
    # Several chunks and a ragged end; a recognisable line to look for on disk.
    data = b"Failed password for root from 203.0.113.9\n" * 5000 + os.urandom(1234)
    item = upload(api, api_tokens.jane, key, data)
    assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["size"] == len(data)
    [stored] = blobs(locker)
    raw = stored.read_bytes()
    assert b"Failed password" not in raw and str(item["sha256"]) not in stored.name
    r = api.get(
        f"/api/v1/incidents/{key}/evidence/{item['id']}/content",
        params={"reason": "forensic review"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 200 and r.content == data
    assert r.headers["x-evidence-sha256"] == item["sha256"]
    custody = api.get(f"/api/v1/incidents/{key}/custody", headers=auth(api_tokens.jane)).json()
    assert [(e["seq"], e["action"], e["actor"]) for e in custody] == [
        (1, "add", "jane.smith"),
        (2, "download", "jane.smith"),
    ]
    assert custody[1]["reason"] == "forensic review"
    assert custody[1]["prev_hash"] == custody[0]["hash"]
    verdict = api.get(f"/api/v1/incidents/{key}/evidence/verify", headers=auth(api_tokens.jane))
    assert verdict.status_code == 200 and verdict.json()["ok"] is True, verdict.text
    assert KEY not in caplog.text


def test_text_evidence_and_the_incident_timeline(api: TestClient, api_tokens: Tokens) -> None:
    key = declare(api, api_tokens.jane)
    r = api.post(
        f"/api/v1/incidents/{key}/evidence",
        json={"text": "attacker IP 203.0.113.9", "reason": "seen in WAF", "name": "ip.txt"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "text" and r.json()["name"] == "ip.txt"
    timeline = api.get(f"/api/v1/incidents/{key}/timeline", headers=auth(api_tokens.jane)).json()
    assert any("Evidence E-" in e["description"] for e in timeline["events"])


def test_bad_input_names_the_field_and_stores_nothing(
    api: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane)
    url = f"/api/v1/incidents/{key}/evidence"
    r = api.post(url, params={"name": "x"}, content=b"abc", headers=auth(api_tokens.jane))
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    r = api.post(url, json={"text": "", "reason": "r"}, headers=auth(api_tokens.jane))
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "text"
    assert blobs(locker) == []
    assert api.get(url, headers=auth(api_tokens.jane)).json() == []


def test_an_upload_over_the_limit_is_refused_while_it_streams(
    db: Database, config: WarroomConfig, clock: FakeClock, locker: Path, api_tokens: Tokens
) -> None:
    small = config.model_copy(
        update={
            "security": config.security.model_copy(
                update={"evidence": config.security.evidence.model_copy(update={"max_bytes": 1000})}
            )
        }
    )
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False,
        evidence_key=KEY, evidence_dir=locker,
    )  # fmt: skip
    ctx = AppContext(settings=settings, db=db, config=small, clock=clock)
    with TestClient(create_app(ctx)) as api:
        key = declare(api, api_tokens.jane)

        def body() -> Iterator[bytes]:  # no Content-Length: the limit holds mid-stream
            for _ in range(10):
                yield b"x" * 500

        r = api.post(
            f"/api/v1/incidents/{key}/evidence",
            params={"name": "big.bin", "reason": "r"},
            content=body(),
            headers=auth(api_tokens.jane),
        )
        assert r.status_code == 413, r.text
        assert blobs(locker) == []  # the partial file is gone
        assert (
            api.get(f"/api/v1/incidents/{key}/evidence", headers=auth(api_tokens.jane)).json() == []
        )


def test_only_participants_the_security_team_and_admins_read_evidence(
    api: TestClient, api_tokens: Tokens
) -> None:
    open_key = declare(api, api_tokens.jane)
    upload(api, api_tokens.jane, open_key, b"secret log")
    url = f"/api/v1/incidents/{open_key}/evidence"
    # The incident is visible to everyone; its evidence is not.
    assert (
        api.get(f"/api/v1/incidents/{open_key}", headers=auth(api_tokens.viewer)).status_code == 200
    )
    for outsider in (api_tokens.viewer, api_tokens.responder, api_tokens.bob):
        assert api.get(url, headers=auth(outsider)).status_code == 403
        assert api.get(f"{url}/1/content?reason=x", headers=auth(outsider)).status_code == 403
        r = api.post(url, json={"text": "t", "reason": "r"}, headers=auth(outsider))
        assert r.status_code == 403
    assert api.get(url, headers=auth(api_tokens.admin)).status_code == 200
    # A restricted incident's evidence is not even there for an outsider.
    hidden = declare(api, api_tokens.jane, restricted=True)
    upload(api, api_tokens.jane, hidden, b"more")
    for path in ("evidence", "evidence/verify", "evidence/1", "custody"):
        r = api.get(f"/api/v1/incidents/{hidden}/{path}", headers=auth(api_tokens.bob))
        assert r.status_code == 404 and "Credential" not in r.text


def test_the_locker_is_off_without_a_key(client: TestClient, api_tokens: Tokens) -> None:
    key = declare(client, api_tokens.jane)
    r = client.post(
        f"/api/v1/incidents/{key}/evidence",
        json={"text": "t", "reason": "r"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 503 and "WARROOM_EVIDENCE_KEY" in r.json()["error"]["message"]


def test_the_tables_are_append_only(db: Database, api: TestClient, api_tokens: Tokens) -> None:
    key = declare(api, api_tokens.jane)
    upload(api, api_tokens.jane, key, b"log")
    for statement in ("UPDATE custody_entries SET reason = 'x'", "DELETE FROM evidence_items"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


def test_verification_names_exactly_what_was_tampered_with(
    db: Database, api: TestClient, api_tokens: Tokens, locker: Path, unguarded: None
) -> None:
    key = declare(api, api_tokens.jane)
    first = upload(api, api_tokens.jane, key, b"first file " * 1000, name="a.log")
    second = upload(api, api_tokens.jane, key, b"second file", name="b.log")
    api.get(f"/api/v1/incidents/{key}/evidence/{second['id']}", headers=auth(api_tokens.jane))
    # Flip one byte of the first file's content on disk.
    with db.engine.connect() as conn:
        address = conn.execute(
            text("SELECT address FROM evidence_items WHERE id = :i"), {"i": first["id"]}
        ).scalar_one()
    path = locker / address[:2] / address
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    # Delete the custody entry of the view (seq 3).
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM custody_entries WHERE seq = 3"))
    report = api.get(
        f"/api/v1/incidents/{key}/evidence/verify", headers=auth(api_tokens.jane)
    ).json()
    assert report["ok"] is False
    by_id = {i["id"]: i for i in report["items"]}
    assert not by_id[first["id"]]["ok"]
    assert "chunk" in by_id[first["id"]]["problems"][0]
    assert by_id[second["id"]]["ok"]
    assert report["custody_problems"] == ["entry 3: deleted"]


def test_a_changed_intake_hash_or_a_removed_row_is_named(
    db: Database, api: TestClient, api_tokens: Tokens, unguarded: None
) -> None:
    key = declare(api, api_tokens.jane)
    first = upload(api, api_tokens.jane, key, b"one", name="a.log")
    second = upload(api, api_tokens.jane, key, b"two", name="b.log")
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE evidence_items SET sha256 = :s WHERE id = :i"),
            {"s": "0" * 64, "i": first["id"]},
        )
        conn.execute(text("DELETE FROM evidence_items WHERE id = :i"), {"i": second["id"]})
    report = api.get(
        f"/api/v1/incidents/{key}/evidence/verify", headers=auth(api_tokens.jane)
    ).json()
    problems = report["problems"]
    assert any(p.startswith(f"E-{first['id']} (a.log): sha256 is '000") for p in problems), problems
    assert any(p.startswith(f"E-{second['id']} (b.log): removed") for p in problems), problems


def test_an_oversized_json_body_is_refused_without_reading_it_all(
    api: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane)

    def body() -> Iterator[bytes]:
        yield b'{"reason": "r", "text": "'
        for _ in range(100):
            yield b"a" * 100_000
        yield b'"}'

    r = api.post(
        f"/api/v1/incidents/{key}/evidence",
        content=body(),
        headers={**auth(api_tokens.jane), "Content-Type": "application/json"},
    )
    # JSON is held to the server-wide body limit before it is parsed (docs/robustness.md).
    assert r.status_code == 413 and r.json()["error"]["details"][0]["field"] == "body"
    assert blobs(locker) == []


def test_a_file_larger_than_the_body_limit_streams_past_the_guard(
    db: Database, config: WarroomConfig, clock: FakeClock, locker: Path, api_tokens: Tokens
) -> None:
    # Every other body is held to WARROOM_MAX_BODY_BYTES before it is parsed; a raw
    # upload to the locker is handed over unread, after the token is checked.
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False,
        evidence_key=KEY, evidence_dir=locker, max_body_bytes=64 * 1024,
    )  # fmt: skip
    ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
    with TestClient(create_app(ctx)) as api:
        key = declare(api, api_tokens.jane)
        data = os.urandom(300 * 1024)
        item = upload(api, api_tokens.jane, key, data)
        assert item["size"] == len(data)
        url = f"/api/v1/incidents/{key}/evidence"
        raw = {"Content-Type": "application/octet-stream"}
        assert api.post(url, content=data, headers=raw).status_code == 401
        bad = {**raw, "Authorization": "Bearer nope"}
        assert api.post(url, content=data, headers=bad).status_code == 401
        # The same size as JSON is refused before parsing.
        r = api.post(
            url, json={"reason": "r", "text": "a" * len(data)}, headers=auth(api_tokens.jane)
        )
        assert r.status_code == 413
        assert len(blobs(locker)) == 1
