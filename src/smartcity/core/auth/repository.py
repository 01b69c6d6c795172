"""The only SQL of the accounts layer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from .tables import (
    api_keys,
    auth_sessions,
    data_requests,
    departments,
    refresh_tokens,
    user_departments,
    users,
)


@dataclass(frozen=True)
class UserRecord:
    """A stored user with the codes of their departments."""

    id: int
    username: str
    password_hash: str
    role: str
    full_name: str | None
    email: str | None
    phone: str | None
    active: bool
    failed_logins: int
    locked_until: int | None
    token_version: int
    created_at: int
    password_changed_at: int
    anonymised_at: int | None
    departments: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """The user as the API shows it (never the hash)."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "fullName": self.full_name,
            "email": self.email,
            "phone": self.phone,
            "active": self.active,
            "departments": list(self.departments),
            "lockedUntil": self.locked_until,
            "createdAt": self.created_at,
        }


def _user(conn: Connection, row: Any) -> UserRecord:
    codes = conn.execute(
        select(user_departments.c.department_code)
        .where(user_departments.c.user_id == row.id)
        .order_by(user_departments.c.department_code)
    ).scalars()
    return UserRecord(**{c.name: getattr(row, c.name) for c in users.c}, departments=tuple(codes))


def get_user_by_name(conn: Connection, username: str) -> UserRecord | None:
    """The user called `username`, if any."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return _user(conn, row) if row else None


def get_user(conn: Connection, user_id: int) -> UserRecord | None:
    """The user with id `user_id`, if any."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(conn, row) if row else None


def list_users(conn: Connection, role: str | None = None) -> list[UserRecord]:
    """All users (of one role when given), by username."""
    stmt = select(users).order_by(users.c.username)
    if role:
        stmt = stmt.where(users.c.role == role)
    return [_user(conn, row) for row in conn.execute(stmt)]


def insert_user(conn: Connection, values: dict[str, Any], department_codes: Sequence[str]) -> int:
    """Store a new user and their departments; the new id."""
    user_id = int(conn.execute(insert(users).values(**values).returning(users.c.id)).scalar_one())
    set_user_departments(conn, user_id, department_codes)
    return user_id


def update_user(conn: Connection, user_id: int, **values: Any) -> None:
    """Change columns of one user."""
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


def set_user_departments(conn: Connection, user_id: int, codes: Iterable[str]) -> None:
    """Replace the departments of a user."""
    conn.execute(delete(user_departments).where(user_departments.c.user_id == user_id))
    rows = [{"user_id": user_id, "department_code": code} for code in dict.fromkeys(codes)]
    if rows:
        conn.execute(insert(user_departments), rows)


# --- departments ---------------------------------------------------------------------------


def list_departments(conn: Connection) -> list[dict[str, Any]]:
    """All departments, by code."""
    rows = conn.execute(select(departments).order_by(departments.c.code))
    return [dict(row._mapping) for row in rows]


def get_department(conn: Connection, code: str) -> dict[str, Any] | None:
    """One department, if it exists."""
    row = conn.execute(select(departments).where(departments.c.code == code)).first()
    return dict(row._mapping) if row else None


def upsert_department(conn: Connection, values: dict[str, Any], exists: bool) -> None:
    """Create or replace one department."""
    if exists:
        code = values["code"]
        conn.execute(update(departments).where(departments.c.code == code).values(**values))
    else:
        conn.execute(insert(departments).values(**values))


def department_types(conn: Connection, codes: Sequence[str]) -> set[str]:
    """The entity types managed by any of the active departments `codes`."""
    if not codes:
        return set()
    rows = conn.execute(
        select(departments.c.entity_types).where(
            departments.c.code.in_(list(codes)), departments.c.active.is_(True)
        )
    ).scalars()
    return {t for types in rows for t in (types or ())}


# --- sessions and refresh tokens -------------------------------------------------------------


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    """Store a new sign-in session."""
    conn.execute(insert(auth_sessions).values(**values))


def get_session(conn: Connection, session_id: str) -> Any:
    """One session row, if it exists."""
    return conn.execute(select(auth_sessions).where(auth_sessions.c.id == session_id)).first()


def get_cookie_session(conn: Connection, secret_hash: str) -> Any:
    """The cookie session whose secret hashes to `secret_hash`, if any."""
    return conn.execute(
        select(auth_sessions).where(auth_sessions.c.secret_hash == secret_hash)
    ).first()


def revoke_session(conn: Connection, session_id: str, at: int) -> None:
    """End one session (its access tokens and refresh tokens stop working)."""
    conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def revoke_user_sessions(conn: Connection, user_id: int, at: int) -> None:
    """End every session of a user."""
    conn.execute(
        update(auth_sessions)
        .where(auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def insert_refresh_token(conn: Connection, values: dict[str, Any]) -> None:
    """Store the hash of a new refresh token."""
    conn.execute(insert(refresh_tokens).values(**values))


def get_refresh_token(conn: Connection, token_hash: str) -> Any:
    """A refresh token row, if the hash is known."""
    return conn.execute(
        select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    ).first()


def mark_refresh_used(conn: Connection, token_hash: str, at: int) -> bool:
    """Mark a refresh token used; False when it was used already (a replay)."""
    result = conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None))
        .values(used_at=at)
    )
    return result.rowcount == 1


# --- API keys ------------------------------------------------------------------------------


def insert_api_key(conn: Connection, values: dict[str, Any]) -> None:
    """Store a new API key (its hash, never the key)."""
    conn.execute(insert(api_keys).values(**values))


def get_api_key_by_hash(conn: Connection, key_hash: str) -> Any:
    """The API key row whose key hashes to `key_hash`, if any."""
    return conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()


def list_api_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every API key (without hashes), newest first."""
    columns = [c for c in api_keys.c if c.name != "key_hash"]
    rows = conn.execute(select(*columns).order_by(api_keys.c.created_at.desc()))
    return [dict(row._mapping) for row in rows]


def revoke_api_key(conn: Connection, key_id: str, at: int) -> bool:
    """Revoke a key; False when there is no such key."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id)
        .values(revoked_at=func.coalesce(api_keys.c.revoked_at, at))
    )
    return result.rowcount == 1


# --- personal-data requests ------------------------------------------------------------------


def insert_data_request(conn: Connection, values: dict[str, Any]) -> int:
    """Record a personal-data request; its id."""
    stmt = insert(data_requests).values(**values).returning(data_requests.c.id)
    return int(conn.execute(stmt).scalar_one())


def list_data_requests(conn: Connection, user_id: int | None = None) -> list[dict[str, Any]]:
    """Personal-data requests (of one user when given), newest first."""
    stmt = select(data_requests).order_by(data_requests.c.id.desc())
    if user_id is not None:
        stmt = stmt.where(data_requests.c.user_id == user_id)
    return [dict(row._mapping) for row in conn.execute(stmt)]


def get_data_request(conn: Connection, request_id: int) -> dict[str, Any] | None:
    """One personal-data request, if it exists."""
    row = conn.execute(select(data_requests).where(data_requests.c.id == request_id)).first()
    return dict(row._mapping) if row else None


def update_data_request(conn: Connection, request_id: int, **values: Any) -> None:
    """Change the status of a personal-data request."""
    conn.execute(update(data_requests).where(data_requests.c.id == request_id).values(**values))


def forget_session_clients(conn: Connection, user_id: int) -> None:
    """Drop the client addresses kept with a user's sessions (erasure)."""
    conn.execute(
        update(auth_sessions).where(auth_sessions.c.user_id == user_id).values(client=None)
    )


def revoke_user_api_keys(conn: Connection, user_id: int, at: int) -> None:
    """Revoke every API key that belongs to a user."""
    conn.execute(
        update(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def user_sessions(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """The sign-in sessions of a user (for the data export), without secrets."""
    columns = [c for c in auth_sessions.c if c.name not in ("secret_hash", "csrf_token")]
    rows = conn.execute(select(*columns).where(auth_sessions.c.user_id == user_id))
    return [dict(row._mapping) for row in rows]
