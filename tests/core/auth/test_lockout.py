"""Failed sign-ins lock an account for a while; sign-in attempts are rate limited."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.db import Database

from .support import PASSWORD, add_user, admin_headers, auth_settings, cheap_hashing, sign_in


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def attempt(http: TestClient, username: str, password: str) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password}
    response: httpx.Response = http.post("/auth/token", data=data)
    return response


def locking_app(database: Database, tmp_path: Path, lockout_s: int = 900) -> FastAPI:
    settings = auth_settings(tmp_path, lockout_after_failures=3, lockout_s=lockout_s)
    return create_app(settings, database=database)


def test_account_locks_after_n_failures_even_for_the_right_password(
    database: Database, tmp_path: Path
) -> None:
    app = locking_app(database, tmp_path)
    add_user(app, "officer.mai", "operator")
    with TestClient(app) as http:
        for _ in range(2):
            assert attempt(http, "officer.mai", "Wrong-pass-1").status_code == 400
        third = attempt(http, "officer.mai", "Wrong-pass-1")
        assert third.status_code == 400
        locked = attempt(http, "officer.mai", PASSWORD)
        assert locked.status_code == 423
        assert locked.json()["error"] == "invalid_request"
        assert "locked" in locked.json()["error_description"]
        cookie = http.post("/auth/session", data={"username": "officer.mai", "password": PASSWORD})
        assert cookie.status_code == 423


def test_failures_below_the_threshold_do_not_lock(database: Database, tmp_path: Path) -> None:
    app = locking_app(database, tmp_path)
    add_user(app, "officer.mai", "operator")
    with TestClient(app) as http:
        for _ in range(2):
            assert attempt(http, "officer.mai", "Wrong-pass-1").status_code == 400
        sign_in(http, "officer.mai")
        # A success resets the count: two more failures still do not lock.
        for _ in range(2):
            assert attempt(http, "officer.mai", "Wrong-pass-1").status_code == 400
        sign_in(http, "officer.mai")


def test_lock_lifts_by_itself_after_lockout_s(database: Database, tmp_path: Path) -> None:
    app = locking_app(database, tmp_path, lockout_s=1)
    add_user(app, "officer.mai", "operator")
    with TestClient(app) as http:
        for _ in range(3):
            attempt(http, "officer.mai", "Wrong-pass-1")
        assert attempt(http, "officer.mai", PASSWORD).status_code == 423
        time.sleep(1.2)
        token = sign_in(http, "officer.mai")["access_token"]
        me = http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["lockedUntil"] is None


def test_admin_sees_the_lock_and_a_password_reset_lifts_it(
    database: Database, tmp_path: Path
) -> None:
    app = locking_app(database, tmp_path)
    user = add_user(app, "officer.mai", "operator")
    with TestClient(app) as http:
        admin = admin_headers(app, http)
        for _ in range(3):
            attempt(http, "officer.mai", "Wrong-pass-1")
        shown = http.get(f"/api/admin/users/{user.id}", headers=admin).json()
        assert shown["lockedUntil"] > time.time() * 1_000_000
        reset = http.post(
            f"/api/admin/users/{user.id}/password",
            json={"password": "Ninh-Kieu-77!"},
            headers=admin,
        )
        assert reset.status_code == 204, reset.text
        sign_in(http, "officer.mai", "Ninh-Kieu-77!")


def test_sign_in_rate_limit_answers_429(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, sign_in_rate_limit="3/minute"), database=database)
    add_user(app, "officer.mai", "operator")
    with TestClient(app) as http:
        for _ in range(3):
            assert attempt(http, "officer.mai", "Wrong-pass-1").status_code == 400
        limited = attempt(http, "officer.mai", PASSWORD)
        assert limited.status_code == 429
        assert limited.json()["error"] == "invalid_request"
        # The web sign-in shares the count.
        cookie = http.post("/auth/session", data={"username": "officer.mai", "password": PASSWORD})
        assert cookie.status_code == 429
