"""OAuth2 tokens: password grant, refresh rotation with reuse detection, expiry, revocation."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.auth.credentials import TokenSigner
from smartcity.core.db import Database

from .support import (
    NEW_PASSWORD,
    PASSWORD,
    add_user,
    admin_headers,
    auth_settings,
    bearer,
    cheap_hashing,
    sign_in,
)


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def refresh(http: TestClient, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    response: httpx.Response = http.post("/auth/token", data=data)
    return response


def test_password_grant_returns_a_bearer_token_pair(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    response = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]


def test_access_token_identifies_the_caller_on_me(app: FastAPI, http: TestClient) -> None:
    user = add_user(app, "citizen.lan", "citizen", email="lan@example.vn")
    token = sign_in(http, "citizen.lan")["access_token"]
    response = http.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["username"], body["role"]) == (user.id, "citizen.lan", "citizen")
    assert body["email"] == "lan@example.vn"
    assert "password_hash" not in body


def test_me_without_credentials_is_401(http: TestClient) -> None:
    response = http.get("/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_password_is_invalid_grant(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    response = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": "Wrong-pass-1"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["cache-control"] == "no-store"


def test_unknown_user_answers_like_a_wrong_password(http: TestClient) -> None:
    response = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "nobody", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_endpoint_ignores_client_basic_auth(app: FastAPI, http: TestClient) -> None:
    # OAuth2 clients often send client credentials as Basic auth to the token endpoint.
    add_user(app, "citizen.lan", "citizen")
    response = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": PASSWORD},
        headers={"Authorization": "Basic Y2xpZW50OnNlY3JldA=="},
    )
    assert response.status_code == 200, response.text


def test_unknown_grant_type_is_unsupported(http: TestClient) -> None:
    response = http.post("/auth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_password_grant_without_password_is_invalid_request(http: TestClient) -> None:
    response = http.post("/auth/token", data={"grant_type": "password", "username": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_refresh_rotates_the_pair(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    first = sign_in(http, "citizen.lan")
    response = refresh(http, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert http.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_reused_refresh_token_revokes_the_whole_session(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    first = sign_in(http, "citizen.lan")
    second = refresh(http, first["refresh_token"]).json()

    replay = refresh(http, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The thief's replay ends the session for the legitimate holder too.
    assert http.get("/auth/me", headers=bearer(second["access_token"])).status_code == 401
    assert refresh(http, second["refresh_token"]).status_code == 400


def test_unknown_refresh_token_is_invalid_grant(http: TestClient) -> None:
    response = refresh(http, "not-a-refresh-token")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_expired_access_token_is_401_with_a_bearer_challenge(
    app: FastAPI, http: TestClient
) -> None:
    add_user(app, "citizen.lan", "citizen")
    live = sign_in(http, "citizen.lan")["access_token"]
    claims = app.state.auth.service.signer.read(live)
    now = int(time.time())
    expired = app.state.auth.service.signer.sign({**claims, "iat": now - 120, "exp": now - 60})
    response = http.get("/auth/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "expired" in response.json()["detail"]


def test_access_token_expires_after_its_ttl(database: Database, tmp_path: Path) -> None:
    app = create_app(auth_settings(tmp_path, access_token_ttl_s=1), database=database)
    add_user(app, "citizen.lan", "citizen")
    with TestClient(app) as http:
        pair = sign_in(http, "citizen.lan")
        assert pair["expires_in"] == 1
        assert http.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200
        time.sleep(2.05)  # the token lives between 1 and 2 s (exp is whole seconds)
        response = http.get("/auth/me", headers=bearer(pair["access_token"]))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        # The refresh token outlives the access token.
        assert refresh(http, pair["refresh_token"]).status_code == 200


def test_logout_revokes_the_access_token_and_its_refresh_token(
    app: FastAPI, http: TestClient
) -> None:
    add_user(app, "citizen.lan", "citizen")
    pair = sign_in(http, "citizen.lan")
    assert http.post("/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    assert http.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(http, pair["refresh_token"]).status_code == 400


def test_logout_ends_only_its_own_session(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    phone, laptop = sign_in(http, "citizen.lan"), sign_in(http, "citizen.lan")
    assert http.post("/auth/logout", headers=bearer(phone["access_token"])).status_code == 204
    assert http.get("/auth/me", headers=bearer(laptop["access_token"])).status_code == 200


def test_password_change_revokes_earlier_tokens(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    old, other = sign_in(http, "citizen.lan"), sign_in(http, "citizen.lan")
    response = http.post(
        "/auth/password",
        json={"current": PASSWORD, "new": NEW_PASSWORD},
        headers=bearer(old["access_token"]),
    )
    assert response.status_code == 204, response.text
    assert http.get("/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert http.get("/auth/me", headers=bearer(other["access_token"])).status_code == 401
    assert refresh(http, other["refresh_token"]).status_code == 400
    failed = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "citizen.lan", "password": PASSWORD},
    )
    assert failed.status_code == 400
    fresh = sign_in(http, "citizen.lan", NEW_PASSWORD)
    assert http.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200


def test_password_change_needs_the_current_password(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    token = sign_in(http, "citizen.lan")["access_token"]
    response = http.post(
        "/auth/password",
        json={"current": "Not-the-one-1", "new": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert http.get("/auth/me", headers=bearer(token)).status_code == 200
    sign_in(http, "citizen.lan", PASSWORD)


def test_token_signed_with_another_key_is_401(app: FastAPI, http: TestClient) -> None:
    user = add_user(app, "citizen.lan", "citizen")
    genuine = sign_in(http, "citizen.lan")["access_token"]
    claims = app.state.auth.service.signer.read(genuine)
    forged = TokenSigner("an-attacker-chose-this-key-" + uuid.uuid4().hex).sign(claims)
    assert claims["sub"] == str(user.id)
    response = http.get("/auth/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_unsigned_and_foreign_issuer_tokens_are_401(app: FastAPI, http: TestClient) -> None:
    add_user(app, "citizen.lan", "citizen")
    claims = app.state.auth.service.signer.read(sign_in(http, "citizen.lan")["access_token"])
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    assert http.get("/auth/me", headers=bearer(unsigned)).status_code == 401
    foreign = TokenSigner(app.state.auth.service.signer.key, issuer="elsewhere").sign(claims)
    assert http.get("/auth/me", headers=bearer(foreign)).status_code == 401


def test_garbage_and_non_bearer_authorization_are_401(http: TestClient) -> None:
    assert http.get("/auth/me", headers=bearer("not.a.jwt")).status_code == 401
    assert http.get("/auth/me", headers={"Authorization": "Basic YTpi"}).status_code == 401


def test_deactivated_user_loses_access_at_once(app: FastAPI, http: TestClient) -> None:
    admin = admin_headers(app, http)
    user = add_user(app, "operator.hung", "operator")
    pair = sign_in(http, "operator.hung")
    assert http.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 200

    response = http.patch(f"/api/admin/users/{user.id}", json={"active": False}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert http.get("/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(http, pair["refresh_token"]).status_code == 400
    relogin = http.post(
        "/auth/token",
        data={"grant_type": "password", "username": "operator.hung", "password": PASSWORD},
    )
    assert relogin.status_code == 400
