"""What the local commands share: settings, the database, configuration problems."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from warroom.db import Database
    from warroom.settings import Settings
from warroom.terminal.output import err, fail

# --- local: serve, db, token, config ----------------------------------------------------


def settings_from(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from warroom.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors():
            name = "WARROOM_" + ".".join(str(p) for p in problem["loc"]).upper()
            err.print(f"error: {name}: {escape(problem['msg'])}")
        raise typer.Exit(1) from None


def safe_url(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def note_database(settings: Settings, *, creating_is_normal: bool = False) -> None:
    """Say so when a command is about to create a new SQLite database, or when a
    `warroom.db` in the current directory is not the one in use."""
    path = settings.sqlite_path
    here = Path("warroom.db").absolute()
    if settings.uses_default_database and here.exists() and here != path:
        err.print(
            f"note: {here} is not used; the database is {path} "
            f"(WARROOM_DATABASE_URL=sqlite:///{here} uses the one here)",
            markup=False,
        )
    if path is not None and not path.exists() and not creating_is_normal:
        err.print(f"note: no database at {path} yet; creating it", markup=False)
    settings.ensure_data_dir()


@contextmanager
def database(settings: Settings, *, migrate: bool) -> Iterator[Database]:
    """The database, migrated to the latest schema when asked; failures exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from warroom.db import Database
    from warroom.errors import WarroomError
    from warroom.migrations import upgrade

    where = safe_url(settings.database_url)
    note_database(settings)
    try:
        db = Database(settings.database_url)
    except (SQLAlchemyError, ValueError) as exc:
        fail(f"cannot use the database {where}: {exc}")
    try:
        if migrate:
            upgrade(db.engine)
        yield db
    except WarroomError as exc:
        field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
        fail(f"{field}: {exc.message}" if field else exc.message)
    except SQLAlchemyError as exc:
        fail(f"database {where}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    finally:
        db.dispose()


def config_problems_exit(problems: Sequence[object]) -> NoReturn:
    for problem in problems:
        err.print(escape(str(problem)), soft_wrap=True)
    raise typer.Exit(1)
