"""A read-only unit of work: on SQLite it begins deferred, so a long read (a metrics request,
a report, an export) no longer holds the write lock and blocks ingest and the engine; on
both databases it refuses to write."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError

from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.auth.models import ApiToken
from warroom.db import Database, ReadOnlyViolation

NOW = datetime(2024, 3, 15, 9, 30, tzinfo=UTC)


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """SQLite alone: PostgreSQL readers never held a write lock."""
    shutil.copy(sqlite_template, tmp_path / "warroom.db")
    database = Database(f"sqlite:///{tmp_path / 'warroom.db'}")
    yield database
    database.dispose()


def _count(db: Database) -> int:
    with db.unit_of_work(read_only=True) as uow:
        return uow.session.scalar(select(func.count()).select_from(ApiToken)) or 0


def _write_one(db: Database, name: str) -> None:
    with db.unit_of_work() as uow:
        tokens.create(uow.session, name=name, role=Role.VIEWER, user=None, now=NOW)
        uow.commit()


def test_sqlite_another_connection_writes_while_a_read_only_unit_is_open(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    writer = Database(db.url, timeout=0.3)  # a writer that gives up quickly
    try:
        with db.unit_of_work(read_only=True) as reader:
            before = reader.session.scalar(select(func.count()).select_from(ApiToken))
            _write_one(writer, "during-read")  # would wait, then fail, behind BEGIN IMMEDIATE
            # The reader keeps the snapshot it began with.
            assert reader.session.scalar(select(func.count()).select_from(ApiToken)) == before
        assert _count(db) == (before or 0) + 1
    finally:
        writer.dispose()


def test_sqlite_an_ordinary_unit_that_has_read_still_blocks_a_writer(sqlite_db: Database) -> None:
    """The contrast: what the read-only mode is for (and proof the test above can fail)."""
    db = sqlite_db
    writer = Database(db.url, timeout=0.3)
    try:
        with db.unit_of_work() as reader:
            reader.session.scalar(select(func.count()).select_from(ApiToken))
            with pytest.raises(DBAPIError, match="locked"):
                _write_one(writer, "during-write-lock")
    finally:
        writer.dispose()


def test_a_flush_in_a_read_only_unit_is_refused_naming_what(db: Database) -> None:
    with db.unit_of_work(read_only=True) as uow:
        assert uow.read_only
        with pytest.raises(ReadOnlyViolation, match=r"read-only unit of work.*ApiToken"):
            # create() flushes to learn the new row's id: the flush is refused.
            tokens.create(uow.session, name="refused", role=Role.VIEWER, user=None, now=NOW)
            uow.commit()
    assert _count(db) == 0


def test_a_statement_that_writes_is_refused_by_the_database(db: Database) -> None:
    row = {"name": "core", "role": "viewer", "token_hash": "h" * 64, "prefix": "wr_x",
           "created_at": NOW}  # fmt: skip
    with (
        db.unit_of_work(read_only=True) as uow,
        pytest.raises(DBAPIError, match=r"(?i)read.?only"),
    ):
        uow.session.execute(insert(ApiToken).values(**row))
    assert _count(db) == 0


def test_the_pooled_connection_writes_again_after_a_read_only_unit(db: Database) -> None:
    one = Database(db.url, pool_size=1, max_overflow=0)  # the same connection every time
    try:
        for name in ("first", "second"):
            assert _count(one) == (0 if name == "first" else 1)
            _write_one(one, name)
        assert _count(one) == 2
    finally:
        one.dispose()


def test_the_transaction_is_read_only_in_the_database_only_when_asked(db: Database) -> None:
    ask = "SHOW transaction_read_only" if db.dialect == "postgresql" else "PRAGMA query_only"
    expected = {True: ("on", 1), False: ("off", 0)}
    for read_only in (True, False, True):
        with db.unit_of_work(read_only=read_only) as uow:
            assert uow.read_only is read_only
            assert uow.session.connection().exec_driver_sql(ask).scalar() in expected[read_only]
