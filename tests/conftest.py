"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import Database, open_database
from smartcity.core.migrate import upgrade
from smartcity.core.registry import all_metadata
from tests.servers import scratch_pg_database


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    with scratch_pg_database("smartcity_test") as url:
        database = open_database(url)
        upgrade(database)
        database.dispose()
        yield url


def _truncate_postgres(database: Database) -> None:
    # DELETE, children first: on a test's handful of rows it is far cheaper than TRUNCATE,
    # which rewrites every table's files. Ids keep counting up; no test relies on them.
    tables = [t.name for md in all_metadata() for t in md.sorted_tables]
    with database.write() as conn:
        for table in reversed(tables):
            conn.exec_driver_sql(f"DELETE FROM {table}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("template") / "smartcity.db"
    db = open_database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "smartcity.db")
        db = open_database(f"sqlite:///{tmp_path}/smartcity.db")
    else:
        db = open_database(request.getfixturevalue("pg_database_url"))
        _truncate_postgres(db)
    yield db
    db.dispose()


@pytest.fixture
def app_settings(tmp_path: object) -> Settings:
    """Settings for a test app (small body limit so 413 is cheap to test)."""
    # The kernel's tests see only their own writes: no domain computes derived attributes.
    return Settings(  # type: ignore[arg-type]
        data_dir=tmp_path, max_body_bytes=1024 * 1024, domain_computations=False
    )


@pytest.fixture
def client(database: Database, app_settings: Settings) -> Iterator[TestClient]:
    """An HTTP client on the platform app over each backend, holding an integrator API key.

    Integrators may write any non-personal entity type, which is what the broker tests need;
    tests/core/auth covers who may do what.
    """
    app = create_app(app_settings, database=database)
    key = app.state.auth.service.create_api_key("test client", "integrator")
    with TestClient(app, headers={"X-API-Key": key.key}) as test_client:
        yield test_client
