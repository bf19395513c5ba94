"""`warroom evidence …` against a real server on loopback: add, list, get, verify."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Tokens
from tests.integration.security.conftest import KEY, blobs
from tests.integration.served import run, serving
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings


@pytest.fixture
def server(db: Database, config: WarroomConfig, clock: FakeClock, tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False,
        evidence_key=KEY, evidence_dir=tmp_path / "locker",
    )  # fmt: skip
    ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
    with serving(ctx) as url:
        yield url


def test_add_list_get_verify_from_the_command_line(
    server: str, api_tokens: Tokens, tmp_path: Path
) -> None:
    r = httpx.post(
        f"{server}/api/v1/incidents",
        json={"title": "Exfiltration", "severity": "SEV1"},
        headers={"Authorization": f"Bearer {api_tokens.jane}"},
    )
    key = r.json()["id"]
    source = tmp_path / "dump.pcap"
    source.write_bytes(os.urandom(300_000))
    code, stdout, stderr = run(
        server, api_tokens.jane, "evidence", "add", key, str(source), "--reason", "capture"
    )
    assert code == 0, stderr
    assert hashlib.sha256(source.read_bytes()).hexdigest() in stdout
    code, stdout, _ = run(server, api_tokens.jane, "evidence", "list", key)
    assert code == 0 and "dump.pcap" in stdout
    target = tmp_path / "copy.pcap"
    code, stdout, stderr = run(
        server, api_tokens.jane, "evidence", "get", key, "E-1", "-o", str(target), "-r", "review"
    )
    assert code == 0, stderr
    assert target.read_bytes() == source.read_bytes()
    code, stdout, _ = run(server, api_tokens.jane, "evidence", "verify", key)
    assert code == 0 and "intact" in stdout
    code, stdout, _ = run(server, api_tokens.jane, "evidence", "custody", key)
    assert code == 0 and "download" in stdout and "review" in stdout
    # Missing reason is bad usage; an outsider is refused with the reason on stderr.
    assert run(server, api_tokens.jane, "evidence", "add", key, str(source))[0] == 2
    code, _, stderr = run(server, api_tokens.bob, "evidence", "list", key)
    assert code == 1 and "forbidden" in stderr


def test_verify_exits_1_and_names_a_tampered_file(
    server: str, api_tokens: Tokens, tmp_path: Path
) -> None:
    r = httpx.post(
        f"{server}/api/v1/incidents",
        json={"title": "Exfiltration", "severity": "SEV1"},
        headers={"Authorization": f"Bearer {api_tokens.jane}"},
    )
    key = r.json()["id"]
    code, _, stderr = run(
        server, api_tokens.jane, "evidence", "add", key, "--text", "IOC list", "-r", "triage"
    )
    assert code == 0, stderr
    [blob] = blobs(tmp_path / "locker")
    raw = bytearray(blob.read_bytes())
    raw[-1] ^= 0xFF
    blob.write_bytes(bytes(raw))
    code, _, stderr = run(server, api_tokens.jane, "evidence", "verify", key)
    assert code == 1 and "TAMPERED E-1 (note.txt)" in stderr


def test_breach_mark_show_notified_draft(server: str, api_tokens: Tokens, clock: FakeClock) -> None:
    r = httpx.post(
        f"{server}/api/v1/incidents",
        json={"title": "Leaked backups", "severity": "SEV1"},
        headers={"Authorization": f"Bearer {api_tokens.jane}"},
    )
    key = r.json()["id"]
    aware = clock.now().isoformat()
    code, stdout, stderr = run(
        server, api_tokens.jane, "breach", "mark", key, "--aware-at", aware,
        "--nature", "S3 bucket public",
    )  # fmt: skip
    assert code == 0, stderr
    assert "supervisory authority" in stdout and "72h 00m" in stdout and "running" in stdout
    code, stdout, stderr = run(
        server, api_tokens.jane, "breach", "notified", key, "gdpr", "authority",
        "--reference", "DPA-2024-17",
    )  # fmt: skip
    assert code == 0, stderr
    assert "notified" in stdout and "jane.smith" in stdout
    code, stdout, _ = run(server, api_tokens.jane, "breach", "draft", key, "gdpr", "authority")
    assert code == 0 and "S3 bucket public" in stdout
    code, _, stderr = run(server, api_tokens.jane, "breach", "notified", key, "gdpr", "nope")
    assert code == 1 and "obligation" in stderr


def test_hold_release_purge_from_the_command_line(
    server: str, api_tokens: Tokens, tmp_path: Path
) -> None:
    r = httpx.post(
        f"{server}/api/v1/incidents",
        json={"title": "Insider", "severity": "SEV2"},
        headers={"Authorization": f"Bearer {api_tokens.jane}"},
    )
    key = r.json()["id"]
    assert run(server, api_tokens.jane, "evidence", "add", key, "--text", "t", "-r", "r")[0] == 0
    code, stdout, stderr = run(server, api_tokens.jane, "evidence", "hold", key, "-r", "lawsuit")
    assert code == 0 and "legal hold" in stdout, stderr
    code, _, stderr = run(server, api_tokens.admin, "evidence", "purge", key, "E-1", "-r", "x")
    assert code == 1 and "legal hold" in stderr
    code, stdout, stderr = run(
        server, api_tokens.admin, "evidence", "release", key, "-r", "settled"
    )
    assert code == 0 and "released" in stdout, stderr
    code, stdout, stderr = run(server, api_tokens.admin, "evidence", "purge", key, "E-1", "-r", "x")
    assert code == 0 and "purged" in stdout, stderr
    assert blobs(tmp_path / "locker") == []
