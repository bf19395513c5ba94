"""alerts: leave room in each page for updates (PostgreSQL)

Every repeat of an open alert updates its row. With full pages the new row version lands on
another page, and each of the table's indexes gets a new entry too; with room left on the
page, PostgreSQL updates in place ("HOT"): no index entries, less WAL, no index bloat.
Applies to pages written from now on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 13:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts RESET (fillfactor)")
