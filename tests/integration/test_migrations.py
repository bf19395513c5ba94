"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

import warroom.models  # noqa: F401
from warroom.db import Base, Database
from warroom.migrations import current, upgrade


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
