"""SQLite: the checkpointer copies the WAL into the database file from its own thread, so
that commits find little or nothing left to checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from warroom.db import Database, WalCheckpointer


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _write_2mb(db: Database) -> None:
    # 2 MB: about 500 pages, half of the 1,000 at which a commit would checkpoint itself.
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "x" * 4096}] * 512)


@pytest.mark.parametrize("running", [True, False])
def test_pages_reach_the_database_file_without_a_commit_checkpointing(
    tmp_path: Path, running: bool
) -> None:
    path = tmp_path / "w.db"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
    checkpointer = WalCheckpointer(db, interval=0.05)
    assert checkpointer.applies
    if running:
        checkpointer.start()
    try:
        before = _size(path)
        _write_2mb(db)
        deadline = time.monotonic() + (5 if running else 1)
        while _size(path) < before + 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Only the thread can have copied them: no commit reached the threshold.
        assert (_size(path) >= before + 2_000_000) is running
    finally:
        checkpointer.stop()
        db.dispose()


def test_connections_opened_while_it_runs_bound_the_wal(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    checkpointer = WalCheckpointer(db)
    checkpointer.start()
    try:
        with db.engine.connect() as conn:
            limit = conn.exec_driver_sql("PRAGMA journal_size_limit").scalar()
            assert limit == WalCheckpointer.WAL_LIMIT
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        checkpointer.stop()
    db.engine.dispose()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == -1
    db.dispose()


def test_an_in_memory_database_is_left_alone() -> None:
    assert not WalCheckpointer(Database("sqlite://")).applies
