"""The citizen domain: service catalogue, reports, photos, updates, notifications, follows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the citizen_* tables."""
    op.create_table(
        "citizen_services",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name_vi", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("description_vi", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("group_name", sa.Text(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("ward_departments", JSON, nullable=False),
        sa.Column("sla_days", sa.Integer(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("linked_type", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "citizen_requests",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("service_code", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("public_description", sa.Text(), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("ward", sa.Text(), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("assignee", sa.Text(), nullable=True),
        sa.Column("reporter_id", sa.BigInteger(), nullable=True),
        sa.Column("contact", JSON, nullable=True),
        sa.Column("device_id", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.BigInteger(), nullable=True),
        sa.Column("linked_entity", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_citizen_requests_dept_state", "citizen_requests", ["department", "state"])
    op.create_index("ix_citizen_requests_requested", "citizen_requests", ["requested_at"])
    op.create_index("ix_citizen_requests_reporter", "citizen_requests", ["reporter_id"])
    op.create_table(
        "citizen_media",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["citizen_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_citizen_media_request", "citizen_media", ["request_id"])
    op.create_table(
        "citizen_updates",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["citizen_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_citizen_updates_request", "citizen_updates", ["request_id", "at"])
    op.create_index("ix_citizen_updates_at", "citizen_updates", ["at"])
    op.create_table(
        "citizen_notifications",
        sa.Column("id", BIG_PK, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("text_vi", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_citizen_notifications_user", "citizen_notifications", ["user_id", "id"])
    op.create_table(
        "citizen_follows",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "user_id"),
    )


def downgrade() -> None:
    """Drop the citizen_* tables."""
    for table in (
        "citizen_follows",
        "citizen_notifications",
        "citizen_updates",
        "citizen_media",
        "citizen_requests",
        "citizen_services",
    ):
        op.drop_table(table)
