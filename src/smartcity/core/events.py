"""The event bus: in-process publish/subscribe of platform events (device offline, commands…).

Handlers run synchronously in the publisher's thread; one that fails is logged and does
not stop the others or the publisher. Between processes, a forwarder (the NATS adapter in
core/eventbridge.py) sends every locally published event out and hands events from other
processes to `deliver`, which reaches local handlers only (so nothing loops back).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartcity.core.context.times import now_us

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened: `topic` like `device.offline`, about `subject` (an id)."""

    topic: str
    subject: str
    data: dict[str, Any] = field(default_factory=dict)
    at_us: int = field(default_factory=now_us)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for other processes."""
        return {"topic": self.topic, "subject": self.subject, "data": self.data, "at": self.at_us}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        """The event `to_dict` wrote."""
        return cls(
            str(raw["topic"]), str(raw["subject"]), dict(raw.get("data") or {}), int(raw["at"])
        )


Handler = Callable[[Event], None]


class EventBus:
    """Topic-prefix subscriptions: `device.` receives `device.offline` and `device.online`."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []
        self._forwarders: list[Handler] = []
        self._lock = threading.Lock()

    def subscribe(self, prefix: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every event whose topic starts with `prefix`; returns unsubscribe."""
        entry = (prefix, handler)
        with self._lock:
            self._handlers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._handlers:
                    self._handlers.remove(entry)

        return unsubscribe

    def add_forwarder(self, forward: Handler) -> Callable[[], None]:
        """Also hand every event published here to `forward` (another process's way in)."""
        with self._lock:
            self._forwarders.append(forward)

        def remove() -> None:
            with self._lock:
                if forward in self._forwarders:
                    self._forwarders.remove(forward)

        return remove

    def publish(self, event: Event) -> None:
        """Deliver `event` to every matching handler here and to the forwarders."""
        self.deliver(event)
        with self._lock:
            forwarders = list(self._forwarders)
        for forward in forwarders:
            _call(forward, event)

    def deliver(self, event: Event) -> None:
        """Deliver `event` to the matching handlers of this process only."""
        with self._lock:
            handlers = [h for prefix, h in self._handlers if event.topic.startswith(prefix)]
        for handler in handlers:
            _call(handler, event)


def _call(handler: Handler, event: Event) -> None:
    try:
        handler(event)
    except Exception:
        log.exception("event handler failed for %s", event.topic)
