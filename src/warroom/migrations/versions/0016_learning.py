"""runbook checklists, approvals and IC handoffs

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-04 18:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0016"
# For testing on top of main's current head (0018); the integrator rechains migrations
# linearly at merge time.
down_revision = "0012"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, warroom.db.UTCDateTime(timezone=True), nullable=nullable)


def _incident(table: str) -> list[Any]:
    return [
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f(f"fk_{table}_incident_id_incidents"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "checklist_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        *_incident("checklist_steps"),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("runbook", sa.String(length=128), nullable=False),
        sa.Column("matched_by", sa.String(length=255), nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("requires_approval", sa.String(length=200), nullable=True),
        sa.Column("sla", sa.String(length=128), nullable=True),
        _when("due_at"),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done_by", sa.String(length=128), nullable=True),
        _when("done_at"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checklist_steps")),
        sa.UniqueConstraint("incident_id", "key", name="uq_checklist_steps_key"),
    )
    op.create_index("ix_checklist_steps_incident", "checklist_steps", ["incident_id", "position"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        *_incident("approvals"),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        _when("requested_at", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        _when("decided_at"),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_incident_id"), "approvals", ["incident_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        *_incident("handoffs"),
        sa.Column("from_user", sa.String(length=64), nullable=True),
        sa.Column("to_user", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("confirmed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_incident_id"), "handoffs", ["incident_id"])


def downgrade() -> None:
    op.drop_table("handoffs")
    op.drop_table("approvals")
    op.drop_table("checklist_steps")
