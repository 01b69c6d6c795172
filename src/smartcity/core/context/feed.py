"""The change feed reader: entity changes, in commit order, as events on the bus.

Every write of the broker appends rows to `entity_changes` in its own transaction (see
repository.record_changes), so a change is on the feed exactly when it is stored. This
reader follows the feed from where it started and publishes `entity.create`,
`entity.update` and `entity.delete` events; it wakes up on this process's commits and polls
for other processes' every `poll_s`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository

log = logging.getLogger(__name__)
#: Called with each batch of changes before they are published (subscriptions use it).
BatchHandler = Callable[[list[Event]], object]


class ChangeFeed:
    """Publishes entity-change events from the feed table (see module docstring)."""

    def __init__(
        self, database: Database, bus: EventBus, poll_s: float = 1.0, batch: int = 1000
    ) -> None:
        self.database = database
        self.bus = bus
        self.poll_s = poll_s
        self.batch = batch
        self.handlers: list[BatchHandler] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cursor = 0
        database.on_commit(self._wake.set)

    def start(self) -> None:
        """Follow the feed from its current end, in a background thread."""
        with self.database.read() as conn:
            self.cursor = repository.last_change_seq(conn)
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                while self.drain_once():
                    pass
            except Exception:
                log.exception("change feed failed; retrying")

    def drain_once(self) -> int:
        """Publish the next batch of changes; how many there were."""
        with self.database.read() as conn:
            rows = repository.read_changes(conn, self.cursor, self.batch)
        if not rows:
            return 0
        events = [
            Event(
                f"entity.{row['op']}",
                row["entity_id"],
                {"type": row["entity_type"], "attrs": row["attrs"], "seq": row["seq"]},
                at_us=row["at"],
            )
            for row in rows
        ]
        for handler in self.handlers:
            handler(events)
        for event in events:
            self.bus.publish(event)
        self.cursor = rows[-1]["seq"]
        return len(rows)
