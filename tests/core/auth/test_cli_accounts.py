"""`smartcity users …` on a SQLite database in the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from smartcity.app import create_app
from smartcity.cli import app as cli

from .support import PASSWORD, auth_settings, cheap_hashing, sign_in


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def users(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["users", *args, "--data-dir", str(tmp_path)])


def create(tmp_path: Path, *args: str) -> Result:
    return users(tmp_path, "create", *args)


def test_created_officer_is_listed_with_its_department(tmp_path: Path) -> None:
    result = create(
        tmp_path,
        "--username", "officer.moitruong",
        "--password", PASSWORD,
        "--role", "officer",
        "--department", "SNNMT",
        "--full-name", "Trần Văn Tâm",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created officer officer.moitruong" in result.output

    listed = users(tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    [line] = [ln for ln in listed.output.splitlines() if "officer.moitruong" in ln]
    assert line.split("\t")[1:] == ["officer.moitruong", "officer", "SNNMT", "active"]


def test_cli_user_can_sign_in_over_http(tmp_path: Path) -> None:
    result = create(tmp_path, "--username", "admin.ioc", "--password", PASSWORD, "--role", "admin")
    assert result.exit_code == 0, result.output
    with TestClient(create_app(auth_settings(tmp_path))) as http:
        token = sign_in(http, "admin.ioc")["access_token"]
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == "admin"


def test_unknown_role_exits_2_with_a_message(tmp_path: Path) -> None:
    result = create(tmp_path, "--username", "someone", "--password", PASSWORD, "--role", "mayor")
    assert result.exit_code == 2
    assert "error: role must be one of" in result.output
    assert "someone" not in users(tmp_path, "list").output


def test_anonymous_is_not_an_assignable_role(tmp_path: Path) -> None:
    result = create(tmp_path, "--username", "ghost", "--password", PASSWORD, "--role", "anonymous")
    assert result.exit_code == 2
    assert "role must be one of" in result.output


def test_weak_password_exits_2_with_a_message(tmp_path: Path) -> None:
    result = create(tmp_path, "--username", "citizen.lan", "--password", "abc", "--role", "citizen")
    assert result.exit_code == 2
    assert "error: password policy" in result.output
    assert "citizen.lan" not in users(tmp_path, "list").output


def test_officer_needs_a_known_department(tmp_path: Path) -> None:
    base = ["--username", "officer.x", "--password", PASSWORD, "--role", "officer"]
    without = create(tmp_path, *base)
    assert without.exit_code == 2
    assert "at least one department" in without.output
    unknown = create(tmp_path, *base, "--department", "NOPE")
    assert unknown.exit_code == 2
    assert "unknown department(s): NOPE" in unknown.output


def test_duplicate_username_exits_2(tmp_path: Path) -> None:
    args = ["--username", "citizen.lan", "--password", PASSWORD, "--role", "citizen"]
    assert create(tmp_path, *args).exit_code == 0
    again = create(tmp_path, *args)
    assert again.exit_code == 2
    assert "is taken" in again.output
