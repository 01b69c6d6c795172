"""FastAPI dependencies: who is calling (`current_principal`) and may they (`Permission`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from .audit import AuditLog
from .credentials import same
from .errors import Forbidden, TooManyRequests, Unauthenticated
from .policy import ANONYMOUS, Action, Principal, Resource, allowed
from .ratelimit import RateLimits
from .service import AuthService

SESSION_COOKIE = "smartcity_session"
CSRF_COOKIE = "smartcity_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Resources whose reads are reads of personal data: each one is audited.
PERSONAL_RESOURCES = frozenset(
    {
        Resource.PERSONAL_CONTEXT,
        Resource.OWN_ACCOUNT,
        Resource.USERS,
        Resource.AUDIT,
        Resource.DATA_REQUESTS,
    }
)


@dataclass
class AuthState:
    """What the auth dependencies need, kept on app.state.auth."""

    service: AuthService
    audit: AuditLog
    limits: RateLimits
    public_context_read: bool
    personal_entity_types: frozenset[str]
    secure_cookies: bool


def auth_state(request: Request) -> AuthState:
    """The auth state of this app."""
    state: AuthState = request.app.state.auth
    return state


@dataclass
class AuditNote:
    """What the audit middleware records about this request once the response is known."""

    principal: Principal
    action: Action
    resource: Resource
    personal: bool
    detail: str | None = None


def client_address(request: Request) -> str | None:
    """The client's address as the server saw it."""
    return request.client.host if request.client else None


async def current_principal(request: Request) -> Principal:
    """The caller of this request (anonymous when no credentials came); 401 on bad ones."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    state = auth_state(request)
    principal = await _resolve(request, state)
    if not principal.authenticated:
        state.limits.hit_anonymous(client_address(request) or "unknown")
    request.state.principal = principal
    return principal


async def _resolve(request: Request, state: AuthState) -> Principal:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use 'Authorization: Bearer <access token>'")
        return await run_in_threadpool(state.service.principal_from_access_token, token.strip())
    key = request.headers.get("x-api-key") or request.query_params.get("k")
    if key:
        cached = state.service.cached_key_principal(key)
        if cached is not None:
            return cached
        return await run_in_threadpool(state.service.principal_from_api_key, key)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await run_in_threadpool(state.service.principal_from_cookie, cookie)
        _check_csrf(request, principal)
        return principal
    return ANONYMOUS


def _check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token in a header."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
        raise Forbidden("missing or wrong X-CSRF-Token for a cookie-authenticated write")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class Permission:
    """Route dependency: the caller must hold `action` on `resource` (the policy table).

    Every route declares one; the authorization matrix test reads them from the route table.
    """

    def __init__(self, action: Action, resource: Resource) -> None:
        self.action = action
        self.resource = resource

    def __repr__(self) -> str:
        return f"Permission({self.action.value}, {self.resource.value})"

    async def __call__(self, request: Request) -> Principal:
        """The principal, when the policy allows it; 401 or 403 otherwise."""
        request.state.audit = AuditNote(ANONYMOUS, self.action, self.resource, self.personal)
        principal = await self._caller(request)
        request.state.audit.principal = principal
        if self.permits(principal, auth_state(request)):
            return principal
        if not principal.authenticated:
            raise Unauthenticated(f"sign in to {self.action.value} {self.resource.value}")
        raise Forbidden(
            f"role {principal.role.value} may not {self.action.value} {self.resource.value}"
        )

    async def _caller(self, request: Request) -> Principal:
        if self.resource is Resource.TELEMETRY:
            # `k=` here is a device group's apikey, not a platform key: the ingest path
            # checks it. Platform credentials play no part.
            request.state.principal = ANONYMOUS
            return ANONYMOUS
        if self.resource is not Resource.SIGN_IN:
            return await current_principal(request)
        try:
            return await current_principal(request)
        except (Unauthenticated, Forbidden):
            # A stale cookie, an expired token or a live cookie without its CSRF header
            # must not stop anyone from signing in (again, or as someone else).
            request.state.principal = ANONYMOUS
            return ANONYMOUS

    @property
    def personal(self) -> bool:
        """Whether this permission guards personal data (its reads are audited)."""
        return self.resource in PERSONAL_RESOURCES

    def permits(self, principal: Principal, state: AuthState) -> bool:
        """The policy decision for this principal (narrowing is the route's job)."""
        if allowed(principal, self.action, self.resource):
            return True
        return (
            state.public_context_read
            and self.resource is Resource.CONTEXT
            and self.action is Action.READ
        )


def note_audit_detail(request: Request, detail: str) -> None:
    """Add what exactly was touched (ids, counts) to this request's audit row."""
    note = getattr(request.state, "audit", None)
    if isinstance(note, AuditNote):
        note.detail = detail if note.detail is None else f"{note.detail}; {detail}"


def mark_personal_read(request: Request, detail: str) -> None:
    """This read returned personal data: audit it even though the route is not personal."""
    note = getattr(request.state, "audit", None)
    if isinstance(note, AuditNote):
        note.personal = True
    note_audit_detail(request, detail)


def require_rate(request: Request, key: str) -> None:
    """Count one sign-in attempt for `key`; 429 past the limit."""
    if not auth_state(request).limits.hit_sign_in(key):
        raise TooManyRequests("too many sign-in attempts; wait a minute")
