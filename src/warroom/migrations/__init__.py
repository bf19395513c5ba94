"""Alembic migrations, run programmatically (`warroom db upgrade`, or at start).

Alembic (with Mako, and every migration module once run) costs a server ~10 MB that it keeps
for its life, so a start whose database is already at the newest revision does not import it:
`at_head` reads the revisions from the migration files' `revision =` / `down_revision =` lines
and compares them with the database's `alembic_version`. Anything it cannot read plainly falls
back to Alembic, which is always right.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
# Any constant works; it only has to be the same in every warroom process.
_ADVISORY_LOCK = 0x5741_5252


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def script_heads(folder: Path = HERE / "versions") -> set[str] | None:
    """The newest revisions of the migration files, or None when a file is not plain."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in folder.glob("*.py"):
        found = dict(_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found["down_revision"])
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        downs = down if isinstance(down, tuple) else (down,)
        if not all(d is None or isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        parents.update(d for d in downs if d is not None)
    return (revisions - parents) or None


def at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision (read without importing Alembic)."""
    heads = script_heads()
    if heads is None:
        return False
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return set(rows) == heads


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema; concurrent starts on PostgreSQL take turns on an advisory lock."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Requests are bounded by WARROOM_DB_TIMEOUT; a migration may take longer.
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        rev: str | None = MigrationContext.configure(connection).get_current_revision()
        return rev
