"""status page: components, their status history, public incidents, updates, subscribers

Revision ID: 0012
Revises: 0014
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import warroom.db

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None

UTC = warroom.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "status_components",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group_name", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_components")),
        sa.UniqueConstraint("name", name=op.f("uq_status_components_name")),
    )
    op.create_table(
        "status_component_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("component_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["component_id"],
            ["status_components.id"],
            name=op.f("fk_status_component_changes_component_id_status_components"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_component_changes")),
    )
    with op.batch_alter_table("status_component_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_component_changes_component_id"), ["component_id"], unique=False
        )
    op.create_table(
        "status_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("impact", sa.String(length=16), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_status_incidents_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incidents")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_status_incidents_incident_id")),
    )
    with op.batch_alter_table("status_incidents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_incidents_updated_at"), ["updated_at"], unique=False
        )
    op.create_table(
        "status_incident_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_incident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["public_incident_id"],
            ["status_incidents.id"],
            name=op.f("fk_status_incident_updates_public_incident_id_status_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_incident_updates")),
    )
    with op.batch_alter_table("status_incident_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_incident_updates_public_incident_id"),
            ["public_incident_id"],
            unique=False,
        )
    op.create_table(
        "status_page_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_page_state")),
    )
    op.create_table(
        "status_subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("confirmed_at", UTC, nullable=True),
        sa.Column("unsubscribed_at", UTC, nullable=True),
        sa.Column("confirmations_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_subscribers")),
        sa.UniqueConstraint("token", name=op.f("uq_status_subscribers_token")),
    )
    with op.batch_alter_table("status_subscribers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_status_subscribers_kind_address", ["kind", "address"], unique=False
        )
    op.create_table(
        "status_maintenances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.Column("window_ids", sa.JSON(), nullable=False),
        sa.Column("scheduled_for", UTC, nullable=False),
        sa.Column("scheduled_until", UTC, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto_transition", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_maintenances")),
    )
    with op.batch_alter_table("status_maintenances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_maintenances_scheduled_until"), ["scheduled_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("status_maintenances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_maintenances_scheduled_until"))
    op.drop_table("status_maintenances")
    with op.batch_alter_table("status_subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_status_subscribers_kind_address")
    op.drop_table("status_subscribers")
    op.drop_table("status_page_state")
    with op.batch_alter_table("status_incident_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_incident_updates_public_incident_id"))
    op.drop_table("status_incident_updates")
    with op.batch_alter_table("status_incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_incidents_updated_at"))
    op.drop_table("status_incidents")
    with op.batch_alter_table("status_component_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_component_changes_component_id"))
    op.drop_table("status_component_changes")
    op.drop_table("status_components")
