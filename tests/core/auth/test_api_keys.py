"""API keys for devices and integrators: shown once, scoped by entity type, revocable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smartcity.app import create_app
from smartcity.cli import app as cli

from .support import (
    ENTITIES,
    JSON,
    add_user,
    admin_headers,
    air,
    auth_settings,
    bearer,
    cheap_hashing,
    sign_in,
)
from .support import water as water_entity


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def new_key(http: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    response = http.post("/api/admin/api-keys", json={"name": "tram do mua", **body}, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created: dict[str, Any] = response.json()
    return created


def test_created_key_is_shown_once_and_never_listed(
    http: TestClient, admin: dict[str, str]
) -> None:
    created = new_key(http, admin, deviceGroup="mua-ninh-kieu")
    assert created["key"].startswith("sck_")
    assert created["prefix"] == created["key"][:8]
    assert created["role"] == "integrator"
    assert "key_hash" not in created

    listed = http.get("/api/admin/api-keys", headers=admin)
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["id"] == created["id"]
    assert row["device_group"] == "mua-ninh-kieu"
    assert "key" not in row and "key_hash" not in row
    assert created["key"] not in listed.text


def test_key_writes_an_entity_via_header(http: TestClient, admin: dict[str, str]) -> None:
    key = new_key(http, admin)["key"]
    response = http.post(ENTITIES, json=water_entity(), headers={**JSON, "X-API-Key": key})
    assert response.status_code == 201, response.text
    stored = http.get(f"{ENTITIES}/urn:ngsi-ld:WaterObserved:t1")
    assert stored.status_code == 200
    assert stored.json()["waterLevel"]["value"] == 1.2


def test_key_writes_an_entity_via_k_query_parameter(
    http: TestClient, admin: dict[str, str]
) -> None:
    key = new_key(http, admin)["key"]
    response = http.post(ENTITIES, params={"k": key}, json=water_entity(), headers=JSON)
    assert response.status_code == 201, response.text
    assert http.get(f"{ENTITIES}/urn:ngsi-ld:WaterObserved:t1").status_code == 200


def test_key_identifies_itself_on_me(http: TestClient, admin: dict[str, str]) -> None:
    created = new_key(http, admin)
    me = http.get("/auth/me", headers={"X-API-Key": created["key"]})
    assert me.status_code == 200
    assert me.json() == {"apiKey": created["id"], "role": "integrator"}


def test_scoped_key_may_not_write_other_types(http: TestClient, admin: dict[str, str]) -> None:
    key = new_key(http, admin, entityTypes=["WaterObserved"])["key"]
    headers = {**JSON, "X-API-Key": key}
    denied = http.post(ENTITIES, json=air(), headers=headers)
    assert denied.status_code == 403, denied.text
    assert http.get(f"{ENTITIES}/urn:ngsi-ld:AirQualityObserved:t1").status_code == 404
    assert http.post(ENTITIES, json=water_entity(), headers=headers).status_code == 201


def test_revoked_key_is_refused_at_once(http: TestClient, admin: dict[str, str]) -> None:
    created = new_key(http, admin)
    headers = {**JSON, "X-API-Key": created["key"]}
    assert http.post(ENTITIES, json=water_entity(), headers=headers).status_code == 201

    revoked = http.delete(f"/api/admin/api-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 204
    response = http.post(
        ENTITIES, json=water_entity("urn:ngsi-ld:WaterObserved:t2"), headers=headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert http.get("/auth/me", params={"k": created["key"]}).status_code == 401
    [row] = http.get("/api/admin/api-keys", headers=admin).json()
    assert row["revoked_at"] is not None


def test_revoking_an_unknown_key_is_404(http: TestClient, admin: dict[str, str]) -> None:
    assert http.delete("/api/admin/api-keys/nosuchkey", headers=admin).status_code == 404


def test_expired_key_is_401(http: TestClient, admin: dict[str, str]) -> None:
    past_us = int(time.time() * 1_000_000) - 1_000_000
    key = new_key(http, admin, expiresAt=past_us)["key"]
    response = http.post(ENTITIES, json=water_entity(), headers={**JSON, "X-API-Key": key})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_key_with_future_expiry_works(http: TestClient, admin: dict[str, str]) -> None:
    future_us = int(time.time() * 1_000_000) + 3600 * 1_000_000
    key = new_key(http, admin, expiresAt=future_us)["key"]
    response = http.post(ENTITIES, json=water_entity(), headers={**JSON, "X-API-Key": key})
    assert response.status_code == 201, response.text


def test_unknown_key_is_401(http: TestClient) -> None:
    response = http.get("/auth/me", headers={"X-API-Key": "sck_made-up"})
    assert response.status_code == 401


def test_keys_are_only_for_integrator_or_operator_roles(
    http: TestClient, admin: dict[str, str]
) -> None:
    response = http.post("/api/admin/api-keys", json={"name": "x", "role": "admin"}, headers=admin)
    assert response.status_code == 400
    assert http.get("/api/admin/api-keys", headers=admin).json() == []


def test_non_admins_may_not_manage_keys(app: FastAPI, http: TestClient) -> None:
    add_user(app, "operator.hung", "operator")
    headers = bearer(sign_in(http, "operator.hung")["access_token"])
    assert http.get("/api/admin/api-keys", headers=headers).status_code == 403
    created = http.post("/api/admin/api-keys", json={"name": "x"}, headers=headers)
    assert created.status_code == 403
    assert http.get("/api/admin/api-keys").status_code == 401


def test_key_of_a_deactivated_user_stops_working(
    app: FastAPI, http: TestClient, admin: dict[str, str]
) -> None:
    owner = add_user(app, "integrator.vnpt", "integrator")
    key = new_key(http, admin, userId=owner.id)["key"]
    assert http.get("/auth/me", headers={"X-API-Key": key}).status_code == 200
    patched = http.patch(f"/api/admin/users/{owner.id}", json={"active": False}, headers=admin)
    assert patched.status_code == 200
    response = http.post(ENTITIES, json=water_entity(), headers={**JSON, "X-API-Key": key})
    assert response.status_code == 401


def test_key_for_an_unknown_user_is_refused_cleanly(app: FastAPI, admin: dict[str, str]) -> None:
    with TestClient(app, raise_server_exceptions=False) as http:
        response = http.post(
            "/api/admin/api-keys", json={"name": "x", "userId": 987654321}, headers=admin
        )
        assert response.status_code in (400, 404), response.text
        assert http.get("/api/admin/api-keys", headers=admin).json() == []


# --- the CLI (SQLite in the data dir) --------------------------------------------------------


def cli_app(tmp_path: Path) -> FastAPI:
    return create_app(auth_settings(tmp_path))


def test_cli_created_key_works_and_revoke_stops_it(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--name",
            "tram mua",
            "--entity-type",
            "WaterObserved",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    key_id = created.output.split("key id ")[1].split(";")[0]
    assert key.startswith("sck_")

    with TestClient(cli_app(tmp_path)) as http:
        ok = http.post(ENTITIES, json=water_entity(), headers={**JSON, "X-API-Key": key})
        assert ok.status_code == 201, ok.text
        scoped = http.post(ENTITIES, json=air(), headers={**JSON, "X-API-Key": key})
        assert scoped.status_code == 403

    revoked = runner.invoke(cli, ["keys", "revoke", key_id, "--data-dir", str(tmp_path)])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {key_id}" in revoked.output

    with TestClient(cli_app(tmp_path)) as http:
        after = http.post(
            ENTITIES,
            json=water_entity("urn:ngsi-ld:WaterObserved:t2"),
            headers={**JSON, "X-API-Key": key},
        )
        assert after.status_code == 401


def test_cli_revoke_of_unknown_key_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "revoke", "nosuchkey", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no API key nosuchkey" in result.output


def test_cli_key_with_days_expires_later(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "create", "--name", "x", "--days", "30", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    app = cli_app(tmp_path)
    with TestClient(app) as http:
        admin = admin_headers(app, http)
        [row] = http.get("/api/admin/api-keys", headers=admin).json()
    days = (row["expires_at"] - row["created_at"]) / 86_400_000_000
    assert 29.99 < days < 30.01
