"""calendar feeds (secret subscription URLs) and engine beats (is an engine running?)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", warroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", warroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", warroom.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_calendar_feeds_secret_hash")),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_feeds_kind_target", ["kind", "target"], unique=False)

    op.create_table(
        "engine_beats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engine_beats")),
        sa.UniqueConstraint("owner", name=op.f("uq_engine_beats_owner")),
    )


def downgrade() -> None:
    op.drop_table("engine_beats")
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_feeds_kind_target")
    op.drop_table("calendar_feeds")
