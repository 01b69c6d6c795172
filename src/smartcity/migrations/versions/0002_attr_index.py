"""Attribute value index for fast `q` queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create attr_index and fill it from the stored entities."""
    op.create_table(
        "attr_index",
        sa.Column(
            "entity_pk",
            sa.BigInteger,
            sa.ForeignKey("entities.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attr", sa.Text, nullable=False),
        sa.Column("num", sa.Float, nullable=True),
        sa.Column("txt", sa.Text().with_variant(sa.Text(collation="C"), "postgresql")),
    )
    op.create_index("ix_attr_index_num", "attr_index", ["attr", "num", "entity_pk"])
    op.create_index("ix_attr_index_txt", "attr_index", ["attr", "txt", "entity_pk"])
    # Per-entity probes (semi-joins, deletes) seek on all three columns: never a range scan.
    op.create_index("ix_attr_index_entity", "attr_index", ["entity_pk", "attr", "num"])
    _backfill()


def _backfill() -> None:
    """Index entities stored before this revision (a no-op on a new database)."""
    from smartcity.core.context.qlang import index_entries

    bind = op.get_bind()
    entities = sa.table("entities", sa.column("pk"), sa.column("attrs", sa.JSON))
    index = sa.table(
        "attr_index", sa.column("entity_pk"), sa.column("attr"), sa.column("num"), sa.column("txt")
    )
    rows = []
    for pk, attrs in bind.execute(sa.select(entities.c.pk, entities.c.attrs)):
        rows += [
            {"entity_pk": pk, "attr": a, "num": n, "txt": t} for a, n, t in index_entries(attrs)
        ]
        if len(rows) >= 5000:
            bind.execute(sa.insert(index), rows)
            rows = []
    if rows:
        bind.execute(sa.insert(index), rows)


def downgrade() -> None:
    """Drop the attribute index."""
    op.drop_table("attr_index")
