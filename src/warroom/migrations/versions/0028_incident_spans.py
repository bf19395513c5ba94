"""incident spans: the MTTx spans in seconds as generated columns, indexed for the metrics

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 00:00:00

On SQLite the columns are VIRTUAL (ALTER TABLE cannot add a STORED one; the indexes hold
the values), on PostgreSQL STORED (the only kind there; adding them rewrites the table).
Both are computed by the database from the timestamps, so no backfill and no write path
has to keep them. The expressions are those of warroom.incidents.spans at this revision.
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_BEGIN = "coalesce(started_at, detected_at, declared_at)"
_SPANS = {
    "detect_seconds": ("started_at", "detected_at"),
    "acknowledge_seconds": ("declared_at", "acknowledged_at"),
    "mitigate_seconds": (_BEGIN, "mitigated_at"),
    "resolve_seconds": (_BEGIN, "resolved_at"),
}


def _expression(dialect: str, start: str, end: str) -> str:
    if dialect == "postgresql":
        return (
            f"CASE WHEN ({end} >= {start}) THEN date_part('epoch'::text, ({end} - {start})) "
            "ELSE NULL::double precision END"
        )
    return f"CASE WHEN {end} >= {start} THEN (julianday({end}) - julianday({start})) * 86400.0 END"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    kind = "STORED" if dialect == "postgresql" else "VIRTUAL"
    for name, (start, end) in _SPANS.items():
        op.execute(
            f"ALTER TABLE incidents ADD COLUMN {name} FLOAT "
            f"GENERATED ALWAYS AS ({_expression(dialect, start, end)}) {kind}"
        )
        op.create_index(
            f"ix_incidents_{name}", "incidents", [name, "drill_id", "restricted", "declared_at"]
        )


def downgrade() -> None:
    for name in _SPANS:
        op.drop_index(f"ix_incidents_{name}", table_name="incidents")
        # In place on both (SQLite >= 3.35), not batch mode: see 0027.
        op.execute(f"ALTER TABLE incidents DROP COLUMN {name}")
