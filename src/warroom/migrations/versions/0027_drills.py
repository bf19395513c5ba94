"""drills: scripted exercises, and the incidents they open (incidents.drill_id)

Revision ID: 0027
Revises: 0019
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0027"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("scenario", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("integration", sa.String(128), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("injected", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=True),
        sa.Column("started_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", warroom.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_drills_status", "drills", ["status"])
    # Not a foreign key (SQLite adds none to an existing table); drills are never deleted.
    op.add_column("incidents", sa.Column("drill_id", sa.Integer(), nullable=True))
    op.create_index("ix_incidents_drill_id", "incidents", ["drill_id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_drill_id", table_name="incidents")
    # Not batch mode: on SQLite that copies `incidents` and drops the original, which the
    # foreign keys of every table that references it refuse. SQLite >= 3.35 drops a plain
    # (unindexed, unconstrained) column in place, as PostgreSQL does.
    op.execute("ALTER TABLE incidents DROP COLUMN drill_id")
    op.drop_index("ix_drills_status", table_name="drills")
    op.drop_table("drills")
