"""Helpers of the alerting tests: a real SMTP server (aiosmtpd), users, readings, waiting."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from tests.core.context.test_subscriptions import wait_for

__all__ = ["MailServer", "StreamReader", "free_port", "reading", "sse_events", "wait_for"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailServer:
    """An aiosmtpd SMTP server on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list[Message]:
        """The messages sent to `address`."""
        return [m for m in self.messages if address in str(m["To"])]

    def close(self) -> None:
        """Stop the server."""
        self.controller.stop()


def reading(client: TestClient, entity_id: str, level: float, at: str | None = None) -> None:
    """A new water level of a gauge, as a device or integrator sends it (NGSI-LD PATCH)."""
    value: dict[str, Any] = {"type": "Property", "value": level}
    if at is not None:
        value["observedAt"] = at
    response = client.patch(f"/ngsi-ld/v1/entities/{entity_id}/attrs", json={"waterLevel": value})
    assert response.status_code == 204, response.text


def sse_events(body: str) -> list[str]:
    """The event names of a server-sent event stream, in order."""
    return [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]


class StreamReader:
    """Reads the alert stream for `seconds` in a thread (the stream ends by its `timeout`)."""

    def __init__(self, client: TestClient, headers: dict[str, str], seconds: float) -> None:
        self.body = ""
        self.status = 0

        def read() -> None:
            response = client.get(f"/api/alerts/stream?timeout={seconds}", headers=headers)
            self.status, self.body = response.status_code, response.text

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()

    def result(self, timeout_s: float = 30.0) -> list[str]:
        """The event names once the stream ended."""
        self.thread.join(timeout_s)
        assert self.status == 200, self.body
        return sse_events(self.body)


Check = Callable[[], Any]
