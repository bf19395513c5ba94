"""server-side web sessions; repair stored impact and event details that no read can render

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-04 17:00:00

Impact used to take any extra field without a bound: a body nested hundreds of levels
deep was stored and every later read of its incident failed. This keeps, of each stored
impact, the flat entries (named like a field, holding a string, number, boolean, null or
a list of those) and drops the rest; event details are cut at eight levels. The rules are
written out here, not imported, so this revision means the same thing forever.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_MAX_ITEMS = 200
_MAX_LIST = 50
_MAX_TEXT = 4_000
_MAX_DEPTH = 8
_DROP = object()


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value[:_MAX_TEXT].replace("\x00", "")
        return text.encode("utf-8", "replace").decode("utf-8")
    return _DROP


def _impact(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if len(kept) >= _MAX_ITEMS:
            break
        if not isinstance(key, str) or not _KEY.match(key):
            continue
        if isinstance(item, list):
            items = [_scalar(i) for i in item[:_MAX_LIST]]
            if _DROP not in items:
                kept[key] = items
        elif (scalar := _scalar(item)) is not _DROP:
            kept[key] = scalar
    return kept


def _prune(node: Any, depth: int) -> Any:
    if isinstance(node, dict | list):
        if depth > _MAX_DEPTH:
            return "…"
        if isinstance(node, dict):
            return {str(k)[:256]: _prune(v, depth + 1) for k, v in list(node.items())[:_MAX_ITEMS]}
        return [_prune(v, depth + 1) for v in node[:_MAX_ITEMS]]
    scalar = _scalar(node)
    return None if scalar is _DROP else scalar


def _details(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    pruned = _prune(value, 1)
    return pruned if isinstance(pruned, dict) else {}


def _load(raw: Any) -> Any:
    if isinstance(raw, str | bytes):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return None
    return raw


def _repair(table: str, column: str, fix: Any) -> None:
    bind = op.get_bind()
    # Read the raw text: a document too deep for the JSON type's reader is repaired too.
    as_text = sa.cast(sa.column(column), sa.Text)
    rows: list[Any] = list(
        bind.execute(sa.select(sa.column("id"), as_text).select_from(sa.table(table)))
    )
    target = sa.table(table, sa.column("id"), sa.column(column, sa.JSON))
    for row_id, raw in rows:
        value = _load(raw)
        fixed = fix(value)
        if value == fixed and isinstance(value, dict):
            continue
        bind.execute(sa.update(target).where(target.c.id == row_id).values({column: fixed}))


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", warroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_web_sessions_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_sessions_session_hash")),
    )
    _repair("incidents", "impact", _impact)
    _repair("timeline_events", "details", _details)


def downgrade() -> None:
    op.drop_table("web_sessions")
