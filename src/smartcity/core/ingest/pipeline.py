"""The ingest pipeline: device messages in, coalesced batch writes out, dead letters aside.

Messages from any transport (MQTT callbacks, HTTP requests) are parsed and mapped in the
caller's thread, then queued. One write job at a time takes everything queued (up to a
batch limit) and stores it in one transaction on the broker's batch path; each message's
future resolves after that commit, which is when MQTT QoS 1 messages are acknowledged and
HTTP requests answered. At most `max_pending` messages wait in memory: past that, MQTT
callbacks block (the broker holds the rest) and HTTP answers 503.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import Connection

from smartcity.core.context.jsonld import ActiveContext
from smartcity.core.context.service import Observation, record_observations
from smartcity.core.context.times import format_us, now_us
from smartcity.core.db import Database
from smartcity.core.events import Event, EventBus

from . import repository
from .devices import DeviceRegistry
from .mapping import (
    DeviceProfile,
    Measure,
    Rejected,
    command_failed,
    parse_command_result,
    parse_payload,
    to_measures,
)

log = logging.getLogger(__name__)
BATTERY_NAMES = frozenset({"batteryLevel", "battery", "bat"})
RSSI_NAMES = frozenset({"rssi", "RSSI"})


@dataclass
class Inbound:
    """One message as a device sent it."""

    transport: str  # "mqtt" or "http"
    apikey: str | None
    device_id: str | None
    payload: bytes
    #: "attrs" (measures) or "cmdexe" (a command result).
    kind: str = "attrs"
    topic: str | None = None
    #: The protocol the topic or URL says; None: the device's provisioned protocol.
    protocol: str | None = None
    received_us: int = field(default_factory=now_us)
    #: A dead letter run again: refused once more, it is not stored a second time.
    replay: bool = False


@dataclass
class Receipt:
    """What became of one message."""

    stored: int = 0
    duplicates: int = 0
    dead_letter: str | None = None
    #: Why the mapping refused the message (None for store-side refusals).
    rejection: Rejected | None = None
    commands: list[dict[str, Any]] = field(default_factory=list)


class QueueFull(Exception):
    """More messages wait than the pipeline holds; try again shortly."""


@dataclass
class _Item:
    inbound: Inbound
    future: Future[Receipt]
    profile: DeviceProfile | None = None
    measures: list[Measure] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    rejection: Rejected | None = None
    attempts: int = 0

    @property
    def size(self) -> int:
        return max(1, len(self.measures) + len(self.results))


class IngestMetrics:
    """Prometheus counters of one pipeline."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "smartcity_ingest_messages",
            "Device messages by outcome",
            ["transport", "outcome"],
            registry=registry,
        )
        self.datapoints = Counter(
            "smartcity_ingest_datapoints", "Attribute values stored", registry=registry
        )
        self.duplicates = Counter(
            "smartcity_ingest_duplicates", "Attribute values already stored", registry=registry
        )
        self.dead_letters = Counter(
            "smartcity_ingest_dead_letters",
            "Messages kept as dead letters",
            ["transport"],
            registry=registry,
        )
        self.pending = Gauge(
            "smartcity_ingest_pending_messages", "Messages waiting to be stored", registry=registry
        )
        self.batch_seconds = Histogram(
            "smartcity_ingest_batch_seconds", "Time to store one batch", registry=registry
        )


class Ingestor:
    """Queues mapped messages and stores them in coalesced batches (see module docstring)."""

    def __init__(
        self,
        database: Database,
        devices: DeviceRegistry,
        ctx: ActiveContext,
        events: EventBus,
        metrics: IngestMetrics,
        *,
        max_pending: int = 20000,
        batch_max: int = 5000,
        max_future_s: float = 300.0,
    ) -> None:
        self.database = database
        self.devices = devices
        self.ctx = ctx
        self.events = events
        self.metrics = metrics
        self.batch_max = batch_max
        self.max_future_us = int(max_future_s * 1e6)
        self._slots = threading.BoundedSemaphore(max_pending)
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._flushing = False

    # --- entry points --------------------------------------------------------------------

    def submit(self, inbound: Inbound, *, block: bool = True) -> Future[Receipt]:
        """Queue one message; its future resolves once it is stored (or dead-lettered)."""
        if not self._slots.acquire(blocking=block):
            raise QueueFull("too many messages waiting to be stored")
        item = _Item(inbound=inbound, future=Future())
        item.future.add_done_callback(lambda _f: self._release())
        self._prepare(item)
        with self._lock:
            self._queue.append(item)
            self.metrics.pending.inc()
            start = not self._flushing
            self._flushing = True
        if start:
            self._schedule()
        return item.future

    def _release(self) -> None:
        self._slots.release()
        self.metrics.pending.dec()

    def _prepare(self, item: _Item) -> None:
        """Look the device up and map its payload, or note why it cannot be stored."""
        inbound = item.inbound
        try:
            item.profile = self.devices.profile(inbound.apikey, inbound.device_id)
            protocol = inbound.protocol or item.profile.protocol
            if inbound.kind == "cmdexe":
                item.results = parse_command_result(protocol, inbound.payload)
            else:
                groups = parse_payload(protocol, inbound.payload)
                item.measures = to_measures(
                    item.profile, groups, inbound.received_us, self.max_future_us
                )
        except Rejected as error:
            item.reason, item.rejection = error.reason, error
        except Exception as error:  # never let one payload stop the consumer
            log.exception("unexpected error mapping a device message")
            item.reason = f"could not be processed: {error.__class__.__name__}"

    # --- the write side ------------------------------------------------------------------

    def _schedule(self) -> None:
        batch = self._take()
        if not batch:
            return
        future = self.database.submit_write(lambda conn: self._store(conn, batch))
        future.add_done_callback(lambda done: self._finish(batch, done))

    def _take(self) -> list[_Item]:
        """Up to batch_max values' worth of queued messages; clears the flag when empty."""
        batch: list[_Item] = []
        size = 0
        with self._lock:
            while self._queue and (not batch or size + self._queue[0].size <= self.batch_max):
                item = self._queue.popleft()
                batch.append(item)
                size += item.size
            if not batch:
                self._flushing = False
        return batch

    def _store(self, conn: Connection, batch: list[_Item]) -> list[Receipt]:
        """One transaction: values, device last-seen, command results and dead letters."""
        with self.metrics.batch_seconds.time():
            now = now_us()
            receipts = [
                Receipt(dead_letter=item.reason, rejection=item.rejection) for item in batch
            ]
            observations: list[Observation] = []
            for item, receipt in zip(batch, receipts, strict=True):
                before = len(observations)
                if item.reason is None and item.results:
                    self._command_results(conn, item, receipt, observations, now)
                if receipt.dead_letter is None:
                    observations += self._observations(item)
                receipt.stored = len(observations) - before
            result = record_observations(conn, observations, now)
            _share_duplicates(receipts, result.duplicates)
            repository.touch_devices(conn, _seen_rows(batch, receipts))
            repository.insert_dead_letters(conn, _dead_letter_rows(batch, receipts))
            return receipts

    def _finish(self, batch: list[_Item], done: Future[list[Receipt]]) -> None:
        """After the commit: resolve each message, then take the next batch."""
        error = done.exception()
        if error is not None:
            attempts = self._retry_or_fail(batch, error)
            # Give a failing database a moment (longer each time) instead of a tight loop.
            threading.Timer(min(5.0, 0.5 * attempts), self._schedule).start()
            return
        for item, receipt in zip(batch, done.result(), strict=True):
            self._count(item, receipt)
            item.future.set_result(receipt)
        self._schedule()

    def _retry_or_fail(self, batch: list[_Item], error: BaseException) -> int:
        """A failed write (database down, lock timeout): queue the batch again.

        MQTT messages are retried until they are stored: they are not acknowledged before,
        and the broker would not send them again without a reconnect. An HTTP caller gets
        its error after 3 tries and can retry itself. Returns the highest attempt count.
        """
        log.warning("ingest batch of %d failed: %s", len(batch), error)
        again = []
        for item in batch:
            item.attempts += 1
            if item.inbound.transport == "mqtt" or item.attempts < 3:
                again.append(item)
            else:
                item.future.set_exception(error)
        with self._lock:
            self._queue.extendleft(reversed(again))
        return max(item.attempts for item in batch)

    def _count(self, item: _Item, receipt: Receipt) -> None:
        transport = item.inbound.transport
        outcome = "dead_letter" if receipt.dead_letter else "stored"
        self.metrics.messages.labels(transport, outcome).inc()
        self.metrics.datapoints.inc(receipt.stored)
        self.metrics.duplicates.inc(receipt.duplicates)
        if receipt.dead_letter:
            self.metrics.dead_letters.labels(transport).inc()
        for command in receipt.commands:
            self.events.publish(Event("device.command", item.profile.device_id, command))  # type: ignore[union-attr]

    def _observations(self, item: _Item) -> list[Observation]:
        profile = item.profile
        assert profile is not None
        return [
            Observation(
                entity_id=profile.entity_id,
                entity_type=profile.entity_type,
                attr=self.ctx.expand(m.name),
                instance=m.instance,
                observed_us=m.observed_us,
                number=m.number,
            )
            for m in item.measures
        ]

    def _command_results(
        self,
        conn: Connection,
        item: _Item,
        receipt: Receipt,
        observations: list[Observation],
        now: int,
    ) -> None:
        """Close the commands a device answered; an answer to no open command is a dead letter."""
        profile = item.profile
        assert profile is not None
        for name, result in item.results.items():
            command = repository.open_command(conn, profile.device_id, name)
            if command is None:
                receipt.dead_letter = f"result for command {name!r}, which is not pending"
                return
            status = "ERROR" if command_failed(result) else "OK"
            repository.set_command_status(conn, command["id"], status, now, result)
            observations += command_observations(
                self.ctx, profile, name, status, result, item.inbound.received_us
            )
            receipt.commands.append({"id": command["id"], "name": name, "status": status})


def command_observations(
    ctx: ActiveContext,
    profile: DeviceProfile,
    name: str,
    status: str,
    info: Any,
    at_us: int,
) -> list[Observation]:
    """The `<command>_status` and `<command>_info` attributes the IoT Agent keeps on the entity."""
    stamp = format_us(at_us)
    values = [(f"{name}_status", status)]
    if info is not None:
        values.append((f"{name}_info", info))
    return [
        Observation(
            entity_id=profile.entity_id,
            entity_type=profile.entity_type,
            attr=ctx.expand(attr),
            instance={"type": "Property", "value": value, "observedAt": stamp},
            observed_us=at_us,
            number=None,
        )
        for attr, value in values
    ]


def _share_duplicates(receipts: list[Receipt], duplicates: int) -> None:
    """Move the batch's skipped duplicates from `stored` to `duplicates`, first come first.

    The batch knows how many values it skipped, not whose; exact per batch, approximate
    per message (a message's receipt may show another's duplicate).
    """
    left = duplicates
    for receipt in receipts:
        skipped = min(left, receipt.stored)
        left -= skipped
        receipt.duplicates = skipped
        receipt.stored -= skipped


def _seen_rows(batch: list[_Item], receipts: list[Receipt]) -> list[dict[str, Any]]:
    """One last-seen row per device that sent something storable (battery, RSSI if sent)."""
    rows: dict[str, dict[str, Any]] = {}
    for item, receipt in zip(batch, receipts, strict=True):
        if receipt.dead_letter is not None or item.profile is None:
            continue
        row = rows.setdefault(
            item.profile.device_id,
            {"b_device": item.profile.device_id, "seen": 0, "battery": None, "rssi": None},
        )
        row["seen"] = max(row["seen"], item.inbound.received_us)
        for measure in item.measures:
            if measure.name in BATTERY_NAMES and measure.number is not None:
                row["battery"] = measure.number
            elif measure.name in RSSI_NAMES and measure.number is not None:
                row["rssi"] = measure.number
    return list(rows.values())


def _dead_letter_rows(batch: list[_Item], receipts: list[Receipt]) -> list[dict[str, Any]]:
    return [
        {
            "received_at": item.inbound.received_us,
            "transport": item.inbound.transport,
            "topic": item.inbound.topic,
            "apikey": item.inbound.apikey,
            "device_id": item.inbound.device_id,
            "protocol": item.inbound.protocol or (item.profile.protocol if item.profile else "?"),
            "payload": item.inbound.payload,
            "reason": receipt.dead_letter,
        }
        for item, receipt in zip(batch, receipts, strict=True)
        if receipt.dead_letter is not None and not item.inbound.replay
    ]
