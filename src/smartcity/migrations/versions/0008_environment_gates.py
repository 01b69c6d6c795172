"""The environment domain: automatic gate control state and the gate action log.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create env_gate_control and env_gate_actions."""
    op.create_table(
        "env_gate_control",
        sa.Column("gate_id", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Text(), nullable=True),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("above_since", sa.Float(), nullable=True),
        sa.Column("below_since", sa.Float(), nullable=True),
        sa.Column("pending", sa.Text(), nullable=True),
        sa.Column("pending_since", sa.Float(), nullable=True),
        sa.Column("last_reading", sa.Float(), nullable=True),
        sa.Column("mode_since", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("gate_id"),
    )
    op.create_table(
        "env_gate_actions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("gate_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("salinity", sa.Float(), nullable=True),
        sa.Column("reason_vi", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_env_gate_actions_gate_at", "env_gate_actions", ["gate_id", "at"])


def downgrade() -> None:
    """Drop the gate tables."""
    op.drop_index("ix_env_gate_actions_gate_at", table_name="env_gate_actions")
    op.drop_table("env_gate_actions")
    op.drop_table("env_gate_control")
