"""Tables of accounts, sessions, API keys, the audit log and personal-data requests."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

from smartcity.core.db import BigPk, Json

metadata = MetaData()


departments = Table(
    "departments",
    metadata,
    Column("code", Text, primary_key=True),
    Column("name_vi", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    # NGSI-LD entity types (full IRIs or short names) this department manages.
    Column("entity_types", Json, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

users = Table(
    "users",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("full_name", Text, nullable=True),
    Column("email", Text, nullable=True),
    Column("phone", Text, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=True),
    # Bumped on password change: every token and session issued before stops working.
    Column("token_version", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("password_changed_at", BigInteger, nullable=False),
    Column("anonymised_at", BigInteger, nullable=True),
)

user_departments = Table(
    "user_departments",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("department_code", Text, ForeignKey("departments.code"), primary_key=True),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # "token" (OAuth2 access + refresh) or "cookie" (web UI session).
    Column("kind", Text, nullable=False),
    # SHA-256 of the cookie secret (cookie sessions only).
    Column("secret_hash", Text, nullable=True, unique=True),
    Column("csrf_token", Text, nullable=True),
    Column("token_version", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("client", Text, nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("session_id", Text, ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    # Entity types the key may write (NULL: any its role may write).
    Column("entity_types", Json, nullable=True),
    # IoT device group (the FIWARE service group) the key belongs to, if any.
    Column("device_group", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigPk, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("client", Text, nullable=True),
    Column("detail", Text, nullable=True),
    # SHA-256 over the previous row's hash and this row's fields: an edit breaks the chain.
    Column("prev_hash", Text, nullable=False),
    Column("row_hash", Text, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor"),
)

data_requests = Table(
    "data_requests",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # "export" or "erasure"
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    # ISO date: two working days after the request (Decree 356/2025).
    Column("acknowledge_by", Text, nullable=False),
    Column("completed_at", BigInteger, nullable=True),
    Column("note", Text, nullable=True),
)
