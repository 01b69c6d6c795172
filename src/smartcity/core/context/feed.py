"""The change feed reader: entity changes, in commit order, as events on the bus.

Every write of the broker appends rows to `entity_changes` in its own transaction (see
repository.record_changes), so a change is on the feed exactly when it is stored. This
reader follows the feed and publishes `entity.create`, `entity.update` and `entity.delete`
events; it wakes up on this process's commits and polls for other processes' every
`poll_s`. It runs on one process (the leader); its place is saved in `feed_cursors` after
each batch, so a new leader resumes where the old one stopped (a batch in flight when a
leader dies may be handled twice: handlers are at-least-once).

Sequence gaps: on PostgreSQL a transaction that took sequence number n may commit after
one that took n+1, so a reader can see n+1 before n exists. The reader stops before such a
gap and waits up to `gap_wait_s` for it to fill; a gap older than that is a rolled-back
transaction and is passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository
from .times import now_us

log = logging.getLogger(__name__)
#: Called with each batch of changes before they are published (subscriptions, rules).
BatchHandler = Callable[[list[Event]], object]
CURSOR = "leader"


class ChangeFeed:
    """Publishes entity-change events from the feed table (see module docstring)."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        poll_s: float = 1.0,
        batch: int = 1000,
        gap_wait_s: float = 2.0,
    ) -> None:
        self.database = database
        self.bus = bus
        self.poll_s = poll_s
        self.batch = batch
        self.gap_wait_s = gap_wait_s
        self.handlers: list[BatchHandler] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gap_since: dict[int, float] = {}
        self.cursor = 0
        database.on_commit(self._wake.set)

    def mark_start(self) -> None:
        """Save the feed's current end as the place to start, unless a place is saved."""

        def job(conn: Any) -> None:
            if repository.read_cursor(conn, CURSOR) is None:
                repository.save_cursor(conn, CURSOR, repository.last_change_seq(conn))

        self.database.run_write(job)

    def start(self) -> None:
        """Follow the feed from the saved place (else its current end), in a thread."""
        with self.database.read() as conn:
            saved = repository.read_cursor(conn, CURSOR)
            self.cursor = saved if saved is not None else repository.last_change_seq(conn)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.drain_once():
                    pass
            except Exception:
                log.exception("change feed failed; retrying")

    def drain_once(self) -> int:
        """Publish the next batch of changes; how many there were."""
        with self.database.read() as conn:
            rows = self._up_to_gap(repository.read_changes(conn, self.cursor, self.batch))
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
        self.database.run_write(lambda conn: repository.save_cursor(conn, CURSOR, self.cursor))
        return len(rows)

    def purge(self, keep_s: float) -> int:
        """Drop changes older than `keep_s` that the leader has read (a leader job)."""
        before = now_us() - int(keep_s * 1_000_000)

        def job(conn: Any) -> int:
            read_up_to = repository.read_cursor(conn, CURSOR)
            return repository.purge_changes(conn, before, read_up_to or 0)

        return self.database.run_write(job)

    def _up_to_gap(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows before the first young gap in the sequence (see module docstring)."""
        # Cursor 0: the feed was empty when we started, so any first number is the first.
        expected = self.cursor + 1 if self.cursor else None
        for index, row in enumerate(rows):
            gap = expected is not None and row["seq"] != expected
            if gap and not self._gap_expired(expected or 0):
                return rows[:index]
            expected = row["seq"] + 1
        self._gap_since.clear()
        return rows

    def _gap_expired(self, seq: int) -> bool:
        first_seen = self._gap_since.setdefault(seq, time.monotonic())
        return time.monotonic() - first_seen >= self.gap_wait_s
