"""Evidence and breach clocks on the incident page: the same services as the API, CSRF on
every form, custody entries for downloads and verifications, only for those allowed."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.security.conftest import auth, blobs, declare
from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.context import AppContext


def login(client: TestClient, token: str) -> None:
    r = client.post("/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text


def csrf(client: TestClient, key: str) -> str:
    page = client.get(f"/incidents/{key}")
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text)
    assert match, page.text
    return match.group(1)


def upload(
    client: TestClient, key: str, data: bytes, *, token: str | None, reason: str = "triage",
    name: str = "auth.log",
) -> httpx.Response:  # fmt: skip
    fields = {"reason": reason}
    if token is not None:
        fields = {"csrf_token": token, **fields}
    return client.post(
        f"/incidents/{key}/evidence",
        data=fields,
        files={"file": (name, data, "text/plain")},
        follow_redirects=False,
    )


def custody(api: TestClient, token: str, key: str) -> list[dict[str, object]]:
    r = api.get(f"/api/v1/incidents/{key}/custody", headers=auth(token))
    assert r.status_code == 200, r.text
    return list(r.json())


@pytest.fixture
def web(sec_ctx: AppContext) -> Iterator[TestClient]:
    """A second client on the same application: a browser with its own cookie."""
    with TestClient(create_app(sec_ctx)) as c:
        yield c


def test_upload_list_download_and_verify_from_the_page(
    api: TestClient, web: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane, restricted=True)
    login(web, api_tokens.jane)
    token = csrf(web, key)
    data = os.urandom(200_000) + b"<script>alert(1)</script>"
    r = upload(web, key, data, token=token, name="dump<b>.pcap")
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/incidents/{key}#evidence-")
    sha = hashlib.sha256(data).hexdigest()
    listed = api.get(f"/api/v1/incidents/{key}/evidence", headers=auth(api_tokens.admin)).json()
    assert [(i["name"], i["sha256"], i["size"], i["reason"]) for i in listed] == [
        ("dump<b>.pcap", sha, len(data), "triage")
    ]
    page = web.get(f"/incidents/{key}").text
    assert sha in page and "dump&lt;b&gt;.pcap" in page and "dump<b>" not in page
    assert data not in blobs(locker)[0].read_bytes()  # encrypted at rest
    eid = listed[0]["id"]
    # A download needs a reason and the CSRF token; it is on the custody chain.
    r = web.post(f"/incidents/{key}/evidence/{eid}/download", data={"csrf_token": token})
    assert r.status_code == 422 and "reason" in r.text
    r = web.post(f"/incidents/{key}/evidence/{eid}/download", data={"reason": "analysis"})
    assert r.status_code == 403
    r = web.post(
        f"/incidents/{key}/evidence/{eid}/download",
        data={"csrf_token": token, "reason": "forensic analysis"},
    )
    assert r.status_code == 200 and r.content == data
    assert r.headers["x-evidence-sha256"] == sha
    r = web.post(f"/incidents/{key}/evidence-verification", data={"csrf_token": token})
    assert r.status_code == 200 and "Evidence verified: 1 item(s)" in r.text
    assert 'class="ok verified">intact' in r.text
    entries = custody(api, api_tokens.admin, key)
    assert [(e["action"], e["actor"], e["reason"]) for e in entries] == [
        ("add", "jane.smith", "triage"),
        ("download", "jane.smith", "forensic analysis"),
        ("verify", "jane.smith", "verification from the incident page"),
    ]


def test_verification_from_the_page_names_a_changed_file(
    api: TestClient, web: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane)
    login(web, api_tokens.jane)
    token = csrf(web, key)
    assert upload(web, key, b"x" * 100_000, token=token).status_code == 303
    blob = blobs(locker)[0]
    raw = bytearray(blob.read_bytes())
    raw[5000] ^= 0x01
    blob.write_bytes(bytes(raw))
    r = web.post(f"/incidents/{key}/evidence-verification", data={"csrf_token": token})
    assert "Evidence verification FAILED: E-1 (auth.log): content altered" in r.text
    assert 'class="flag verified">altered' in r.text


def test_uploads_are_refused_without_csrf_reason_or_room(
    sec_ctx: AppContext, api: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane)
    small = sec_ctx.config.model_copy(
        update={
            "security": sec_ctx.config.security.model_copy(
                update={
                    "evidence": sec_ctx.config.security.evidence.model_copy(
                        update={"max_bytes": 50_000}
                    )
                }
            )
        }
    )
    ctx = AppContext(settings=sec_ctx.settings, db=sec_ctx.db, config=small, clock=sec_ctx.clock)
    with TestClient(create_app(ctx)) as web:
        login(web, api_tokens.jane)
        token = csrf(web, key)
        assert upload(web, key, b"a" * 100, token=None).status_code == 403
        assert upload(web, key, b"a" * 100, token="0" * 64).status_code == 403
        r = upload(web, key, b"a" * 100, token=token, reason=" ")
        assert r.status_code == 422 and "say why this is evidence" in r.text
        r = upload(web, key, b"a" * 60_000, token=token)
        assert r.status_code == 413 and "50000 bytes" in r.text
        assert upload(web, key, b"a" * 100, token=token, name="").status_code == 422
        assert blobs(locker) == []  # nothing half-written stays
        listed = api.get(f"/api/v1/incidents/{key}/evidence", headers=auth(api_tokens.admin))
        assert listed.json() == []


def test_the_panel_and_its_forms_are_for_those_allowed(
    api: TestClient, web: TestClient, api_tokens: Tokens
) -> None:
    key = declare(api, api_tokens.jane)  # not restricted: bob sees the incident
    r = api.post(
        f"/api/v1/incidents/{key}/evidence",
        json={"text": "IOC 203.0.113.9", "reason": "triage", "name": "iocs"},
        headers=auth(api_tokens.jane),
    )
    assert r.status_code == 201
    login(web, api_tokens.bob)
    page = web.get(f"/incidents/{key}")
    assert page.status_code == 200
    assert 'id="evidence"' not in page.text and "iocs" not in page.text
    token = csrf(web, key)
    r = web.post(
        f"/incidents/{key}/evidence/1/download", data={"csrf_token": token, "reason": "curious"}
    )
    assert r.status_code == 403 and "IOC" not in r.text
    assert upload(web, key, b"x", token=token).status_code == 403
    r = web.post(f"/incidents/{key}/evidence-verification", data={"csrf_token": token})
    assert r.status_code == 403
    assert [e["action"] for e in custody(api, api_tokens.admin, key)] == ["add"]


def test_legal_hold_from_the_page_and_only_admins_release_it(
    api: TestClient, web: TestClient, api_tokens: Tokens
) -> None:
    key = declare(api, api_tokens.jane)
    login(web, api_tokens.jane)
    token = csrf(web, key)
    r = web.post(
        f"/incidents/{key}/legal-hold",
        data={"csrf_token": token, "reason": "litigation expected"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "litigation expected" in web.get(f"/incidents/{key}").text
    r = web.post(
        f"/incidents/{key}/legal-hold/release", data={"csrf_token": token, "reason": "done"}
    )
    assert r.status_code == 403
    with TestClient(api.app) as admin:
        login(admin, api_tokens.admin)
        r = admin.post(
            f"/incidents/{key}/legal-hold/release",
            data={"csrf_token": csrf(admin, key), "reason": "case settled"},
            follow_redirects=False,
        )
        assert r.status_code == 303
    actions = [e["action"] for e in custody(api, api_tokens.admin, key)]
    assert actions == ["hold", "release"]


def test_breach_clocks_on_the_page(
    api: TestClient, web: TestClient, api_tokens: Tokens, clock: FakeClock
) -> None:
    key = declare(api, api_tokens.jane)
    login(web, api_tokens.jane)
    token = csrf(web, key)
    aware = (clock.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    r = web.post(
        f"/incidents/{key}/breach",
        data={
            "csrf_token": token, "aware_at": aware, "regimes": ["gdpr"],
            "nature": "<script>alert(1)</script> credential stuffing",
            "data_categories": "email, password hashes", "approx_subjects": "1,200",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    page = web.get(f"/incidents/{key}").text
    assert "2d 22h 00m left" in page  # 72 hours from awareness, two of them gone
    assert "&lt;script&gt;alert(1)&lt;/script&gt; credential stuffing" in page
    assert "<script>alert(1)" not in page
    assert "approximately 1,200" in page  # the draft, filled from the form
    breach = api.get(f"/api/v1/incidents/{key}/breach", headers=auth(api_tokens.jane)).json()
    assert breach["details"]["data_categories"] == ["email", "password hashes"]
    clock.advance(hours=71)
    login(web, api_tokens.jane)  # the web session ended while idle
    token = csrf(web, key)
    page = web.get(f"/incidents/{key}").text
    assert "OVERDUE: overdue by 1h 00m" in page
    r = web.post(
        f"/incidents/{key}/breach/notifications",
        data={
            "csrf_token": token, "regime": "gdpr", "obligation": "authority",
            "reference": "DPA-2026-117",
        },
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303
    breach = api.get(f"/api/v1/incidents/{key}/breach", headers=auth(api_tokens.jane)).json()
    states = {c["obligation"]: (c["state"], c["notified_by"]) for c in breach["clocks"]}
    assert states["authority"] == ("notified_late", "jane.smith")
    assert states["data_subjects"] == ("overdue", None)
    assert "DPA-2026-117" in web.get(f"/incidents/{key}").text
    # Without the CSRF token nothing is recorded.
    r = web.post(
        f"/incidents/{key}/breach/notifications",
        data={"regime": "gdpr", "obligation": "data_subjects"},
    )
    assert r.status_code == 403
    breach = api.get(f"/api/v1/incidents/{key}/breach", headers=auth(api_tokens.jane)).json()
    assert {c["obligation"]: c["state"] for c in breach["clocks"]}["data_subjects"] == "overdue"
