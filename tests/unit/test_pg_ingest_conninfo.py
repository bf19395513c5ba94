"""The ingest writer's own PostgreSQL connection gives up on an unreachable server in
seconds (503 to the sender) unless the URL says otherwise."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from warroom.alerts.pg_ingest import PgBatchApplier


def _params(url: str) -> dict[str, object]:
    return conninfo_to_dict(PgBatchApplier(url)._conninfo)


def test_a_connect_timeout_by_default() -> None:
    params = _params("postgresql+psycopg://warroom:s3cret@db.internal:6432/warroom")
    assert params == {
        "user": "warroom",
        "password": "s3cret",
        "host": "db.internal",
        "port": "6432",
        "dbname": "warroom",
        "connect_timeout": "5",
    }


def test_the_url_s_connect_timeout_wins() -> None:
    params = _params("postgresql+psycopg://warroom@db.internal/warroom?connect_timeout=30")
    assert params["connect_timeout"] == "30"
