"""Request bodies of the accounts API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_Strict):
    """A new user."""

    username: str
    password: str
    role: str
    departments: list[str] = Field(default_factory=list)
    fullName: str | None = None
    email: str | None = None
    phone: str | None = None


class UserPatch(_Strict):
    """Changes to a user (admin)."""

    role: str | None = None
    departments: list[str] | None = None
    active: bool | None = None


class PasswordChange(_Strict):
    """One's own password change."""

    current: str
    new: str


class PasswordReset(_Strict):
    """An admin setting a user's password."""

    password: str


class ApiKeyIn(_Strict):
    """A new API key."""

    name: str
    role: str = "integrator"
    userId: int | None = None
    entityTypes: list[str] | None = None
    deviceGroup: str | None = None
    expiresAt: int | None = Field(default=None, description="epoch microseconds")


class DepartmentIn(_Strict):
    """A department (create or replace)."""

    nameVi: str
    nameEn: str
    entityTypes: list[str] = Field(default_factory=list)
    active: bool = True


class DataRequestDone(_Strict):
    """Closing a personal-data request."""

    note: str | None = None
