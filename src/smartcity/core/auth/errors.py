"""Errors of the accounts layer; each carries its HTTP status."""

from __future__ import annotations


class AuthError(Exception):
    """Base class: a message for the client and an HTTP status."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(AuthError):
    """The request is malformed or breaks a rule (password policy, unknown role)."""

    status = 400
    title = "Invalid input"


class Unauthenticated(AuthError):
    """No valid credentials: 401 with a WWW-Authenticate challenge."""

    status = 401
    title = "Authentication required"


class Forbidden(AuthError):
    """Authenticated, but the policy does not allow this action."""

    status = 403
    title = "Forbidden"


class NotFound(AuthError):
    """No such user, key, department or request."""

    status = 404
    title = "Not found"


class Conflict(AuthError):
    """The resource exists already (username, department code)."""

    status = 409
    title = "Conflict"


class Locked(AuthError):
    """Too many failed sign-ins: locked until a time."""

    status = 423
    title = "Account locked"


class TooManyRequests(AuthError):
    """A rate limit was hit."""

    status = 429
    title = "Too many requests"
