"""Dialect arithmetic shared by the metrics queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, cast, func, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

#: PostgreSQL's memory for the metrics' sorts: 100,000 values sort in memory rather than
#: in temporary files (the default 4 MB spills). Set for the transaction only.
WORK_MEM = "32MB"


def seconds(session: Session, end: Any, start: Any) -> ColumnElement[float]:
    """Return `end - start` in seconds, in the database's own arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def epoch(dialect: str, moment: Any) -> ColumnElement[float]:
    """Return a timestamp as a float of seconds (on SQLite from the Julian epoch: only
    differences mean anything)."""
    if dialect == "postgresql":
        # date_part gives float8 directly; extract() gives numeric, slower to compute.
        return func.date_part("epoch", moment)
    return func.julianday(moment) * 86400.0


#: The Unix epoch as a Julian day: SQLite's julianday() of 1970-01-01 00:00 UTC.
_UNIX_JULIAN_DAY = 2440587.5


def epoch_of(dialect: str, moment: datetime) -> float:
    """Return `moment` in seconds on the scale `epoch` gives in SQL."""
    if dialect == "postgresql":
        return moment.timestamp()
    return moment.timestamp() + _UNIX_JULIAN_DAY * 86400.0


def prepare(session: Session) -> None:
    """Give the transaction what the metrics statements need (PostgreSQL: sort memory)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
