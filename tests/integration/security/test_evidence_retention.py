"""Legal hold blocks purging, by hand and by retention; a purge keeps the record."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.integration.security.conftest import auth, blobs, declare, upload
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.security.retention import retention_job


def test_a_hold_blocks_a_purge_and_a_purge_keeps_the_record(
    api: TestClient, api_tokens: Tokens, locker: Path
) -> None:
    key = declare(api, api_tokens.jane)
    item = upload(api, api_tokens.jane, key, b"firewall export")
    hold = api.put(
        f"/api/v1/incidents/{key}/legal-hold",
        json={"reason": "litigation expected"},
        headers=auth(api_tokens.jane),
    )
    assert hold.status_code == 200, hold.text
    url = f"/api/v1/incidents/{key}/evidence/{item['id']}"
    r = api.delete(url, params={"reason": "tidy up"}, headers=auth(api_tokens.admin))
    assert r.status_code == 409 and "legal hold" in r.json()["error"]["message"]
    assert len(blobs(locker)) == 1
    # Only an admin releases it; then the purge goes through.
    release = f"/api/v1/incidents/{key}/legal-hold"
    assert (
        api.delete(release, params={"reason": "x"}, headers=auth(api_tokens.jane)).status_code
        == 403
    )
    assert (
        api.delete(
            release, params={"reason": "case closed"}, headers=auth(api_tokens.admin)
        ).status_code
        == 200
    )
    r = api.delete(url, params={"reason": "no longer needed"}, headers=auth(api_tokens.admin))
    assert r.status_code == 200 and r.json()["purged_at"] is not None
    assert blobs(locker) == []
    listed = api.get(f"/api/v1/incidents/{key}/evidence", headers=auth(api_tokens.jane)).json()
    assert listed[0]["sha256"] == item["sha256"] and listed[0]["purged_at"]
    content = api.get(f"{url}/content", params={"reason": "r"}, headers=auth(api_tokens.jane))
    assert content.status_code == 409
    report = api.get(f"/api/v1/incidents/{key}/evidence/verify", headers=auth(api_tokens.jane))
    assert report.json()["ok"] is True, report.text
    actions = [
        e["action"]
        for e in api.get(f"/api/v1/incidents/{key}/custody", headers=auth(api_tokens.jane)).json()
    ]
    assert actions[:5] == ["add", "hold", "release", "purge", "verify"]


def test_retention_purges_closed_incidents_unless_held(
    sec_ctx: AppContext, api: TestClient, api_tokens: Tokens, clock: FakeClock, locker: Path
) -> None:
    policy = sec_ctx.config.security.evidence.model_copy(update={"retention": timedelta(days=30)})
    sec_ctx.config = sec_ctx.config.model_copy(
        update={"security": sec_ctx.config.security.model_copy(update={"evidence": policy})}
    )
    kept, purged = declare(api, api_tokens.jane), declare(api, api_tokens.jane)
    upload(api, api_tokens.jane, kept, b"kept content")
    upload(api, api_tokens.jane, purged, b"purged content")
    api.put(f"/api/v1/incidents/{kept}/legal-hold", json={"reason": "regulator inquiry"},
            headers=auth(api_tokens.jane))  # fmt: skip
    for key in (kept, purged):
        for status in ("resolved", "closed"):
            r = api.post(f"/api/v1/incidents/{key}/status", json={"status": status},
                         headers=auth(api_tokens.jane))  # fmt: skip
            assert r.status_code == 200, r.text
    clock.advance(days=29)
    retention_job(sec_ctx)
    assert len(blobs(locker)) == 2
    clock.advance(days=2)
    retention_job(sec_ctx)
    assert len(blobs(locker)) == 1
    held = api.get(f"/api/v1/incidents/{kept}/evidence", headers=auth(api_tokens.jane)).json()
    gone = api.get(f"/api/v1/incidents/{purged}/evidence", headers=auth(api_tokens.jane)).json()
    assert held[0]["purged_at"] is None and gone[0]["purged_at"] is not None
    custody = api.get(f"/api/v1/incidents/{purged}/custody", headers=auth(api_tokens.jane)).json()
    assert custody[-1]["actor"] == "warroom (retention)"
    assert custody[-1]["reason"] == "retention: 30 days after closing"
