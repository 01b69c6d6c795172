"""ASGI middleware: the audit trail, security headers and the request-size limit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartcity.core.context.times import now_us

from .audit import AuditEntry, AuditLog
from .deps import SAFE_METHODS, AuditNote
from .policy import Resource

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

        try:
            await self.app(scope, receive, send_after_audit)
        except Exception:
            # An unhandled error still answers 500 (outer middleware); record the attempt.
            if not recorded:
                recorded = True
                await self._record(scope, state, 500)
            raise

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        note = state.get("audit")
        if isinstance(note, AuditNote) and note.resource is Resource.TELEMETRY:
            # Device measures are data, not acts of a person: counted in /metrics, refused
            # ones kept as dead letters. Auditing each would double every sensor write.
            return
        write = scope["method"] not in SAFE_METHODS
        if not write and not (isinstance(note, AuditNote) and note.personal):
            return
        entry = _entry(scope, state, note, status)
        await self.audit.record_async(entry)


def _entry(scope: Scope, state: dict[str, Any], note: Any, status: int) -> AuditEntry:
    principal = note.principal if isinstance(note, AuditNote) else state.get("principal")
    actor = state.get("audit_actor") or (principal.actor if principal else "anonymous")
    outcome = state.get("audit_outcome") or _outcome(status)
    query = scope.get("query_string", b"").decode("latin-1")
    resource = scope["path"] + (f"?{_without_secrets(query)}" if query else "")
    client = scope.get("client")
    return AuditEntry(
        at=now_us(),
        actor=actor,
        role=principal.role.value if principal else "anonymous",
        action=f"{scope['method']} {note.action.value}" if note else scope["method"],
        resource=resource[:2000],
        outcome=outcome,
        status=status,
        client=client[0] if client else None,
        detail=note.detail if isinstance(note, AuditNote) else None,
    )


def _without_secrets(query: str) -> str:
    """Drop the IoT Agent `k=` API key (however it is encoded) from what the audit log keeps."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, value) for name, value in pairs if name != "k"])


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
                # A web page states its own (still 'self'-only) policy; everything else the
                # strict one.
                own = any(name.lower() == b"content-security-policy" for name, _ in headers)
                if not docs and not own:
                    headers.append((b"content-security-policy", STRICT_CSP))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """413 for request bodies above the limit, whether declared or streamed.

    A body without Content-Length is read up to the limit before the app sees it (the
    routes here take small forms and JSON); NGSI-LD routes count bytes in their own reader.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Path prefix → limit, for routes that take uploads (citizens' photos).
        self.larger = dict(larger or {})

    def _limit(self, path: str) -> int:
        return next(
            (n for prefix, n in self.larger.items() if path.startswith(prefix)), self.max_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The NGSI-LD body reader enforces the same limit with an NGSI-LD ProblemDetails.
        if scope["type"] != "http" or scope["path"].startswith("/ngsi-ld/"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await _too_large(send, limit)
                return
            await self.app(scope, receive, send)
            return
        messages = await _read_capped(receive, limit)
        if messages is None:
            await _too_large(send, limit)
            return
        await self.app(scope, _replay(messages, receive), send)


async def _read_capped(receive: Receive, max_bytes: int) -> list[Message] | None:
    """The request's body messages, or None once they pass `max_bytes`."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > max_bytes:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


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
