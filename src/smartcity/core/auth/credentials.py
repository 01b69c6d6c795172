"""Password hashing (argon2id), password policy, random secrets and signed access tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import InvalidInput, Unauthenticated

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_HASHER = PasswordHasher()

#: Passwords so common that the length rule alone would let them through.
_COMMON = frozenset(
    {
        "password123",
        "1234567890",
        "123456789a",
        "qwertyuiop",
        "matkhau123",
        "admin12345",
        "cantho2025",
        "iloveyou12",
    }
)
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches the stored argon2 hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_verification_time() -> None:
    """Spend a verification's time, so an unknown username answers as slowly as a known one."""
    verify_password(_DUMMY_HASH, "not-the-password")


_DUMMY_HASH = _HASHER.hash("dummy-password-for-timing")


def check_password_policy(password: str, username: str) -> None:
    """Refuse passwords that are short, single-class, common or contain the username."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if not (any(c.isalpha() for c in password) and any(not c.isalpha() for c in password)):
        problems.append("letters and at least one digit or symbol")
    if password.lower() in _COMMON:
        problems.append("not a commonly used password")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if problems:
        raise InvalidInput("password policy: " + "; ".join(problems))


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (refresh tokens, cookies, API keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class TokenSigner:
    """Signs and checks the short-lived JWT access tokens (HS256)."""

    key: str
    issuer: str = "smartcity"

    def sign(self, claims: dict[str, Any]) -> str:
        """A signed JWT carrying `claims` plus the issuer."""
        return jwt.encode({**claims, "iss": self.issuer}, self.key, algorithm="HS256")

    def read(self, token: str) -> dict[str, Any]:
        """The claims of a valid, unexpired token; Unauthenticated otherwise."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require": ["exp", "sub", "sid", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("access token expired; refresh it") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid access token") from exc
        return claims


def load_secret_key(configured: str | None, data_dir: Path) -> str:
    """The configured secret key, else one generated once into the data dir (never the repo)."""
    if configured:
        return configured
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_secret(48)
    # Created owner-only, so other local users cannot forge tokens.
    path.touch(mode=0o600)
    path.write_text(key)
    return key
