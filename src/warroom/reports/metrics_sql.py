"""Dialect arithmetic shared by the metrics queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def seconds(session: Session, end: Any, start: Any) -> ColumnElement[float]:
    """Return `end - start` in seconds, in the database's own arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
