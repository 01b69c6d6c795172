"""Routes of the accounts layer: /auth (sign-in, own account) and /api/admin (administration)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .audit import AuditFilter
from .deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthState,
    Permission,
    auth_state,
    client_address,
    require_rate,
)
from .errors import AuthError, InvalidInput
from .policy import Action, Principal, Resource
from .schemas import (
    ApiKeyIn,
    DataRequestDone,
    DepartmentIn,
    PasswordChange,
    PasswordReset,
    UserIn,
    UserPatch,
)

R, W = Action.READ, Action.WRITE
State = Annotated[AuthState, Depends(auth_state)]


def _needs(action: Action, resource: Resource) -> Any:
    return Depends(Permission(action, resource))


SignIn = Annotated[Principal, _needs(W, Resource.SIGN_IN)]
OwnRead = Annotated[Principal, _needs(R, Resource.OWN_ACCOUNT)]
OwnWrite = Annotated[Principal, _needs(W, Resource.OWN_ACCOUNT)]

auth_router = APIRouter(prefix="/auth", tags=["accounts"])
admin_router = APIRouter(prefix="/api/admin", tags=["administration"])


# --- sign-in -------------------------------------------------------------------------------


@auth_router.post("/token")
async def token(
    request: Request,
    state: State,
    _: SignIn,
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
) -> Response:
    """OAuth2 token endpoint: password grant or refresh-token rotation (RFC 6749)."""
    try:
        if grant_type == "password":
            if not username or not password:
                return _oauth_error("invalid_request", "username and password are required")
            request.state.audit_actor = username
            _limit_sign_in(request, username)
            user = await run_in_threadpool(state.service.authenticate, username, password)
            pair = await run_in_threadpool(
                state.service.issue_tokens, user, client_address(request)
            )
        elif grant_type == "refresh_token":
            if not refresh_token:
                return _oauth_error("invalid_request", "refresh_token is required")
            pair = await run_in_threadpool(state.service.refresh, refresh_token)
        else:
            return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")
    except AuthError as exc:
        # RFC 6749 answers 400, but for the audit log a refused sign-in is a denial.
        request.state.audit_outcome = "denied"
        error = "invalid_request" if exc.status in (423, 429) else "invalid_grant"
        return _oauth_error(error, exc.detail, exc.status if exc.status != 401 else 400)
    return JSONResponse(pair.as_oauth2(), headers={"Cache-Control": "no-store"})


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _limit_sign_in(request: Request, username: str) -> None:
    require_rate(request, f"client:{client_address(request)}")
    require_rate(request, f"user:{username.lower()}")


@auth_router.post("/session", status_code=204)
async def open_session(
    request: Request,
    state: State,
    _: SignIn,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    """Web sign-in: sets an HTTP-only session cookie and a readable CSRF cookie."""
    request.state.audit_actor = username
    _limit_sign_in(request, username)
    user = await run_in_threadpool(state.service.authenticate, username, password)
    session = await run_in_threadpool(
        state.service.open_cookie_session, user, client_address(request)
    )
    response = Response(status_code=204)
    common: dict[str, Any] = {
        "max_age": session.max_age,
        "samesite": "strict",
        "secure": state.secure_cookies,
        "path": "/",
    }
    response.set_cookie(SESSION_COOKIE, session.secret, httponly=True, **common)
    # Readable by the page's script, which echoes it in X-CSRF-Token on every write.
    response.set_cookie(CSRF_COOKIE, session.csrf_token, httponly=False, **common)
    return response


@auth_router.delete("/session", status_code=204)
async def close_session(state: State, principal: OwnWrite) -> Response:
    """Web sign-out: ends the session and clears its cookies."""
    await _sign_out(state, principal)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@auth_router.post("/logout", status_code=204)
async def logout(state: State, principal: OwnWrite) -> Response:
    """End the session of this access token (its refresh tokens die with it)."""
    await _sign_out(state, principal)
    return Response(status_code=204)


async def _sign_out(state: AuthState, principal: Principal) -> None:
    if not principal.session_id:
        raise InvalidInput("API keys have no session; revoke the key instead")
    await run_in_threadpool(state.service.sign_out, principal.session_id)


# --- own account ---------------------------------------------------------------------------


@auth_router.get("/me")
async def me(state: State, principal: OwnRead) -> dict[str, Any]:
    """Who am I: the account, role and departments of the caller."""
    if principal.user_id is None:
        return {"apiKey": principal.key_id, "role": principal.role.value}
    user = await run_in_threadpool(state.service.get_user, principal.user_id)
    return user.public()


@auth_router.post("/password", status_code=204)
async def change_password(body: PasswordChange, state: State, principal: OwnWrite) -> Response:
    """Change one's own password; every session, token and cookie issued before ends."""
    user_id = _own_user(principal)
    await run_in_threadpool(state.service.change_password, user_id, body.current, body.new)
    return Response(status_code=204)


@auth_router.get("/me/export")
async def export_my_data(state: State, principal: OwnRead) -> Response:
    """Everything the platform holds about the caller, as a JSON download."""
    user_id = _own_user(principal)
    data = await run_in_threadpool(state.service.export_user_data, user_id)
    return JSONResponse(
        data,
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


@auth_router.post("/me/erasure", status_code=202)
async def request_erasure(state: State, principal: OwnWrite) -> dict[str, Any]:
    """Ask for erasure; recorded with its two-working-day acknowledgement deadline."""
    user_id = _own_user(principal)
    request_id = await run_in_threadpool(state.service.request_data_action, user_id, "erasure")
    requests = await run_in_threadpool(state.service.list_data_requests, user_id)
    return next(r for r in requests if r["id"] == request_id)


@auth_router.get("/me/data-requests")
async def my_data_requests(state: State, principal: OwnRead) -> list[dict[str, Any]]:
    """The caller's own personal-data requests and their status."""
    return await run_in_threadpool(state.service.list_data_requests, _own_user(principal))


def _own_user(principal: Principal) -> int:
    if principal.user_id is None:
        raise InvalidInput("this needs a user account, not an API key")
    return principal.user_id


# --- administration ------------------------------------------------------------------------


@admin_router.get("/users", dependencies=[_needs(R, Resource.USERS)])
async def list_users(state: State, role: str | None = None) -> list[dict[str, Any]]:
    """All users (optionally of one role)."""
    users = await run_in_threadpool(state.service.list_users, role)
    return [u.public() for u in users]


@admin_router.post("/users", status_code=201, dependencies=[_needs(W, Resource.USERS)])
async def create_user(body: UserIn, state: State) -> dict[str, Any]:
    """Create a user."""
    user = await run_in_threadpool(
        state.service.create_user,
        body.username,
        body.password,
        body.role,
        body.departments,
        body.fullName,
        body.email,
        body.phone,
    )
    return user.public()


@admin_router.get("/users/{user_id}", dependencies=[_needs(R, Resource.USERS)])
async def get_user(user_id: int, state: State) -> dict[str, Any]:
    """One user."""
    return (await run_in_threadpool(state.service.get_user, user_id)).public()


@admin_router.patch("/users/{user_id}", dependencies=[_needs(W, Resource.USERS)])
async def update_user(user_id: int, body: UserPatch, state: State) -> dict[str, Any]:
    """Change a user's role, departments or active flag."""
    user = await run_in_threadpool(
        state.service.update_user, user_id, body.role, body.departments, body.active
    )
    return user.public()


@admin_router.post(
    "/users/{user_id}/password", status_code=204, dependencies=[_needs(W, Resource.USERS)]
)
async def reset_password(user_id: int, body: PasswordReset, state: State) -> Response:
    """Set a user's password (their sessions end)."""
    await run_in_threadpool(state.service.set_password, user_id, body.password)
    return Response(status_code=204)


@admin_router.get("/departments", dependencies=[_needs(R, Resource.DEPARTMENTS)])
async def list_departments(state: State) -> list[dict[str, Any]]:
    """The city's departments and the entity types each manages."""
    return await run_in_threadpool(state.service.list_departments)


@admin_router.put("/departments/{code}", dependencies=[_needs(W, Resource.DEPARTMENTS)])
async def save_department(code: str, body: DepartmentIn, state: State) -> dict[str, Any]:
    """Create or replace a department."""
    return await run_in_threadpool(
        state.service.save_department,
        code,
        body.nameVi,
        body.nameEn,
        body.entityTypes,
        body.active,
    )


@admin_router.get("/api-keys", dependencies=[_needs(R, Resource.API_KEYS)])
async def list_api_keys(state: State) -> list[dict[str, Any]]:
    """Every API key (never the key itself)."""
    return await run_in_threadpool(state.service.list_api_keys)


@admin_router.post("/api-keys", status_code=201, dependencies=[_needs(W, Resource.API_KEYS)])
async def create_api_key(body: ApiKeyIn, state: State) -> Response:
    """Create an API key; the response is the only time the key is shown."""
    new = await run_in_threadpool(
        state.service.create_api_key,
        body.name,
        body.role,
        body.userId,
        body.entityTypes,
        body.deviceGroup,
        body.expiresAt,
    )
    return JSONResponse(
        {**new.record, "key": new.key}, status_code=201, headers={"Cache-Control": "no-store"}
    )


@admin_router.delete(
    "/api-keys/{key_id}", status_code=204, dependencies=[_needs(W, Resource.API_KEYS)]
)
async def revoke_api_key(key_id: str, state: State) -> Response:
    """Revoke an API key at once."""
    await run_in_threadpool(state.service.revoke_api_key, key_id)
    return Response(status_code=204)


def _audit_filter(
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    resource: str | None = None,
    since: int | None = Query(None, description="epoch microseconds"),
    until: int | None = Query(None, description="epoch microseconds"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> AuditFilter:
    return AuditFilter(actor, action, outcome, resource, since, until, limit, offset)


Filter = Annotated[AuditFilter, Depends(_audit_filter)]


@admin_router.get("/audit", dependencies=[_needs(R, Resource.AUDIT)])
async def audit_rows(state: State, flt: Filter) -> Response:
    """Audit rows, newest first, filtered; the total in X-Total-Count."""
    rows, total = await run_in_threadpool(state.audit.query, flt)
    return JSONResponse(rows, headers={"X-Total-Count": str(total)})


@admin_router.get("/audit.csv", dependencies=[_needs(R, Resource.AUDIT)])
async def audit_csv(state: State, flt: Filter) -> Response:
    """The filtered audit log as CSV, oldest first."""
    chunks = await run_in_threadpool(lambda: list(state.audit.export_csv(flt)))
    return StreamingResponse(
        iter(chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


@admin_router.get("/audit/verify", dependencies=[_needs(R, Resource.AUDIT)])
async def audit_verify(state: State) -> dict[str, Any]:
    """Recompute the hash chain; reports the first row that was altered."""
    check = await run_in_threadpool(state.audit.verify)
    return {"ok": check.ok, "rows": check.rows, "firstBadSeq": check.first_bad_seq}


@admin_router.get("/data-requests", dependencies=[_needs(R, Resource.DATA_REQUESTS)])
async def list_data_requests(state: State) -> list[dict[str, Any]]:
    """All citizens' personal-data requests, newest first, with their deadlines."""
    return await run_in_threadpool(state.service.list_data_requests, None)


@admin_router.post(
    "/data-requests/{request_id}/complete", dependencies=[_needs(W, Resource.DATA_REQUESTS)]
)
async def complete_data_request(
    request_id: int, body: DataRequestDone, state: State
) -> dict[str, Any]:
    """Carry out a request (erasure anonymises the account) and close it."""
    return await run_in_threadpool(state.service.complete_data_request, request_id, body.note)
