"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

import warroom.models  # noqa: F401
from tests.conftest import EXAMPLES
from warroom.auth.logic import Principal, Role
from warroom.configuration import load_config
from warroom.db import Base, Database
from warroom.migrations import alembic_config, current, upgrade
from warroom.reports import importer


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent_and_reaches_head(db: Database) -> None:
    upgrade(db.engine)
    assert current(db.engine) is not None


def test_the_heads_read_from_the_files_are_alembics(db: Database) -> None:
    from alembic.script import ScriptDirectory

    from warroom.migrations import alembic_config, script_heads

    assert script_heads() == set(ScriptDirectory.from_config(alembic_config(db.engine)).get_heads())


def test_at_head_is_true_only_at_the_newest_revision(db: Database, tmp_path: Path) -> None:
    from warroom.migrations import at_head

    assert at_head(db.engine)  # the fixture's database is migrated
    head = current(db.engine)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        assert not at_head(db.engine)
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert not at_head(empty.engine)  # no alembic_version table at all
    finally:
        empty.dispose()


def test_script_heads_gives_up_on_a_file_it_cannot_read(tmp_path: Path) -> None:
    from warroom.migrations import script_heads

    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    assert script_heads(tmp_path) == {"0002"}
    (tmp_path / "0003_c.py").write_text('revision = make_id()\ndown_revision = "0002"\n')
    assert script_heads(tmp_path) is None


def test_the_spans_revision_downgrades_and_upgrades_again_keeping_the_incidents(
    db: Database,
) -> None:
    # 0028 adds generated columns in place (no table copy): the rows stay, and the spans
    # are computed again from their timestamps on the way back up.
    declared = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    record = {
        "external_id": "spans-1",
        "title": "Imported",
        "severity": "SEV2",
        "declared_at": declared.isoformat(),
        "resolved_at": (declared + timedelta(minutes=30)).isoformat(),
    }
    with db.unit_of_work() as uow:
        importer.import_incidents(
            uow.session,
            config=load_config(EXAMPLES),
            records=[record],
            actor=Principal(name="admin", role=Role.ADMIN),
            now=declared + timedelta(days=1),
        )
        uow.commit()
    cfg = alembic_config(db.engine)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0027")
    columns = {c["name"] for c in inspect(db.engine).get_columns("incidents")}
    assert "resolve_seconds" not in columns
    assert "declared_at" in columns
    upgrade(db.engine)
    assert current(db.engine) == "0028"
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT title, resolve_seconds FROM incidents")).all()
    assert [(title, round(seconds, 3)) for title, seconds in rows] == [("Imported", 1800.0)]
