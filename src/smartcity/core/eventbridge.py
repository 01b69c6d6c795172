"""NATS JetStream bridge: the event buses of several processes act as one (server mode).

Every event published on the local bus goes out to the stream (subject
`<prefix>.<topic>`, JSON body, origin header); every event another process published
comes back in through `EventBus.deliver`, which reaches local handlers only. Events are
live notifications: the database is the durable record, so each bridge consumes only what
is published after it starts, and events are dropped (and counted) rather than queued
without bound while NATS is unreachable.

All NATS work happens on one asyncio loop in a daemon thread: publishers never wait for
the network, and incoming events reach handlers on one more thread, so a slow handler
neither stalls the connection nor the sending of events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import UnexpectedEOF
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from smartcity.core.events import Event, EventBus

log = logging.getLogger(__name__)

#: Header naming the bridge that published a message (so it does not deliver it again).
ORIGIN_HEADER = "Smartcity-Origin"
#: Events waiting to be sent; past it new ones are dropped so an outage cannot eat memory.
MAX_PENDING = 10_000
#: How long one publish waits for JetStream's acknowledgement.
PUBLISH_TIMEOUT_S = 5.0
#: How long stop() lets events already queued go out.
FLUSH_TIMEOUT_S = 5.0
#: Heartbeats of the consumer: two missed ones make nats-py recreate it (after a restart).
HEARTBEAT_S = 2.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def subject_for(prefix: str, topic: str) -> str:
    """The NATS subject of an event topic, each dotted part made subject-safe."""
    # Wildcards, spaces and empty parts are not allowed in a subject; the body keeps the
    # real topic, so the subject only has to route.
    tokens = [_UNSAFE.sub("_", part) or "_" for part in topic.split(".")]
    return ".".join([prefix, *tokens])


class NatsBridge:
    """Shares the events of an EventBus with the other processes through NATS JetStream."""

    def __init__(
        self,
        bus: EventBus,
        url: str,
        stream: str = "SMARTCITY_EVENTS",
        subject_prefix: str = "smartcity.events",
        max_age_s: float = 3600.0,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.bus = bus
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix.strip(".")
        self.max_age_s = max_age_s
        self.max_pending = max_pending
        #: Unique per bridge: two bridges in one process (tests) still tell each other apart.
        self.origin = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.published = 0  # events JetStream acknowledged
        self.received = 0  # events of other processes handed to the bus
        self.dropped = 0  # events not sent: the queue was full
        self.failed = 0  # events whose publish failed or was not acknowledged
        self.malformed = 0  # messages on the subjects that are not events
        self._lock = threading.Lock()
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._inbox: queue.Queue[Event | None] = queue.Queue(maxsize=max_pending)
        self._deliverer: threading.Thread | None = None
        self._closing = False
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        self._outbox: asyncio.Queue[Event | None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._connected: asyncio.Event | None = None
        self._last_seq = 0
        self._remove_forwarder: Callable[[], None] | None = None

    @property
    def started(self) -> bool:
        """Whether the bridge is running (start succeeded, stop not called)."""
        return self._remove_forwarder is not None

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect, make sure the stream exists, subscribe and start forwarding the bus."""
        if self._loop is not None:
            raise RuntimeError("NatsBridge already started")
        self._start_threads()
        try:
            self._run(asyncio.wait_for(self._open(), timeout_s), timeout_s + 5.0)
        except Exception as error:
            self._abandon()
            raise ConnectionError(
                f"cannot connect to NATS JetStream at {self.url} within {timeout_s}s: "
                f"{error.__class__.__name__}: {error}"
            ) from error
        self._remove_forwarder = self.bus.add_forwarder(self._forward)
        log.info("NATS event bridge up: %s stream %s as %s", self.url, self.stream, self.origin)

    def _start_threads(self) -> None:
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="smartcity-nats", daemon=True
        )
        self._thread.start()
        self._deliverer = threading.Thread(
            target=self._deliver_loop, name="smartcity-nats-in", daemon=True
        )
        self._deliverer.start()

    def stop(self) -> None:
        """Stop forwarding, send what is queued (briefly), close the connection."""
        if self._remove_forwarder is not None:
            self._remove_forwarder()
            self._remove_forwarder = None
        if self._loop is None:
            return
        try:
            self._run(self._close(), FLUSH_TIMEOUT_S + 5.0)
        except Exception:
            log.warning("NATS event bridge did not close cleanly", exc_info=True)
        self._shutdown()

    def _abandon(self) -> None:
        """Undo a start that failed half-way (the client may be retrying to connect)."""
        try:
            self._run(self._close(), FLUSH_TIMEOUT_S + 5.0)
        except Exception:
            log.debug("NATS client did not close after a failed start", exc_info=True)
        self._shutdown()

    # --- the publisher's side (any thread) ---

    def _forward(self, event: Event) -> None:
        """Queue `event` for the loop thread; never waits for the network."""
        loop = self._loop
        if loop is None or not self._reserve():
            return
        try:
            loop.call_soon_threadsafe(self._enqueue, event)
        except RuntimeError:  # the loop closed meanwhile (stop)
            self._release()

    def _reserve(self) -> bool:
        with self._lock:
            if self._pending < self.max_pending:
                self._pending += 1
                return True
        self._count_drop("outgoing")
        return False

    def _count_drop(self, direction: str) -> None:
        with self._lock:
            self.dropped += 1
            dropped = self.dropped
        # Once at the start of an outage, then now and then: not one line per event.
        if dropped == 1 or dropped % 1000 == 0:
            log.warning("NATS event bridge: %d events dropped (%s queue full)", dropped, direction)

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    # --- the loop thread ---

    def _run(self, coro: Coroutine[Any, Any, None], timeout_s: float) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _open(self) -> None:
        self._connected = asyncio.Event()
        self._outbox = asyncio.Queue()
        self._nc = Client()
        await self._nc.connect(
            self.url,
            name=f"smartcity-{self.origin}",
            # Reconnect forever: a NATS restart must not end event sharing for good.
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._connected.set()
        js = self._js = self._nc.jetstream()
        await self._ensure_stream(js)
        await self._subscribe(js)
        self._sender = asyncio.create_task(self._send_loop(js))

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        subject = f"{self.subject_prefix}.>"
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[subject],
                storage=StorageType.FILE,
                max_age=self.max_age_s,
            )
            # Another process may create it at the same moment; the same config is accepted.
            await js.add_stream(config)
            return
        if subject not in (info.config.subjects or []):
            info.config.subjects = [*(info.config.subjects or []), subject]
            await js.update_stream(info.config)

    async def _subscribe(self, js: JetStreamContext) -> None:
        # Anything already stored is history, not news: remember where the stream stands,
        # since an ordered consumer that resets before its first message restarts at 1.
        self._last_seq = (await js.stream_info(self.stream)).state.last_seq
        self._sub = await js.subscribe(
            f"{self.subject_prefix}.>",
            stream=self.stream,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            idle_heartbeat=HEARTBEAT_S,
        )

    def _enqueue(self, event: Event) -> None:
        assert self._outbox is not None
        self._outbox.put_nowait(event)

    async def _send_loop(self, js: JetStreamContext) -> None:
        """Send queued events in order; acknowledgements are awaited apart (pipelined)."""
        assert self._outbox is not None and self._connected is not None
        while (event := await self._outbox.get()) is not None:
            try:
                # While disconnected, wait: the queue bounds what an outage holds.
                await self._connected.wait()
                await self._publish(js, event)
            finally:
                self._release()

    async def _publish(self, js: JetStreamContext, event: Event) -> None:
        try:
            ack = await js.publish_async(
                subject_for(self.subject_prefix, event.topic),
                orjson.dumps(event.to_dict()),
                wait_stall=PUBLISH_TIMEOUT_S,
                stream=self.stream,
                headers={ORIGIN_HEADER: self.origin},
            )
        except Exception as error:
            self._count_failure(event.topic, error)
            return
        # Waiting for each acknowledgement before the next send caps throughput at one
        # round trip per event; a timer gives up on a lost one instead.
        timer = asyncio.get_running_loop().call_later(PUBLISH_TIMEOUT_S, ack.cancel)
        ack.add_done_callback(lambda done: self._on_ack(done, event.topic, timer))

    def _on_ack(self, ack: asyncio.Future[Any], topic: str, timer: asyncio.TimerHandle) -> None:
        timer.cancel()
        if ack.cancelled():
            self._count_failure(topic, TimeoutError("no acknowledgement"))
        elif (error := ack.exception()) is not None:
            self._count_failure(topic, error)
        else:
            self.published += 1

    def _count_failure(self, topic: str, error: BaseException) -> None:
        # Not retried: an unacknowledged publish may still be stored, and a retry would
        # deliver it twice; these are notifications, the database has the record.
        self.failed += 1
        log.warning("NATS event bridge: %s not published (%r)", topic, error)

    async def _on_message(self, msg: Msg) -> None:
        if not self._is_new(msg) or self._is_own(msg):
            return
        event = self._decode(msg)
        if event is None:
            return
        # Handlers run on their own thread. Not awaited: the consumer's flow control
        # answers only once a callback returns, and waiting there throttles delivery.
        try:
            self._inbox.put_nowait(event)
        except queue.Full:
            self._count_drop("incoming")
            return
        self.received += 1

    def _deliver_loop(self) -> None:
        """The handlers' thread: hands incoming events to the bus, in order."""
        while (event := self._inbox.get()) is not None:
            self.bus.deliver(event)

    def _is_new(self, msg: Msg) -> bool:
        """False for a message seen before (a consumer reset may replay some)."""
        try:
            seq = msg.metadata.sequence.stream
        except Exception:
            return True  # not from JetStream: nothing to compare
        if seq <= self._last_seq:
            return False
        self._last_seq = seq
        return True

    def _is_own(self, msg: Msg) -> bool:
        return msg.headers is not None and msg.headers.get(ORIGIN_HEADER) == self.origin

    def _decode(self, msg: Msg) -> Event | None:
        try:
            raw = orjson.loads(msg.data)
            if not isinstance(raw, dict):
                raise TypeError(f"a JSON {type(raw).__name__}, not an object")
            return Event.from_dict(raw)
        except Exception as error:
            self.malformed += 1
            log.warning(
                "NATS event bridge: skipped a malformed message on %s (%r)", msg.subject, error
            )
            return None

    async def _on_error(self, error: Exception) -> None:
        # Refused connections repeat every second during an outage; disconnected says it once.
        quiet = OSError | TimeoutError | UnexpectedEOF
        level = logging.DEBUG if isinstance(error, quiet) else logging.WARNING
        log.log(level, "NATS event bridge: %r", error)

    async def _on_disconnected(self) -> None:
        if self._connected is not None:
            self._connected.clear()
        if self._closing:
            return  # stop() closes the connection: nothing to warn about
        log.warning("NATS event bridge: disconnected from %s; reconnecting", self.url)

    async def _on_reconnected(self) -> None:
        if self._connected is not None:
            self._connected.set()
        log.info("NATS event bridge: reconnected to %s", self.url)

    async def _close(self) -> None:
        self._closing = True
        if self._sender is not None and self._outbox is not None:
            await self._outbox.put(None)
            try:
                await asyncio.wait_for(self._sender, FLUSH_TIMEOUT_S)
            except TimeoutError:
                log.warning("NATS event bridge: stopped with events unsent")
        if self._js is not None:
            try:
                await asyncio.wait_for(self._js.publish_async_completed(), FLUSH_TIMEOUT_S)
            except TimeoutError:
                log.warning("NATS event bridge: stopped with events unacknowledged")
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                log.debug("NATS unsubscribe failed", exc_info=True)
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    def _shutdown(self) -> None:
        """Cancel what is left on the loop, stop its thread and the handlers' thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._run(_cancel_other_tasks(), 5.0)
        except Exception:
            log.debug("NATS loop tasks did not all end", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        if self._deliverer is not None:
            # After the handlers already queued: those events did arrive before stop.
            try:
                self._inbox.put(None, timeout=10)
            except queue.Full:
                log.warning("NATS event bridge: a handler is stuck; not waiting for it")
            self._deliverer.join(timeout=10)
        self._loop = self._thread = self._deliverer = None
        self._nc = self._js = self._sub = self._sender = self._outbox = self._connected = None


async def _cancel_other_tasks() -> None:
    """Cancel the tasks nats-py may leave behind, so the loop closes without warnings."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
