"""Shared fixtures: a fake clock, the example configuration, databases (SQLite always,
PostgreSQL when WARROOM_TEST_DATABASE_URL is set), and an API client with tokens.

With WARROOM_NO_SKIP=1 (CI sets it) a skipped test counts as a failure: in CI every part
of the suite must really run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from warroom.auth import service as tokens
from warroom.auth.logic import Role
from warroom.clock import FakeClock
from warroom.config.schema import WarroomConfig
from warroom.configuration import load_config
from warroom.db import Base, Database, normalise_url
from warroom.migrations import upgrade

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PG_URL = os.environ.get("WARROOM_TEST_DATABASE_URL")
NO_SKIP = os.environ.get("WARROOM_NO_SKIP") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under WARROOM_NO_SKIP=1: {report.longrepr}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`), the browser tests share one worker: never two
    Chromiums at once, each beside at most one other test."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 3, 15, 9, 30, tzinfo=UTC))


@pytest.fixture(scope="session")
def config() -> WarroomConfig:
    return load_config(EXAMPLES)


# --- databases --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@contextmanager
def scratch_postgres_database(admin_url: str, prefix: str = "warroom_test") -> Iterator[str]:
    """A new, empty database on the server of `admin_url`, dropped (connections and all)
    at the end."""
    admin = make_url(normalise_url(admin_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A commit then returns before its WAL reaches the disk (0.2 ms instead of ~5 ms
            # on this machine). What a test sees is unchanged — visibility, locking and
            # isolation are the same; only a crash of the PostgreSQL server itself could
            # lose the last commits, and no test crashes the shared server.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database for this run, migrated once and dropped at the end."""
    if not PG_URL:
        pytest.skip("WARROOM_TEST_DATABASE_URL is not set; PostgreSQL tests need it")
    with scratch_postgres_database(PG_URL) as url:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url


def _truncate(db: Database) -> None:
    """Empty every table and restart every sequence a test used, as `TRUNCATE … RESTART
    IDENTITY CASCADE` of all tables did — but only where there is something to undo.

    TRUNCATE gives each table a new file: emptying all ~45 tables took 13 to 35 ms a test
    on a quiet machine and 0.2 to 1 s with a busy disk, though most tests fill a handful.
    One query finds the tables that hold rows; the append-only ones among them (a
    trigger refuses DELETE) are truncated, the rest emptied with DELETE, children first;
    then every sequence that has handed out a value restarts. tests/integration/
    test_pg_cleanup.py checks the result.
    """
    tables = Base.metadata.sorted_tables
    probe = " UNION ALL ".join(
        f'SELECT {i} WHERE EXISTS (SELECT FROM "{t.name}")' for i, t in enumerate(tables)
    )
    with db.engine.begin() as conn:
        filled = {tables[i].name for (i,) in conn.execute(text(probe))}
        guarded = set(
            conn.execute(
                text(
                    "SELECT DISTINCT c.relname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
                )
            ).scalars()
        )
        if filled & guarded:
            names = ", ".join(f'"{name}"' for name in sorted(filled & guarded))
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        for table in reversed(tables):
            if table.name in filled - guarded:
                conn.execute(text(f'DELETE FROM "{table.name}"'))
        conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                "FROM pg_sequences WHERE schemaname = current_schema() "
                "AND last_value IS NOT NULL"
            )
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "warroom.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(request.getfixturevalue("pg_database"))
        _truncate(database)
    yield database
    database.dispose()


# --- API client -------------------------------------------------------------------------


@dataclass
class Tokens:
    admin: str
    responder: str
    viewer: str
    # Users from the example configuration, for restricted-incident tests.
    jane: str
    bob: str


@pytest.fixture
def api_tokens(db: Database, clock: FakeClock) -> Tokens:
    made: dict[str, str] = {}
    with db.unit_of_work() as uow:
        for name, role, user in (
            ("admin", Role.ADMIN, None),
            ("responder", Role.RESPONDER, None),
            ("viewer", Role.VIEWER, None),
            ("jane", Role.RESPONDER, "jane.smith"),
            ("bob", Role.RESPONDER, "bob.wilson"),
        ):
            _, made[name] = tokens.create(
                uow.session, name=name, role=role, user=user, now=clock.now()
            )
        uow.commit()
    return Tokens(**made)
