"""Web sessions: an HTTP-only cookie plus a CSRF token that every cookie write must echo."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.db import Database

from .support import (
    ENTITIES,
    JSON,
    NEW_PASSWORD,
    PASSWORD,
    add_user,
    auth_settings,
    bearer,
    cheap_hashing,
    sign_in,
    water,
)

SESSION, CSRF = "smartcity_session", "smartcity_csrf"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    built = create_app(auth_settings(tmp_path), database=database)
    add_user(built, "operator.hung", "operator")
    return built


def open_session(http: TestClient, username: str = "operator.hung") -> str:
    """Sign in on the web; the CSRF token the page script would read from its cookie."""
    response = http.post("/auth/session", data={"username": username, "password": PASSWORD})
    assert response.status_code == 204, response.text
    return str(http.cookies[CSRF])


def set_cookie_header(response: httpx.Response, name: str) -> str:
    headers = response.headers.get_list("set-cookie")
    [line] = [h for h in headers if h.startswith(f"{name}=")]
    return str(line)


def test_sign_in_sets_an_http_only_strict_session_cookie(http: TestClient) -> None:
    response = http.post("/auth/session", data={"username": "operator.hung", "password": PASSWORD})
    assert response.status_code == 204, response.text
    session = set_cookie_header(response, SESSION).lower()
    assert "httponly" in session
    assert "samesite=strict" in session
    assert "path=/" in session
    assert "secure" not in session  # https is off in these settings
    csrf = set_cookie_header(response, CSRF).lower()
    assert "httponly" not in csrf
    assert "samesite=strict" in csrf
    assert http.cookies[SESSION] != http.cookies[CSRF]


def test_cookies_are_secure_behind_https(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, https=True), database=database)
    add_user(app, "operator.hung", "operator")
    with TestClient(app, base_url="https://testserver") as http:
        response = http.post(
            "/auth/session", data={"username": "operator.hung", "password": PASSWORD}
        )
        assert response.status_code == 204
        assert "secure" in set_cookie_header(response, SESSION).lower()
        assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_wrong_password_sets_no_cookie(http: TestClient) -> None:
    response = http.post(
        "/auth/session", data={"username": "operator.hung", "password": "Wrong-pass-1"}
    )
    assert response.status_code == 401
    assert SESSION not in http.cookies


def test_cookie_authenticates_reads(http: TestClient) -> None:
    open_session(http)
    me = http.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "operator.hung"


def test_cookie_write_without_csrf_header_is_403_and_stores_nothing(http: TestClient) -> None:
    open_session(http)
    response = http.post(ENTITIES, json=water(), headers=JSON)
    assert response.status_code == 403, response.text
    assert "CSRF" in response.json()["detail"]
    assert http.get(f"{ENTITIES}/urn:ngsi-ld:WaterObserved:t1").status_code == 404


def test_cookie_write_with_wrong_csrf_header_is_403(http: TestClient) -> None:
    open_session(http)
    response = http.post(ENTITIES, json=water(), headers={**JSON, "X-CSRF-Token": "guess"})
    assert response.status_code == 403
    assert http.get(f"{ENTITIES}/urn:ngsi-ld:WaterObserved:t1").status_code == 404


def test_cookie_write_with_csrf_header_is_allowed(http: TestClient) -> None:
    csrf = open_session(http)
    response = http.post(ENTITIES, json=water(), headers={**JSON, "X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    assert http.get(f"{ENTITIES}/urn:ngsi-ld:WaterObserved:t1").status_code == 200


def test_csrf_token_of_another_session_is_refused(app: FastAPI, http: TestClient) -> None:
    add_user(app, "operator.thu", "operator")
    other_csrf = open_session(http, "operator.thu")
    http.cookies.clear()
    open_session(http)
    response = http.post(ENTITIES, json=water(), headers={**JSON, "X-CSRF-Token": other_csrf})
    assert response.status_code == 403


def test_sign_out_ends_the_session(http: TestClient) -> None:
    csrf = open_session(http)
    secret = http.cookies[SESSION]
    response = http.delete("/auth/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    cleared = set_cookie_header(response, SESSION).lower()
    assert "max-age=0" in cleared or "expires=" in cleared
    # A copy of the old cookie, replayed, is refused.
    http.cookies.clear()
    http.cookies.set(SESSION, secret)
    assert http.get("/auth/me").status_code == 401


def test_sign_out_needs_the_csrf_token(http: TestClient) -> None:
    open_session(http)
    assert http.delete("/auth/session").status_code == 403
    assert http.get("/auth/me").status_code == 200


def test_password_change_ends_cookie_sessions(app: FastAPI, http: TestClient) -> None:
    csrf = open_session(http)
    changed = http.post(
        "/auth/password",
        json={"current": PASSWORD, "new": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert changed.status_code == 204, changed.text
    assert http.get("/auth/me").status_code == 401


def test_cookie_session_is_not_a_bearer_token(http: TestClient) -> None:
    open_session(http)
    secret = http.cookies[SESSION]
    http.cookies.clear()
    assert http.get("/auth/me", headers=bearer(secret)).status_code == 401


def test_sign_in_works_with_a_stale_cookie(app: FastAPI, http: TestClient) -> None:
    open_session(http)
    # The password is changed from another device: this browser's session ends.
    other_device = TestClient(app)
    token = sign_in(other_device, "operator.hung")["access_token"]
    changed = other_device.post(
        "/auth/password",
        json={"current": PASSWORD, "new": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert http.get("/auth/me").status_code == 401
    # The browser still holds the dead cookie when the user signs in again.
    response = http.post(
        "/auth/session", data={"username": "operator.hung", "password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text


def test_sign_in_works_with_an_expired_bearer_header(app: FastAPI, http: TestClient) -> None:
    claims = app.state.auth.service.signer.read(sign_in(http, "operator.hung")["access_token"])
    expired = app.state.auth.service.signer.sign({**claims, "exp": claims["iat"] - 1})
    response = http.post(
        "/auth/session",
        data={"username": "operator.hung", "password": PASSWORD},
        headers=bearer(expired),
    )
    assert response.status_code == 204, response.text


def test_switching_account_on_the_web_needs_no_csrf_header(app: FastAPI, http: TestClient) -> None:
    add_user(app, "operator.thu", "operator")
    open_session(http)
    response = http.post("/auth/session", data={"username": "operator.thu", "password": PASSWORD})
    assert response.status_code == 204, response.text
    assert http.get("/auth/me").json()["username"] == "operator.thu"
