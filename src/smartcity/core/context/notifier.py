"""Delivers queued NGSI-LD notifications over HTTP, retrying with backoff while receivers are down.

A notification leaves the outbox only once its receiver answered 2xx; until then it is tried
again after 1, 2, 4 … seconds (at most `max_backoff_s`), so a receiver that was down gets
what it missed, in order, when it comes back. Notifications older than `max_age_s` are given
up (counted as failures on their subscription).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, delete, select, update

from smartcity.core.db import Database

from .tables import notification_outbox, subscriptions
from .times import now_us

log = logging.getLogger(__name__)


class Notifier:
    """The outbox sender thread (see module docstring)."""

    def __init__(
        self,
        database: Database,
        *,
        timeout_s: float = 5.0,
        max_backoff_s: float = 60.0,
        max_age_s: float = 86400.0,
        poll_s: float = 0.5,
    ) -> None:
        self.database = database
        self.max_backoff_s = max_backoff_s
        self.max_age_us = int(max_age_s * 1e6)
        self.poll_s = poll_s
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        database.on_commit(self._wake.set)

    def start(self) -> None:
        """Deliver in a background thread."""
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering (what is left stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.deliver_due()
            except Exception:
                log.exception("notification delivery failed; retrying")

    def deliver_due(self, limit: int = 100) -> int:
        """Try every notification that is due, oldest first, one subscription in order."""
        now = now_us()
        with self.database.read() as conn:
            rows = conn.execute(
                select(notification_outbox)
                .where(notification_outbox.c.next_attempt_at <= now)
                .order_by(notification_outbox.c.id)
                .limit(limit)
            )
            due = [dict(r) for r in rows.mappings()]
        blocked: set[str] = set()
        for row in due:
            if row["subscription_id"] in blocked:
                continue  # keep a subscription's order: wait for its earlier one
            if not self._send(row):
                blocked.add(row["subscription_id"])
        return len(due)

    def _send(self, row: dict[str, Any]) -> bool:
        payload = row["payload"]
        endpoint = payload["endpoint"]
        body: dict[str, Any] = dict(payload["notification"])
        headers = {item["key"]: item["value"] for item in endpoint.get("receiverInfo", [])}
        if endpoint.get("accept") == "application/ld+json":
            body["@context"] = payload["context"]
            headers["Content-Type"] = "application/ld+json"
        else:
            headers["Content-Type"] = "application/json"
            contexts = [c for c in payload["context"] if isinstance(c, str)]
            if contexts:
                rel = "http://www.w3.org/ns/json-ld#context"
                headers["Link"] = f'<{contexts[0]}>; rel="{rel}"; type="application/ld+json"'
        try:
            response = self.client.post(
                endpoint["uri"], content=orjson.dumps(body), headers=headers
            )
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            error = f"{failure.__class__.__name__}: {failure}"
        now = now_us()
        if error is None:
            self.database.run_write(lambda conn: _delivered(conn, row, now))
            return True
        self.database.run_write(lambda conn: _failed(conn, row, now, error, self._backoff(row)))
        return False

    def _backoff(self, row: dict[str, Any]) -> int:
        return int(min(self.max_backoff_s, 2.0 ** row["attempts"]) * 1e6)


def _delivered(conn: Connection, row: dict[str, Any], now: int) -> None:
    conn.execute(delete(notification_outbox).where(notification_outbox.c.id == row["id"]))
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row["subscription_id"])
        .values(times_sent=subscriptions.c.times_sent + 1, last_success=now)
    )


def _failed(conn: Connection, row: dict[str, Any], now: int, error: str, backoff_us: int) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row["subscription_id"])
        .values(last_failure=now)
    )
    conn.execute(
        update(notification_outbox)
        .where(notification_outbox.c.id == row["id"])
        .values(
            attempts=notification_outbox.c.attempts + 1,
            next_attempt_at=now + backoff_us,
            last_error=error[:500],
        )
    )
