"""Each incident's MTTx spans in seconds, as columns the database generates from the
timestamps (docs/reports.md, "How"): the metrics report reads numbers instead of parsing
timestamps, and the indexes over them give the percentiles their order without a sort.

A span is NULL when either timestamp is missing or the end precedes the start, the same
rule as `warroom.reports.logic.METRICS`. On SQLite the comparison is of the stored text,
which orders as time because every timestamp is written in one fixed-width format
(`YYYY-MM-DD HH:MM:SS.ffffff`, UTC: `warroom.db.UTCDateTime`); a span is never negative,
so `span >= 0` is `span IS NOT NULL`. The text of each expression is the one migration
0028 writes and the one each database shows back (so that the schema comparison of the
migration test holds); on SQLite the columns are VIRTUAL (computed on read, stored in
their indexes), on PostgreSQL STORED (generated columns there are always stored).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Float

_BEGIN = "coalesce(started_at, detected_at, declared_at)"

#: column name -> (start, end) of the span, as the metrics define them.
SPANS: dict[str, tuple[str, str]] = {
    "detect_seconds": ("started_at", "detected_at"),
    "acknowledge_seconds": ("declared_at", "acknowledged_at"),
    "mitigate_seconds": (_BEGIN, "mitigated_at"),
    "resolve_seconds": (_BEGIN, "resolved_at"),
}


def sqlite_sql(name: str) -> str:
    start, end = SPANS[name]
    return f"CASE WHEN {end} >= {start} THEN (julianday({end}) - julianday({start})) * 86400.0 END"


def postgresql_sql(name: str) -> str:
    # As pg_get_expr() prints it back: the comparison of the migration test is textual.
    start, end = SPANS[name]
    if start == _BEGIN:
        start = "COALESCE(started_at, detected_at, declared_at)"
    return (
        f"CASE WHEN ({end} >= {start}) "
        f"THEN date_part('epoch'::text, ({end} - {start})) "
        "ELSE NULL::double precision END"
    )


class SpanExpression(ColumnElement[float]):
    """The generated expression of one span column, written in each database's dialect."""

    type = Float()
    inherit_cache = True
    _traverse_internals = [("name", InternalTraversal.dp_string)]

    def __init__(self, name: str) -> None:
        self.name = name


@compiles(SpanExpression)
def _sqlite(element: SpanExpression, compiler: Any, **kw: Any) -> str:
    return sqlite_sql(element.name)


@compiles(SpanExpression, "postgresql")
def _postgresql(element: SpanExpression, compiler: Any, **kw: Any) -> str:
    return postgresql_sql(element.name)
