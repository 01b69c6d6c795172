"""The `smartcity` command line and the settings object."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartcity.cli import app
from smartcity.config import Settings, normalize_database_url


def test_migrate_creates_the_sqlite_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "database ready: sqlite" in result.output
    assert (tmp_path / "smartcity.db").exists()


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTCITY_DATABASE_URL", "postgresql://u@db.example/city")
    monkeypatch.setenv("SMARTCITY_MAX_BODY_BYTES", "1234")
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url() == "postgresql+psycopg://u@db.example/city"
    assert settings.max_body_bytes == 1234


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path, database_url=None).resolved_database_url()
    assert url == f"sqlite:///{(tmp_path / 'smartcity.db').resolve()}"
    assert normalize_database_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"
