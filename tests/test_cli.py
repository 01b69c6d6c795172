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


def _run_without_serving(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    """`smartcity run` up to the point where it would start uvicorn."""
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    # No server comes up here: the simulator beside it is not started either.
    monkeypatch.setattr("smartcity.cli._simulator_thread", lambda *args: None)
    result = CliRunner().invoke(app, ["run", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_run_prints_demo_logins_that_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from smartcity.app import create_app

    output = _run_without_serving(monkeypatch, tmp_path)
    printed = {
        parts[1]: parts[2]
        for line in output.splitlines()
        if len(parts := line.split()) >= 3 and parts[0] in ("admin", "operator", "citizen")
    }
    assert set(printed) == {"admin", "operator", "citizen"}
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o777 == 0o600
    # The same passwords on the next start: the accounts are created once.
    assert _run_without_serving(monkeypatch, tmp_path) == output
    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        form = {"grant_type": "password", "username": "admin", "password": printed["admin"]}
        token = client.post("/auth/token", data=form)
        assert token.status_code == 200, token.text
        users = client.get(
            "/api/admin/users", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert {u["username"] for u in users.json()} >= {"admin", "officer.moitruong"}
