"""Accounts: users, sign-in, sessions, tokens, API keys, departments, personal-data rights."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from smartcity.core.context.times import now_us
from smartcity.core.db import Database

from . import repository as repo
from .credentials import (
    TokenSigner,
    burn_verification_time,
    check_password_policy,
    digest,
    hash_password,
    new_secret,
    verify_password,
)
from .errors import Conflict, Forbidden, InvalidInput, Locked, NotFound, Unauthenticated
from .policy import ASSIGNABLE_ROLES, Principal, Role, narrowed_types
from .repository import UserRecord
from .workdays import add_working_days

SECOND_US = 1_000_000
# Deadlines count Vietnamese working days, so "today" is today in Vietnam.
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
T = TypeVar("T")


@dataclass(frozen=True)
class AuthConfig:
    """Lifetimes and limits of credentials (from Settings)."""

    access_ttl_s: int = 900
    refresh_ttl_s: int = 30 * 24 * 3600
    cookie_ttl_s: int = 12 * 3600
    lockout_after: int = 5
    lockout_s: int = 900
    # How long a checked API key is trusted without a database read (devices send often).
    key_cache_s: float = 5.0


@dataclass(frozen=True)
class TokenPair:
    """What a successful OAuth2 token request returns."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_oauth2(self) -> dict[str, Any]:
        """The RFC 6749 token response body."""
        return {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


@dataclass(frozen=True)
class CookieSession:
    """A new web session: the cookie secret and its CSRF token."""

    secret: str
    csrf_token: str
    max_age: int


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created API key: the plaintext is shown once, never stored."""

    id: str
    key: str
    record: dict[str, Any]


class AuthService:
    """Every rule about who someone is; all writes go through the database's write queue."""

    def __init__(self, database: Database, signer: TokenSigner, config: AuthConfig) -> None:
        self.database = database
        self.signer = signer
        self.config = config
        # key hash → (monotonic deadline, principal, key expiry in µs or None)
        self._key_cache: dict[str, tuple[float, Principal, int | None]] = {}

    # --- users -------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        role: str,
        departments: Sequence[str] = (),
        full_name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> UserRecord:
        """Create a user after checking role, departments and the password policy."""
        role_ = _role(role)
        username = _check_username(username)
        check_password_policy(password, username)
        if role_ is Role.OFFICER and not departments:
            raise InvalidInput("an officer belongs to at least one department")
        password_hash = hash_password(password)

        def job(conn: Connection) -> UserRecord:
            if repo.get_user_by_name(conn, username):
                raise Conflict(f"username {username!r} is taken")
            _check_departments(conn, departments)
            now = now_us()
            values = {
                "username": username,
                "password_hash": password_hash,
                "role": role_.value,
                "full_name": full_name,
                "email": email,
                "phone": phone,
                "active": True,
                "failed_logins": 0,
                "token_version": 0,
                "created_at": now,
                "password_changed_at": now,
            }
            user_id = repo.insert_user(conn, values, departments)
            return _must(repo.get_user(conn, user_id), "user")

        return self.database.run_write(job)

    def list_users(self, role: str | None = None) -> list[UserRecord]:
        """All users, by username."""
        with self.database.read() as conn:
            return repo.list_users(conn, role)

    def get_user(self, user_id: int) -> UserRecord:
        """One user; NotFound when absent."""
        with self.database.read() as conn:
            return _must(repo.get_user(conn, user_id), "user")

    def update_user(
        self,
        user_id: int,
        role: str | None = None,
        departments: Sequence[str] | None = None,
        active: bool | None = None,
    ) -> UserRecord:
        """Change role, departments or active flag; revokes sessions when access shrinks."""

        def job(conn: Connection) -> UserRecord:
            user = _must(repo.get_user(conn, user_id), "user")
            values: dict[str, Any] = {}
            if role is not None:
                values["role"] = _role(role).value
            if active is not None:
                values["active"] = active
            if values:
                # A changed role or a deactivation must not ride on tokens issued before it.
                values["token_version"] = user.token_version + 1
                repo.update_user(conn, user_id, **values)
                repo.revoke_user_sessions(conn, user_id, now_us())
            if departments is not None:
                _check_departments(conn, departments)
                repo.set_user_departments(conn, user_id, departments)
            return _must(repo.get_user(conn, user_id), "user")

        user = self.database.run_write(job)
        self.forget_cached_keys()
        return user

    def change_password(self, user_id: int, current: str, new: str) -> None:
        """Change one's own password; every earlier session and token stops working."""
        user = self.get_user(user_id)
        if not verify_password(user.password_hash, current):
            # Counted like a failed sign-in: a stolen session must not brute-force it.
            self._record_failure(user_id)
            raise Forbidden("the current password is wrong")
        self.set_password(user_id, new)

    def set_password(self, user_id: int, new: str) -> None:
        """Set a password (admin reset or own change) and revoke every session of the user."""
        user = self.get_user(user_id)
        check_password_policy(new, user.username)
        password_hash = hash_password(new)

        def job(conn: Connection) -> None:
            now = now_us()
            repo.update_user(
                conn,
                user_id,
                password_hash=password_hash,
                password_changed_at=now,
                token_version=user.token_version + 1,
                failed_logins=0,
                locked_until=None,
            )
            repo.revoke_user_sessions(conn, user_id, now)

        self.database.run_write(job)

    # --- sign-in -----------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> UserRecord:
        """The user whose password matches; counts failures and locks the account after N."""
        with self.database.read() as conn:
            user = repo.get_user_by_name(conn, username)
        now = now_us()
        if user is None or not user.active:
            burn_verification_time()
            raise Unauthenticated("wrong username or password")
        if user.locked_until and user.locked_until > now:
            raise Locked(f"account locked until {_iso(user.locked_until)} after failed sign-ins")
        if not verify_password(user.password_hash, password):
            self._record_failure(user.id)
            raise Unauthenticated("wrong username or password")
        if user.failed_logins or user.locked_until:
            self.database.run_write(
                lambda conn: repo.update_user(conn, user.id, failed_logins=0, locked_until=None)
            )
        return user

    def _record_failure(self, user_id: int) -> None:
        def job(conn: Connection) -> None:
            user = _must(repo.get_user(conn, user_id), "user")
            failures = user.failed_logins + 1
            values: dict[str, Any] = {"failed_logins": failures}
            if failures >= self.config.lockout_after:
                # Time-based release: the lock lifts by itself; the counter restarts then.
                values["locked_until"] = now_us() + self.config.lockout_s * SECOND_US
                values["failed_logins"] = 0
            repo.update_user(conn, user_id, **values)

        self.database.run_write(job)

    def issue_tokens(self, user: UserRecord, client: str | None) -> TokenPair:
        """Open a token session for `user`: an access JWT and a refresh token."""
        session_id = uuid.uuid4().hex
        refresh = new_secret()

        def job(conn: Connection) -> None:
            now = now_us()
            repo.insert_session(
                conn,
                {
                    "id": session_id,
                    "user_id": user.id,
                    "kind": "token",
                    "token_version": user.token_version,
                    "created_at": now,
                    "expires_at": now + self.config.refresh_ttl_s * SECOND_US,
                    "client": client,
                },
            )
            self._store_refresh(conn, session_id, refresh, now)

        self.database.run_write(job)
        return TokenPair(self._access_token(user, session_id), refresh, self.config.access_ttl_s)

    def _store_refresh(self, conn: Connection, session_id: str, refresh: str, now: int) -> None:
        repo.insert_refresh_token(
            conn,
            {
                "token_hash": digest(refresh),
                "session_id": session_id,
                "issued_at": now,
                "expires_at": now + self.config.refresh_ttl_s * SECOND_US,
            },
        )

    def _access_token(self, user: UserRecord, session_id: str) -> str:
        now = now_us()
        now_s = now // SECOND_US
        # Rounded up, so a token lives at least its TTL (never a fraction of a second less).
        expires_s = -(-(now + self.config.access_ttl_s * SECOND_US) // SECOND_US)
        return self.signer.sign(
            {
                "sub": str(user.id),
                "name": user.username,
                "role": user.role,
                "sid": session_id,
                "ver": user.token_version,
                "iat": now_s,
                "exp": expires_s,
                "jti": uuid.uuid4().hex,
            }
        )

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token; a replayed one ends its whole session (theft detection)."""
        token_hash = digest(refresh_token)
        new_refresh = new_secret()

        def job(conn: Connection) -> tuple[UserRecord, str] | None:
            now = now_us()
            row = repo.get_refresh_token(conn, token_hash)
            if row is None or row.expires_at <= now:
                raise Unauthenticated("unknown or expired refresh token")
            if not repo.mark_refresh_used(conn, token_hash, now):
                repo.revoke_session(conn, row.session_id, now)
                return None
            session = repo.get_session(conn, row.session_id)
            user = repo.get_user(conn, session.user_id)
            if not _session_valid(session, user, now):
                raise Unauthenticated("the session has ended; sign in again")
            assert user is not None
            self._store_refresh(conn, row.session_id, new_refresh, now)
            return user, row.session_id

        result = self.database.run_write(job)
        if result is None:
            # Raised after the job so that the revocation above is committed.
            raise Unauthenticated("refresh token reused; the session is revoked, sign in again")
        user, session_id = result
        return TokenPair(
            self._access_token(user, session_id), new_refresh, self.config.access_ttl_s
        )

    def open_cookie_session(self, user: UserRecord, client: str | None) -> CookieSession:
        """Open a web session: an HTTP-only cookie secret plus a CSRF token."""
        secret, csrf = new_secret(), new_secret(24)

        def job(conn: Connection) -> None:
            now = now_us()
            repo.insert_session(
                conn,
                {
                    "id": uuid.uuid4().hex,
                    "user_id": user.id,
                    "kind": "cookie",
                    "secret_hash": digest(secret),
                    "csrf_token": csrf,
                    "token_version": user.token_version,
                    "created_at": now,
                    "expires_at": now + self.config.cookie_ttl_s * SECOND_US,
                    "client": client,
                },
            )

        self.database.run_write(job)
        return CookieSession(secret, csrf, self.config.cookie_ttl_s)

    def sign_out(self, session_id: str) -> None:
        """End a session: its access tokens, refresh tokens or cookie stop working."""
        self.database.run_write(lambda conn: repo.revoke_session(conn, session_id, now_us()))

    # --- who is calling ----------------------------------------------------------------------

    def principal_from_access_token(self, token: str) -> Principal:
        """The caller behind a bearer token, checked against its session and user."""
        claims = self.signer.read(token)
        with self.database.read() as conn:
            session = repo.get_session(conn, str(claims["sid"]))
            user = repo.get_user(conn, int(claims["sub"]))
            if not _session_valid(session, user, now_us()) or session.kind != "token":
                raise Unauthenticated("the session of this token has ended; sign in again")
            assert user is not None
            return self._principal(conn, user, "token", session.id)

    def principal_from_cookie(self, secret: str) -> Principal:
        """The caller behind a session cookie."""
        with self.database.read() as conn:
            session = repo.get_cookie_session(conn, digest(secret))
            user = repo.get_user(conn, session.user_id) if session else None
            if not _session_valid(session, user, now_us()):
                raise Unauthenticated("the session has ended; sign in again")
            assert user is not None
            principal = self._principal(conn, user, "cookie", session.id)
        return _with_csrf(principal, session.csrf_token)

    def cached_key_principal(self, key: str) -> Principal | None:
        """The principal of a recently checked, still valid API key; None to look it up."""
        cached = self._key_cache.get(digest(key))
        if cached is None or cached[0] < time.monotonic():
            return None
        _, principal, expires_at = cached
        if expires_at is not None and expires_at <= now_us():
            return None
        return principal

    def forget_cached_keys(self) -> None:
        """Drop every cached key check (after a revocation or an owner's change here)."""
        self._key_cache.clear()

    def principal_from_api_key(self, key: str) -> Principal:
        """The caller behind an API key (X-API-Key or the IoT Agent's k=)."""
        key_hash = digest(key)
        principal, expires_at = self._check_api_key(key_hash)
        if self.config.key_cache_s > 0:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            deadline = time.monotonic() + self.config.key_cache_s
            self._key_cache[key_hash] = (deadline, principal, expires_at)
        return principal

    def _check_api_key(self, key_hash: str) -> tuple[Principal, int | None]:
        with self.database.read() as conn:
            row = repo.get_api_key_by_hash(conn, key_hash)
            if row is None or row.revoked_at is not None:
                raise Unauthenticated("unknown or revoked API key")
            if row.expires_at is not None and row.expires_at <= now_us():
                raise Unauthenticated("expired API key")
            if row.user_id is not None:
                owner = repo.get_user(conn, row.user_id)
                if owner is None or not owner.active or owner.anonymised_at is not None:
                    raise Unauthenticated("the owner of this API key is no longer active")
            role = Role(row.role)
            principal = Principal(
                role=role,
                user_id=row.user_id,
                username=None,
                entity_types=narrowed_types(role, None, row.entity_types),
                via="apikey",
                key_id=row.id,
            )
            return principal, row.expires_at

    def _principal(self, conn: Connection, user: UserRecord, via: str, sid: str) -> Principal:
        role = Role(user.role)
        dept_types = repo.department_types(conn, user.departments)
        return Principal(
            role=role,
            user_id=user.id,
            username=user.username,
            departments=frozenset(user.departments),
            entity_types=narrowed_types(role, dept_types, None),
            via=via,
            session_id=sid,
        )

    # --- API keys ----------------------------------------------------------------------------

    def create_api_key(
        self,
        name: str,
        role: str = "integrator",
        user_id: int | None = None,
        entity_types: Sequence[str] | None = None,
        device_group: str | None = None,
        expires_at: int | None = None,
    ) -> NewApiKey:
        """Create a key for a device group or an integrator; the plaintext is returned once."""
        role_ = _role(role)
        if role_ not in (Role.INTEGRATOR, Role.OPERATOR):
            raise InvalidInput("API keys are for integrators and devices (role integrator)")
        key_id, key = uuid.uuid4().hex[:12], "sck_" + new_secret(30)
        record = {
            "id": key_id,
            "key_hash": digest(key),
            "prefix": key[:8],
            "name": name,
            "role": role_.value,
            "user_id": user_id,
            "entity_types": list(entity_types) if entity_types is not None else None,
            "device_group": device_group,
            "created_at": now_us(),
            "expires_at": expires_at,
        }

        def job(conn: Connection) -> None:
            if user_id is not None and repo.get_user(conn, user_id) is None:
                raise InvalidInput(f"userId {user_id}: no such user")
            repo.insert_api_key(conn, record)

        self.database.run_write(job)
        shown = {k: v for k, v in record.items() if k != "key_hash"}
        return NewApiKey(key_id, key, shown)

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every key, without hashes."""
        with self.database.read() as conn:
            return repo.list_api_keys(conn)

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key at once."""
        revoked = self.database.run_write(lambda conn: repo.revoke_api_key(conn, key_id, now_us()))
        self.forget_cached_keys()
        if not revoked:
            raise NotFound(f"no API key {key_id}")

    # --- departments -------------------------------------------------------------------------

    def list_departments(self) -> list[dict[str, Any]]:
        """All departments."""
        with self.database.read() as conn:
            return repo.list_departments(conn)

    def save_department(
        self,
        code: str,
        name_vi: str,
        name_en: str,
        entity_types: Sequence[str] = (),
        active: bool = True,
    ) -> dict[str, Any]:
        """Create or replace a department."""
        code = _check_code(code)
        values = {
            "code": code,
            "name_vi": name_vi,
            "name_en": name_en,
            "entity_types": list(entity_types),
            "active": active,
        }

        def job(conn: Connection) -> dict[str, Any]:
            repo.upsert_department(conn, values, repo.get_department(conn, code) is not None)
            return _must(repo.get_department(conn, code), "department")

        return self.database.run_write(job)

    # --- personal-data rights (Law 91/2025/QH15, Decree 356/2025/NĐ-CP) ---------------------

    def export_user_data(self, user_id: int) -> dict[str, Any]:
        """Everything the accounts layer holds about a user, as JSON-ready data."""
        with self.database.read() as conn:
            user = _must(repo.get_user(conn, user_id), "user")
            return {
                "exportedAt": _iso(now_us()),
                "account": user.public(),
                "sessions": repo.user_sessions(conn, user_id),
                "dataRequests": repo.list_data_requests(conn, user_id),
            }

    def request_data_action(self, user_id: int, kind: str, today: date | None = None) -> int:
        """Record an export or erasure request with its two-working-day acknowledgement date."""
        if kind not in ("export", "erasure"):
            raise InvalidInput("kind is export or erasure")
        day = today or datetime.now(VIETNAM).date()
        values = {
            "user_id": user_id,
            "kind": kind,
            "status": "received",
            "requested_at": now_us(),
            "acknowledge_by": add_working_days(day, 2).isoformat(),
        }
        return self.database.run_write(lambda conn: repo.insert_data_request(conn, values))

    def list_data_requests(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """Personal-data requests, of one user or all."""
        with self.database.read() as conn:
            return repo.list_data_requests(conn, user_id)

    def complete_data_request(self, request_id: int, note: str | None = None) -> dict[str, Any]:
        """Carry out a request: erasure anonymises the user; both end as done."""

        def job(conn: Connection) -> dict[str, Any]:
            request = repo.get_data_request(conn, request_id)
            if request is None:
                raise NotFound(f"no data request {request_id}")
            if request["status"] == "done":
                raise Conflict(f"data request {request_id} is done already")
            now = now_us()
            if request["kind"] == "erasure":
                _anonymise(conn, request["user_id"], now)
            repo.update_data_request(conn, request_id, status="done", completed_at=now, note=note)
            return _must(repo.get_data_request(conn, request_id), "data request")

        done = self.database.run_write(job)
        self.forget_cached_keys()
        return done


def _anonymise(conn: Connection, user_id: int, now: int) -> None:
    """Erase what identifies a person but keep the row, so references stay valid."""
    repo.update_user(
        conn,
        user_id,
        username=f"erased-{user_id}",
        password_hash=hash_password(new_secret()),
        full_name=None,
        email=None,
        phone=None,
        active=False,
        anonymised_at=now,
    )
    repo.revoke_user_sessions(conn, user_id, now)
    repo.forget_session_clients(conn, user_id)
    repo.revoke_user_api_keys(conn, user_id, now)


def _session_valid(session: Any, user: UserRecord | None, now: int) -> bool:
    return (
        session is not None
        and user is not None
        and user.active
        and session.revoked_at is None
        and session.expires_at > now
        and session.token_version == user.token_version
    )


def _with_csrf(principal: Principal, csrf: str | None) -> Principal:
    return replace(principal, csrf_token=csrf)


def _role(role: str) -> Role:
    try:
        value = Role(role)
    except ValueError:
        value = Role.ANONYMOUS
    if value not in ASSIGNABLE_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in ASSIGNABLE_ROLES)}")
    return value


def _check_username(username: str) -> str:
    name = username.strip()
    if not (3 <= len(name) <= 64) or any(c.isspace() or c in ":/" for c in name):
        raise InvalidInput("username: 3–64 characters, no spaces, ':' or '/'")
    return name


def _check_code(code: str) -> str:
    value = code.strip().upper()
    if not value or len(value) > 32 or not all(c.isalnum() or c in "-_" for c in value):
        raise InvalidInput("department code: letters, digits, '-' or '_' (at most 32)")
    return value


def _check_departments(conn: Connection, codes: Sequence[str]) -> None:
    known = {d["code"] for d in repo.list_departments(conn)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise InvalidInput(f"unknown department(s): {', '.join(unknown)}")


def _must(value: T | None, what: str) -> T:
    if value is None:
        raise NotFound(f"no such {what}")
    return value


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / SECOND_US, UTC).isoformat(timespec="seconds")
