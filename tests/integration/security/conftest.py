"""Fixtures and helpers of the security tests: a server with the evidence locker on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from warroom.app import create_app
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Database
from warroom.settings import Settings

KEY = "k" * 20 + "-evidence-key-for-tests"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def locker(tmp_path: Path) -> Path:
    return tmp_path / "locker"


@pytest.fixture
def sec_ctx(db: Database, config: WarroomConfig, clock: FakeClock, locker: Path) -> AppContext:
    settings = Settings(
        database_url=db.url, auto_migrate=False, engine=False,
        evidence_key=KEY, evidence_dir=locker,
    )  # fmt: skip
    return AppContext(settings=settings, db=db, config=config, clock=clock)


@pytest.fixture
def api(sec_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(sec_ctx)) as c:
        yield c


def declare(api: TestClient, token: str, *, restricted: bool = False) -> str:
    r = api.post(
        "/api/v1/incidents",
        json={"title": "Credential stuffing", "severity": "SEV1", "restricted": restricted},
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def upload(api: TestClient, token: str, key: str, data: bytes, **params: str) -> dict[str, object]:
    r = api.post(
        f"/api/v1/incidents/{key}/evidence",
        params={"name": "auth.log", "reason": "collected before isolation", **params},
        content=data,
        headers={**auth(token), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def blobs(locker: Path) -> list[Path]:
    return [p for p in locker.rglob("*") if p.is_file()]


GUARDED = ("evidence_items", "custody_entries", "audit_log")


def _drop_guards(db: Database) -> None:
    """What an attacker with database access does first: remove the append-only triggers."""
    with db.engine.begin() as conn:
        for table in GUARDED:
            if db.dialect == "postgresql":
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
            else:
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))


@pytest.fixture
def unguarded(db: Database) -> Iterator[None]:
    """Drop the triggers for a tamper test; put them back (PostgreSQL's database is shared)."""
    _drop_guards(db)
    yield
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            for table in GUARDED:
                conn.execute(
                    text(
                        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                        "FOR EACH ROW EXECUTE FUNCTION warroom_append_only()"
                    )
                )
