"""ASGI middleware: the audit trail, security headers and the request-size limit."""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcity.core.context.times import now_us

from .audit import AuditEntry, AuditLog
from .deps import SAFE_METHODS, AuditNote

log = logging.getLogger(__name__)


class AuditTrail:
    """Records every write and every read of personal data, with its outcome.

    The row is committed before the response starts, so a client never sees a success
    that left no trace.
    """

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        recorded = False

        async def send_after_audit(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                await self._record(scope, state, int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_after_audit)

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        note = state.get("audit")
        write = scope["method"] not in SAFE_METHODS
        if not write and not (isinstance(note, AuditNote) and note.personal):
            return
        entry = _entry(scope, state, note, status)
        await self.audit.record_async(entry)


def _entry(scope: Scope, state: dict[str, Any], note: Any, status: int) -> AuditEntry:
    principal = note.principal if isinstance(note, AuditNote) else state.get("principal")
    actor = state.get("audit_actor") or (principal.actor if principal else "anonymous")
    query = scope.get("query_string", b"").decode("latin-1")
    resource = scope["path"] + (f"?{_without_secrets(query)}" if query else "")
    client = scope.get("client")
    return AuditEntry(
        at=now_us(),
        actor=actor,
        role=principal.role.value if principal else "anonymous",
        action=f"{scope['method']} {note.action.value}" if note else scope["method"],
        resource=resource[:2000],
        outcome=_outcome(status),
        status=status,
        client=client[0] if client else None,
        detail=note.detail if isinstance(note, AuditNote) else None,
    )


def _without_secrets(query: str) -> str:
    """Drop the IoT Agent `k=` API key from what the audit log keeps."""
    return "&".join(p for p in query.split("&") if not p.startswith("k="))


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403, 423, 429):
        return "denied"
    return "error"


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The API documentation pages load FastAPI's Swagger UI and ReDoc; everything else is ours.
STRICT_CSP = b"default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the usual protective headers to every HTTP response."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not docs:
                    headers.append((b"content-security-policy", STRICT_CSP))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """413 for request bodies whose declared length is above the limit.

    Bodies streamed without a length are capped where they are read: the NGSI-LD body
    reader counts bytes, and Starlette's form parser limits its parts.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The NGSI-LD body reader enforces the same limit with an NGSI-LD ProblemDetails.
        if scope["type"] != "http" or scope["path"].startswith("/ngsi-ld/"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        await self.app(scope, receive, send)


async def _too_large(send: Send, max_bytes: int) -> None:
    body = (
        b'{"type":"about:blank","title":"Payload too large","status":413,'
        b'"detail":"request body above ' + str(max_bytes).encode() + b' bytes"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
