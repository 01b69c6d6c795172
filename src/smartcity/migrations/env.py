"""Alembic environment: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from smartcity.core.registry import all_metadata

config = context.config
target_metadata = all_metadata()


def run_migrations() -> None:
    """Run migrations on the connection the caller passed, else on the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite ALTER TABLE goes through batch mode
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
