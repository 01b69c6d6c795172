"""Helpers shared by the accounts-layer tests: settings, users, sign-in, a sample entity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.config import Settings
from smartcity.core.auth import credentials
from smartcity.core.auth.repository import UserRecord

#: Satisfies the password policy (length, a symbol and digits, no username in it).
PASSWORD = "Song-Hau-2026!"
NEW_PASSWORD = "Cai-Rang-2027?"
ENTITIES = "/ngsi-ld/v1/entities"
JSON = {"Content-Type": "application/json"}


def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use argon2id with tiny costs: these tests are about flows, not hash strength.

    (test_hardening checks the real parameters.) Verification reads the parameters from the
    stored hash, so hashes made either way verify.
    """
    monkeypatch.setattr(
        credentials, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def auth_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for one test app: files in tmp_path, everything else as given."""
    return Settings(data_dir=tmp_path, **overrides)


def add_user(app: FastAPI, username: str, role: str, **extra: Any) -> UserRecord:
    """Create a user through the service (password PASSWORD unless given)."""
    password = extra.pop("password", PASSWORD)
    user: UserRecord = app.state.auth.service.create_user(username, password, role, **extra)
    return user


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """The token response of a successful password grant."""
    response = client.post(
        "/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an access token."""
    return {"Authorization": f"Bearer {token}"}


def admin_headers(app: FastAPI, client: TestClient, username: str = "admin.ioc") -> dict[str, str]:
    """Create an admin and return the Authorization header of a fresh token of theirs."""
    add_user(app, username, "admin")
    return bearer(sign_in(client, username)["access_token"])


def water(entity_id: str = "urn:ngsi-ld:WaterObserved:t1", level: float = 1.2) -> dict[str, Any]:
    """A WaterObserved entity (a Cần Thơ river gauge), normalized."""
    return {
        "id": entity_id,
        "type": "WaterObserved",
        "waterLevel": {"type": "Property", "value": level},
    }


def air(entity_id: str = "urn:ngsi-ld:AirQualityObserved:t1") -> dict[str, Any]:
    """An AirQualityObserved entity, normalized."""
    return {
        "id": entity_id,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": 28.4},
    }
