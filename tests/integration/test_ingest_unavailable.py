"""Senders retry a 5xx and drop a 4xx: ingest answers 503 whenever it has not committed —
the database down, or the writer's queue full — stores nothing half-way, and recovers by
itself when the database is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from tests.conftest import PG_URL, Tokens, scratch_postgres_database
from tests.integration.test_alerts_ingest import AM_BODY, auth, make_integration, trigger
from warroom.alerts.ingest import BatchWriter
from warroom.alerts.models import Alert
from warroom.clock import FakeClock
from warroom.context import AppContext
from warroom.db import Database, normalise_url
from warroom.migrations import upgrade


def _occurrences(db: Database) -> int:
    with db.unit_of_work() as uow:
        return int(uow.session.scalar(select(func.coalesce(func.sum(Alert.occurrences), 0))))


@pytest.mark.postgres
class TestDatabaseDown:
    @pytest.fixture
    def db(self) -> Iterator[Database]:
        """A database of its own: the test takes it away from everyone."""
        if not PG_URL:
            pytest.skip("WARROOM_TEST_DATABASE_URL is not set; PostgreSQL tests need it")
        with scratch_postgres_database(PG_URL, "warroom_down") as url:
            database = Database(url)
            upgrade(database.engine)
            yield database
            database.dispose()

    @staticmethod
    def _allow_connections(db: Database, allowed: bool) -> None:
        admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
        name = db.engine.url.database
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
        admin.dispose()

    def test_503_while_down_then_202_again(
        self, client: TestClient, api_tokens: Tokens, db: Database
    ) -> None:
        pd_key = make_integration(client, api_tokens.admin, "pagerduty")["key"]
        am_key = make_integration(client, api_tokens.admin, "alertmanager")["key"]
        assert client.post("/v2/enqueue", json=trigger(pd_key)).status_code == 202
        assert _occurrences(db) == 1

        self._allow_connections(db, False)
        try:
            down = client.post("/v2/enqueue", json=trigger(pd_key))
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "1"
            assert down.json()["status"] == "unavailable"
            am = client.post(
                "/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(am_key)
            )
            assert am.status_code == 503, am.text
            assert am.json()["error"]["code"] == "unavailable"
            assert client.get("/readyz").status_code == 503
        finally:
            self._allow_connections(db, True)

        back = client.post("/v2/enqueue", json=trigger(pd_key))
        assert back.status_code == 202, back.text
        assert _occurrences(db) == 2  # the refused event was not stored


def test_a_full_queue_answers_503(
    client: TestClient, ctx: AppContext, api_tokens: Tokens, clock: FakeClock
) -> None:
    pd_key = make_integration(client, api_tokens.admin, "pagerduty")["key"]
    am_key = make_integration(client, api_tokens.admin, "alertmanager")["key"]
    client.app.state.ingest = BatchWriter(ctx.db, clock, max_queued_events=1)  # type: ignore[attr-defined]
    assert client.post("/v2/enqueue", json=trigger(pd_key)).status_code == 202
    # Two alerts do not fit in a queue of one: refused whole, nothing stored.
    assert len(AM_BODY["alerts"]) >= 2
    full = client.post("/api/v1/integrations/alertmanager", json=AM_BODY, headers=auth(am_key))
    assert full.status_code == 503, full.text
    assert full.headers["retry-after"] == "1"
    assert full.json()["error"]["message"] == "ingest queue is full"
    assert _occurrences(ctx.db) == 1
