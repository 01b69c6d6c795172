"""Delivers queued NGSI-LD notifications over HTTP or MQTT, retrying while receivers are down.

A notification leaves the outbox only once its receiver answered 2xx; until then it is tried
again after 1, 2, 4 … seconds (at most `max_backoff_s`), so a receiver that was down gets
what it missed, in order, when it comes back. Notifications older than `max_age_s` are given
up (counted as failures on their subscription).

MQTT endpoints (`mqtt://host:port/topic`) get the NGSI-LD MQTT binding's message: a JSON
object with `metadata` (the receiverInfo headers and the content type) and `body` (the
notification), published with the subscription's `MQTT-QoS` (notifierInfo, default 0); a
QoS 1/2 message counts as delivered once the broker acknowledged it.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Connection, delete, func, select, update

from smartcity.core.db import Database

from .tables import notification_outbox, subscriptions
from .times import now_us

MQTT_TIMEOUT_S = 5.0
#: At most this many entities in one notification made of several waiting ones.
MERGE_MAX = 100
#: Subscriptions delivered to at the same time (each one still in order).
PARALLEL_RECEIVERS = 16

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
        self.http = HttpPoster(timeout_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.mqtt = MqttPublisher()
        self._pool = ThreadPoolExecutor(PARALLEL_RECEIVERS, thread_name_prefix="notify")
        database.on_commit(self._wake.set)

    def start(self) -> None:
        """Deliver in a background thread (again after a stop: leadership may come back)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering (what is left stays in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.mqtt.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                self.deliver_due()
            except Exception:
                log.exception("notification delivery failed; retrying")

    def deliver_due(self, limit: int = 2000) -> int:
        """Try every due notification once: subscriptions in parallel, each in its order."""
        now = now_us()
        with self.database.read() as conn:
            rows = conn.execute(
                select(notification_outbox)
                .where(notification_outbox.c.next_attempt_at <= now)
                .order_by(notification_outbox.c.id)
                .limit(limit)
            )
            due = [dict(r) for r in rows.mappings()]
            due = _not_behind_a_waiting_row(conn, due, now)
        expired = [row for row in due if row["created_at"] < now - self.max_age_us]
        if expired:
            self.database.run_write(lambda conn: _give_up(conn, expired, now))
            due = [row for row in due if row["created_at"] >= now - self.max_age_us]
        if not due:
            return len(expired)
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in due:
            groups.setdefault(row["subscription_id"], []).append(row)
        outcomes = list(self._pool.map(self._send_group, groups.values()))
        self.database.run_write(lambda conn: self._record(conn, outcomes, now_us()))
        return len(due)

    def _send_group(self, rows: list[dict[str, Any]]) -> Outcome:
        """One subscription's due rows, merged into as few notifications as the endpoint
        allows, sent in order; the first failure stops the rest (they keep their order)."""
        outcome = Outcome(rows[0]["subscription_id"])
        for batch in _merged(rows):
            error = self._send(batch)
            if error is not None:
                outcome.failed, outcome.error = batch[0], error
                return outcome
            outcome.delivered += [row["id"] for row in batch]
            outcome.sent += 1
        return outcome

    def _record(self, conn: Connection, outcomes: list[Outcome], now: int) -> None:
        """Delivered rows leave the outbox; a failed subscription waits its backoff."""
        delivered = [row_id for outcome in outcomes for row_id in outcome.delivered]
        if delivered:
            conn.execute(delete(notification_outbox).where(notification_outbox.c.id.in_(delivered)))
        for outcome in outcomes:
            if outcome.sent:
                conn.execute(
                    update(subscriptions)
                    .where(subscriptions.c.id == outcome.subscription_id)
                    .values(times_sent=subscriptions.c.times_sent + outcome.sent, last_success=now)
                )
            if outcome.failed is not None:
                _failed(conn, outcome.failed, now, outcome.error, self._backoff(outcome.failed))

    def _send(self, batch: list[dict[str, Any]]) -> str | None:
        """Send one (merged) notification; None when the receiver took it, else why not."""
        payload = batch[0]["payload"]
        endpoint = payload["endpoint"]
        body: dict[str, Any] = dict(payload["notification"])
        if len(batch) > 1:
            body["data"] = [
                item for row in batch for item in row["payload"]["notification"]["data"]
            ]
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
        if endpoint["uri"].startswith("mqtt"):
            return self.mqtt.publish(endpoint, {"metadata": headers, "body": body})
        return self._post(endpoint["uri"], body, headers)

    def _post(self, uri: str, body: dict[str, Any], headers: dict[str, str]) -> str | None:
        return self.http.post(uri, orjson.dumps(body), headers)

    def _backoff(self, row: dict[str, Any]) -> int:
        return int(min(self.max_backoff_s, 2.0 ** row["attempts"]) * 1e6)


def _failed(conn: Connection, row: dict[str, Any], now: int, error: str, backoff_us: int) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == row["subscription_id"])
        .values(last_failure=now)
    )
    conn.execute(
        update(notification_outbox)
        .where(notification_outbox.c.id == row["id"])
        .values(attempts=notification_outbox.c.attempts + 1, last_error=error[:500])
    )
    # The subscription's later notifications wait too, so they never overtake this one.
    conn.execute(
        update(notification_outbox)
        .where(
            notification_outbox.c.subscription_id == row["subscription_id"],
            notification_outbox.c.id >= row["id"],
        )
        .values(next_attempt_at=now + backoff_us)
    )


def _not_behind_a_waiting_row(
    conn: Connection, due: list[dict[str, Any]], now: int
) -> list[dict[str, Any]]:
    """Drop due rows queued after a row of the same subscription that still waits its backoff.

    A notification queued while an earlier one was failing was never given that backoff, and
    its own (shorter) backoff may end first: sending it then would overtake the earlier one.
    """
    if not due:
        return due
    waiting = conn.execute(
        select(notification_outbox.c.subscription_id, func.min(notification_outbox.c.id))
        .where(notification_outbox.c.next_attempt_at > now)
        .group_by(notification_outbox.c.subscription_id)
    )
    first_waiting = {sub_id: row_id for sub_id, row_id in waiting}
    if not first_waiting:
        return due
    return [r for r in due if r["id"] < first_waiting.get(r["subscription_id"], r["id"] + 1)]


def _give_up(conn: Connection, rows: list[dict[str, Any]], now: int) -> None:
    """Notifications older than max_age leave the outbox, counted as failures."""
    conn.execute(
        delete(notification_outbox).where(notification_outbox.c.id.in_([r["id"] for r in rows]))
    )
    for sub_id in {row["subscription_id"] for row in rows}:
        stmt = update(subscriptions).where(subscriptions.c.id == sub_id)
        conn.execute(stmt.values(last_failure=now))


@dataclass
class Outcome:
    """What sending one subscription's due notifications came to."""

    subscription_id: str
    delivered: list[int] = field(default_factory=list)
    sent: int = 0
    failed: dict[str, Any] | None = None
    error: str = ""


def _merged(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive rows with the same endpoint, in groups of at most MERGE_MAX entities."""
    batches: list[list[dict[str, Any]]] = []
    size = 0
    for row in rows:
        count = len(row["payload"]["notification"]["data"])
        last = batches[-1] if batches else None
        same = last is not None and last[0]["payload"]["endpoint"] == row["payload"]["endpoint"]
        if last is not None and same and size + count <= MERGE_MAX:
            last.append(row)
            size += count
        else:
            batches.append([row])
            size = count
    return batches


class HttpPoster:
    """POSTs over keep-alive connections, one set per sending thread (no shared pool lock).

    The standard library's http.client, not httpx: profiling the notifier showed most of its
    time in the shared connection pool's lock and response bookkeeping (benchmarks/README.md).
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._local = threading.local()

    def post(self, uri: str, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the receiver answered 2xx, else why not."""
        parts = urlsplit(uri)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):
            connection, reused = self._connection(parts, fresh)
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as failure:
                self._forget(parts)
                if reused and not fresh:
                    continue  # a kept-alive connection the receiver had closed: once more
                return f"{failure.__class__.__name__}: {failure}"
            if response.will_close:
                self._forget(parts)
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        return "unreachable"

    def _connection(
        self, parts: SplitResult, fresh: bool
    ) -> tuple[http.client.HTTPConnection, bool]:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        key = f"{parts.scheme}://{parts.netloc}"
        if not fresh and key in pool:
            return pool[key], True
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            made: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout_s
            )
        else:
            made = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
        pool[key] = made
        return made, False

    def _forget(self, parts: SplitResult) -> None:
        pool = self._local.__dict__.get("pool", {})
        connection = pool.pop(f"{parts.scheme}://{parts.netloc}", None)
        if connection is not None:
            connection.close()


class MqttPublisher:
    """One MQTT connection per broker that notifications go to, opened when first needed."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, int, bool, str | None], mqtt.Client] = {}
        # Several notifier threads may publish at once; connecting is done by one at a time.
        self._lock = threading.Lock()

    def publish(self, endpoint: dict[str, Any], message: dict[str, Any]) -> str | None:
        """Publish to the endpoint's topic; None when done, else why not."""
        parsed = urlsplit(endpoint["uri"])
        qos = int(_info(endpoint, "MQTT-QoS", "0"))
        try:
            with self._lock:
                client = self._client(parsed, _info(endpoint, "MQTT-Version", "mqtt5.0"))
            info = client.publish(parsed.path.lstrip("/"), orjson.dumps(message), qos=qos)
            info.wait_for_publish(MQTT_TIMEOUT_S)
        except (OSError, RuntimeError, ValueError) as failure:
            self._drop(parsed)
            return f"MQTT {failure.__class__.__name__}: {failure}"
        if info.rc != mqtt.MQTT_ERR_SUCCESS or not info.is_published():
            self._drop(parsed)
            return f"MQTT publish failed ({mqtt.error_string(info.rc)})"
        return None

    def _client(self, parsed: SplitResult, version: str) -> mqtt.Client:
        key = (
            parsed.hostname or "",
            parsed.port or 1883,
            parsed.scheme == "mqtts",
            parsed.username,
        )
        client = self._clients.get(key)
        if client is not None and client.is_connected():
            return client
        protocol = (
            MQTTProtocolVersion.MQTTv311 if version == "mqtt3.1.1" else MQTTProtocolVersion.MQTTv5
        )
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        if parsed.username:
            client.username_pw_set(parsed.username, parsed.password)
        if key[2]:
            client.tls_set()
        client.connect(key[0], key[1] if parsed.port else (8883 if key[2] else 1883))
        client.loop_start()
        deadline = time.monotonic() + MQTT_TIMEOUT_S
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not client.is_connected():
            client.loop_stop()
            raise OSError(f"cannot connect to {key[0]}:{key[1]}")
        self._clients[key] = client
        return client

    def _drop(self, parsed: SplitResult) -> None:
        with self._lock:
            for key in [k for k in self._clients if k[0] == (parsed.hostname or "")]:
                client = self._clients.pop(key)
                client.loop_stop()
                client.disconnect()

    def close(self) -> None:
        """Disconnect from every broker."""
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()
        self._clients.clear()


def _info(endpoint: dict[str, Any], key: str, default: str) -> str:
    for item in endpoint.get("notifierInfo", []):
        if item["key"] == key:
            return str(item["value"])
    return default
