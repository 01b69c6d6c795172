"""Protective defaults: security headers, CORS, body and rate limits, the secret key, passwords."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.db import Database

from .support import (
    PASSWORD,
    add_user,
    admin_headers,
    auth_settings,
    bearer,
    cheap_hashing,
    sign_in,
)

IOC = "https://ioc.cantho.gov.vn"


@pytest.fixture
def cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def test_security_headers_on_a_normal_response(http: TestClient) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "strict-transport-security" not in response.headers  # https is off


def test_security_headers_on_errors(http: TestClient) -> None:
    for response in (http.get("/auth/me"), http.get("/no/such/page")):
        assert response.status_code in (401, 404)
        assert response.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in response.headers


def test_api_docs_keep_their_scripts(http: TestClient) -> None:
    response = http.get("/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_no_cors_by_default(http: TestClient) -> None:
    response = http.get("/healthz", headers={"Origin": IOC})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = http.options(
        "/ngsi-ld/v1/entities",
        headers={"Origin": IOC, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_configured_origins_only(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, cors_origins=[IOC]), database=database)
    with TestClient(app) as http:
        allowed = http.get("/healthz", headers={"Origin": IOC})
        assert allowed.headers["access-control-allow-origin"] == IOC
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = http.get("/healthz", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
        preflight = http.options(
            "/ngsi-ld/v1/entities",
            headers={"Origin": IOC, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == IOC


def test_declared_body_above_the_limit_is_413(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, max_body_bytes=1024), database=database)
    with TestClient(app) as http:
        response = http.post(
            "/auth/token",
            data={"grant_type": "password", "username": "x", "password": "y" * 2000},
        )
        assert response.status_code == 413
        assert response.json()["status"] == 413
        assert response.headers["x-content-type-options"] == "nosniff"
        small = http.post("/auth/token", data={"grant_type": "password"})
        assert small.status_code == 400


def test_streamed_body_above_the_limit_is_413(
    database: Database, tmp_path: Path, cheap: None
) -> None:
    app = create_app(auth_settings(tmp_path, max_body_bytes=1024), database=database)

    def chunks() -> Iterator[bytes]:
        # No Content-Length: httpx sends a generator chunked. 64 KiB against a 1 KiB limit.
        yield b'{"username": "operator.tam", "password": "Song-Hau-2026!", "role": "operator",'
        yield b' "fullName": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    with TestClient(app) as http:
        admin = admin_headers(app, http)
        response = http.post(
            "/api/admin/users",
            content=chunks(),
            headers={**admin, "Content-Type": "application/json"},
        )
        assert response.status_code == 413


def test_anonymous_rate_limit_is_429(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, anonymous_rate_limit="5/minute"), database=database)
    with TestClient(app) as http:
        for _ in range(5):
            assert http.get("/healthz").status_code == 200
        limited = http.get("/healthz")
        assert limited.status_code == 429
        assert limited.json()["title"] == "Too many requests"


def test_anonymous_rate_limit_does_not_apply_to_signed_in_callers(
    database: Database, tmp_path: Path
) -> None:
    app = create_app(auth_settings(tmp_path, anonymous_rate_limit="2/minute"), database=database)
    key = app.state.auth.service.create_api_key("tram", "integrator").key
    with TestClient(app) as http:
        for _ in range(4):
            assert http.get("/healthz", headers={"X-API-Key": key}).status_code == 200
        assert http.get("/healthz").status_code == 200


def test_secret_key_is_generated_owner_only_and_reused(
    database: Database, tmp_path: Path, cheap: None
) -> None:
    first = create_app(auth_settings(tmp_path), database=database)
    path = tmp_path / "secret_key"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 48
    add_user(first, "citizen.lan", "citizen")
    with TestClient(first) as http:
        token = sign_in(http, "citizen.lan")["access_token"]

    second = create_app(auth_settings(tmp_path), database=database)
    with TestClient(second) as http:
        assert http.get("/auth/me", headers=bearer(token)).status_code == 200


def test_configured_secret_key_writes_no_file(database: Database, tmp_path: Path) -> None:
    create_app(auth_settings(tmp_path, secret_key="configured-" + "k" * 40), database=database)
    assert not (tmp_path / "secret_key").exists()


def test_another_data_dir_means_another_key(
    database: Database, tmp_path: Path, cheap: None
) -> None:
    first = create_app(auth_settings(tmp_path / "a"), database=database)
    add_user(first, "citizen.lan", "citizen")
    with TestClient(first) as http:
        token = sign_in(http, "citizen.lan")["access_token"]
    with TestClient(create_app(auth_settings(tmp_path / "b"), database=database)) as http:
        assert http.get("/auth/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Short-1", "at least 10 characters"),
        ("onlyletterslong", "digit or symbol"),
        ("12345678901234", "digit or symbol"),
        ("x-officer.tam-9", "must not contain the username"),
        ("Password123", "commonly used"),
    ],
)
def test_password_policy_rejections(
    app: FastAPI, http: TestClient, cheap: None, password: str, problem: str
) -> None:
    admin = admin_headers(app, http)
    response = http.post(
        "/api/admin/users",
        json={"username": "officer.tam", "password": password, "role": "operator"},
        headers=admin,
    )
    assert response.status_code == 400, response.text
    assert problem in response.json()["detail"]
    assert [u["username"] for u in http.get("/api/admin/users", headers=admin).json()] == [
        "admin.ioc"
    ]


def test_admin_creates_a_user_with_a_good_password(
    app: FastAPI, http: TestClient, cheap: None
) -> None:
    admin = admin_headers(app, http)
    response = http.post(
        "/api/admin/users",
        json={"username": "operator.tam", "password": PASSWORD, "role": "operator"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "operator"
    assert "password" not in response.text
    sign_in(http, "operator.tam")


def test_passwords_are_stored_as_argon2id(app: FastAPI) -> None:
    user = add_user(app, "citizen.lan", "citizen")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_security_headers_on_an_internal_error(
    app: FastAPI, cheap: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    with TestClient(app, raise_server_exceptions=False) as http:
        admin = admin_headers(app, http)
        monkeypatch.setattr(app.state.auth.service, "list_users", broken)
        response = http.get("/api/admin/users", headers=admin)
        assert response.status_code == 500
        assert response.headers.get("x-content-type-options") == "nosniff"
