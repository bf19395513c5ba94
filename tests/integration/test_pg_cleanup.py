"""The cleanup between PostgreSQL tests (`tests.conftest._truncate`) leaves what a freshly
migrated database has: no rows in any table, the append-only ones included, and ids that
start again from 1."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from tests.conftest import _truncate
from warroom.app import create_app
from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.context import AppContext
from warroom.db import Base, Database
from warroom.security.models import AuditEntry
from warroom.settings import Settings

pytestmark = pytest.mark.postgres


def _token(db: Database, clock: FakeClock) -> tuple[int, str]:
    with db.unit_of_work() as uow:
        row, secret = tokens.create(
            uow.session, name="admin", role=Role.ADMIN, user=None, now=clock.now()
        )
        uow.commit()
        return row.id, secret


def _declare(db: Database, config: WarroomConfig, clock: FakeClock, token: str) -> str:
    settings = Settings(database_url=db.url, auto_migrate=False, engine=False)
    ctx = AppContext(settings=settings, db=db, config=config, clock=clock)
    with TestClient(create_app(ctx)) as client:
        answer = client.post(
            "/api/v1/incidents",
            json={"title": "Checkout down", "severity": "SEV2"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["id"]
    return key


def test_the_cleanup_empties_every_table_and_restarts_every_id(
    pg_database: str, config: WarroomConfig, clock: FakeClock
) -> None:
    db = Database(pg_database)
    try:
        _truncate(db)
        _, token = _token(db, clock)
        first = _declare(db, config, clock, token)
        with db.engine.connect() as conn:
            # The append-only audit log (a trigger refuses DELETE) has rows to clean too.
            assert conn.scalar(select(func.count()).select_from(AuditEntry)) > 0

        _truncate(db)

        with db.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                count = conn.scalar(text(f'SELECT count(*) FROM "{table.name}"'))
                assert count == 0, table.name
        token_id, token = _token(db, clock)
        assert token_id == 1
        assert _declare(db, config, clock, token) == first
    finally:
        db.dispose()
