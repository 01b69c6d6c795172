"""The entity change feed, NGSI-LD subscriptions and their notification outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create entity_changes, subscriptions and notification_outbox."""
    op.create_table(
        "entity_changes",
        sa.Column("seq", PK, primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("attrs", JSON, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_entity_changes_at", "entity_changes", ["at"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("context", JSON, nullable=True),
        sa.Column("hidden_types", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("times_sent", sa.Integer(), nullable=False),
        sa.Column("last_notification", sa.BigInteger(), nullable=True),
        sa.Column("last_success", sa.BigInteger(), nullable=True),
        sa.Column("last_failure", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "notification_outbox",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_notification_outbox_due", "notification_outbox", ["next_attempt_at"])


def downgrade() -> None:
    """Drop the change feed, subscriptions and the outbox."""
    for table in ("notification_outbox", "subscriptions", "entity_changes"):
        op.drop_table(table)
