"""Device ingestion: IoT service groups, devices, commands and dead letters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create iot_groups, iot_devices, iot_commands and dead_letters."""
    op.create_table(
        "iot_groups",
        sa.Column("apikey", sa.Text(), primary_key=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("commands", JSON, nullable=False),
        sa.Column("static_attributes", JSON, nullable=False),
        sa.Column("explicit_attrs", sa.Boolean(), nullable=False),
        sa.Column("expected_interval_s", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "iot_devices",
        sa.Column("device_id", sa.Text(), primary_key=True),
        sa.Column("apikey", sa.Text(), nullable=False),
        sa.Column("entity_name", sa.Text(), nullable=False),
        sa.Column("entity_type", sa.Text(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("commands", JSON, nullable=False),
        sa.Column("static_attributes", JSON, nullable=False),
        sa.Column("explicit_attrs", sa.Boolean(), nullable=False),
        sa.Column("expected_interval_s", sa.Integer(), nullable=True),
        sa.Column("location", JSON, nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.Column("rssi", sa.Float(), nullable=True),
        sa.Column("mirrored_us", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_iot_devices_apikey", "iot_devices", ["apikey"])
    op.create_table(
        "iot_commands",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", JSON, nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_iot_commands_device_status", "iot_commands", ["device_id", "status"])
    op.create_index("ix_iot_commands_status_expiry", "iot_commands", ["status", "expires_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", PK, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("apikey", sa.Text(), nullable=True),
        sa.Column("device_id", sa.Text(), nullable=True),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("replayed_at", sa.BigInteger(), nullable=True),
        sa.Column("replay_outcome", sa.Text(), nullable=True),
    )
    op.create_index("ix_dead_letters_received", "dead_letters", ["received_at"])
    op.create_index("ix_dead_letters_device", "dead_letters", ["device_id", "received_at"])


def downgrade() -> None:
    """Drop the ingestion tables."""
    for table in ("dead_letters", "iot_commands", "iot_devices", "iot_groups"):
        op.drop_table(table)
