"""imported_incidents: external ids of imported history

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_incidents",
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column(
            "incident_id",
            sa.Integer(),
            sa.ForeignKey("incidents.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("imported_at", warroom.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("imported_incidents")
