"""The event bus: in-process publish/subscribe of platform events (device offline, commands…).

Handlers run synchronously in the publisher's thread; one that fails is logged and does
not stop the others or the publisher. A NATS adapter for several processes comes with the
alerts work (see ARCHITECTURE.md).
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


Handler = Callable[[Event], None]


class EventBus:
    """Topic-prefix subscriptions: `device.` receives `device.offline` and `device.online`."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, Handler]] = []
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

    def publish(self, event: Event) -> None:
        """Deliver `event` to every matching handler."""
        with self._lock:
            handlers = [h for prefix, h in self._handlers if event.topic.startswith(prefix)]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s", event.topic)
