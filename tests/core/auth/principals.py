"""Test helpers: one signed-in caller per role, with headers for TestClient requests."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from smartcity.core.auth import repository
from smartcity.core.auth.credentials import hash_password
from smartcity.core.auth.seed import seed_departments
from smartcity.core.auth.service import AuthService
from smartcity.core.context.times import now_us

PASSWORD = "Matkhau-test-2026"
# Hashed once: argon2id is slow on purpose, and these fixtures create many users.
_PASSWORD_HASH = hash_password(PASSWORD)

#: name → (role, departments) of the callers the matrix and access tests use.
CALLERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("admin", ()),
    "operator": ("operator", ()),
    "officer": ("officer", ("SNNMT",)),
    "officer_health": ("officer", ("SYT",)),
    "citizen": ("citizen", ()),
    "integrator": ("integrator", ()),
}


@dataclass
class Callers:
    """Users created in one app; `headers(name)` gives a fresh bearer token each call."""

    service: AuthService
    user_ids: dict[str, int]
    api_key: str

    def headers(self, name: str) -> dict[str, str]:
        """Request headers authenticating as `name` ("anonymous" and "apikey" included)."""
        if name == "anonymous":
            return {}
        if name == "apikey":
            return {"X-API-Key": self.api_key}
        user = self.service.get_user(self.user_ids[name])
        # A fresh session per request: a logout in one request must not spoil the next.
        pair = self.service.issue_tokens(user, "127.0.0.1")
        return {"Authorization": f"Bearer {pair.access_token}"}


def make_callers(app: FastAPI, names: tuple[str, ...] = tuple(CALLERS)) -> Callers:
    """Create the departments and one user per caller name in this app's database."""
    service: AuthService = app.state.auth.service
    seed_departments(service)
    user_ids = {name: _insert_user(service, name) for name in names}
    key = service.create_api_key("matrix key", "integrator").key
    return Callers(service, user_ids, key)


def _insert_user(service: AuthService, name: str) -> int:
    """Store a caller with the precomputed hash (create_user is tested in test_tokens)."""
    role, departments = CALLERS[name]
    values = {
        "username": f"{name}.test",
        "password_hash": _PASSWORD_HASH,
        "role": role,
        "active": True,
        "failed_logins": 0,
        "token_version": 0,
        "created_at": now_us(),
        "password_changed_at": now_us(),
    }
    return service.database.run_write(
        lambda conn: repository.insert_user(conn, values, departments)
    )
