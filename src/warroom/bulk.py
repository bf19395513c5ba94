"""Many rows in one INSERT whose text does not depend on how many (PostgreSQL).

SQLAlchemy sends an executemany as multi-row `VALUES` ("insertmanyvalues"): a new
statement text for every batch length, hundreds of placeholders long, which psycopg
parses in Python each time (it caches only short texts) and PostgreSQL plans each time.
In the engine's batches that parsing was a quarter of the CPU per timer. Here the rows
travel as one JSON parameter and PostgreSQL unpacks them:

    INSERT INTO t (a, b) SELECT a, b FROM ROWS FROM (json_to_recordset(CAST(:rows AS json))
        AS (a type, b type)) WITH ORDINALITY AS r(a, b, ord) ORDER BY ord
        [ON CONFLICT … DO NOTHING] [RETURNING …]

one short text per (table, columns, conflict, returning), cached by psycopg and prepared
by PostgreSQL after a few runs. Rows are inserted in the order given, so a serial id
column takes increasing values in that order (`ORDER BY ord`; the same reliance as
SQLAlchemy's own sorted insertmanyvalues). SQLite keeps the executemany: its statements
are parsed in C and its multi-row inserts are cheap.

Rows written here are not ORM objects, so the session's flush listeners (the audit log)
do not see them; a writer of audited rows tells `told_inserted`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import Session

_PG = PGDialect()  # type: ignore[no-untyped-call]
_STATEMENTS: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], Any] = {}
#: Each batch at most this many rows (one JSON document each).
CHUNK = 2_000


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} in a bulk insert")


def _pg_type(column: Column[Any]) -> str:
    impl = getattr(column.type, "impl", column.type)
    return str(impl.compile(dialect=_PG))


def _pg_statement(
    table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], returning: tuple[str, ...]
) -> Any:
    key = (table.name, columns, conflict, returning)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        quote = _PG.identifier_preparer.quote
        # Names of the table's own columns only (table.c raises on any other), quoted.
        names = ", ".join(quote(table.c[c].name) for c in columns)
        record = ", ".join(f"{quote(table.c[c].name)} {_pg_type(table.c[c])}" for c in columns)
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} "  # noqa: S608
            f"FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS ({record})) "
            f"WITH ORDINALITY AS r({names}, ord) ORDER BY ord"
        )
        if conflict:
            sql += (
                f" ON CONFLICT ({', '.join(quote(table.c[c].name) for c in conflict)}) DO NOTHING"
            )
        if returning:
            sql += f" RETURNING {', '.join(quote(table.c[c].name) for c in returning)}"
        stmt = text(sql)
        _STATEMENTS[key] = stmt
    return stmt


def insert_rows(
    target: Session | Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[Any]:
    """Insert `rows` (every row with the same keys) into `table`, skipping those that
    conflict on `conflict` when given; return the `returning` values of the rows written
    (one column: the values; several: row tuples), in no promised order."""
    if not rows:
        return []
    bind = target.get_bind() if isinstance(target, Session) else target
    dialect = bind.dialect.name
    columns = tuple(rows[0])
    out: list[Any] = []
    if dialect == "postgresql":
        stmt = _pg_statement(table, columns, tuple(conflict), tuple(returning))
        for start in range(0, len(rows), CHUNK):
            payload = json.dumps(list(rows[start : start + CHUNK]), default=_json_value)
            result = target.execute(stmt, {"rows": payload})
            if returning:
                out += result.scalars().all() if len(returning) == 1 else result.all()
        return out
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if returning:
        stmt = stmt.returning(*(table.c[c] for c in returning))
    for start in range(0, len(rows), 500):
        result = target.execute(stmt, list(rows[start : start + 500]))
        if returning:
            out += result.scalars().all() if len(returning) == 1 else result.all()
    return out


InsertListener = Callable[[Session, Table, list[dict[str, Any]]], None]
#: Who wants to hear of rows written with `insert_rows` rather than through the ORM
#: (the audit log registers here); each gets the rows with their ids.
INSERT_LISTENERS: list[InsertListener] = []


def told_inserted(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Tell the listeners that `rows` (with their `id`) were inserted in this session."""
    for listener in INSERT_LISTENERS:
        listener(session, table, rows)
