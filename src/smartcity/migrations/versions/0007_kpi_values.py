"""Snapshots of the domains' indicators (KPIs), for trends against yesterday.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create kpi_values."""
    op.create_table(
        "kpi_values",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", "at"),
    )


def downgrade() -> None:
    """Drop kpi_values."""
    op.drop_table("kpi_values")
