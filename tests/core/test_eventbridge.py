"""The NATS bridge: events cross between buses once, in order, never echo, survive restarts."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from smartcity.core.eventbridge import NatsBridge, subject_for
from smartcity.core.events import Event, EventBus
from tests.servers import require_nats, server_missing


@dataclass
class Node:
    """One process's view: a bus, its bridge and every event its handlers saw."""

    bus: EventBus
    bridge: NatsBridge
    seen: list[Event] = field(default_factory=list)


@dataclass
class Cluster:
    """Bridges sharing one test stream, each with its own bus."""

    url: str
    stream: str
    prefix: str
    nodes: list[Node] = field(default_factory=list)

    def node(self, start: bool = True) -> Node:
        bus = EventBus()
        bridge = NatsBridge(bus, self.url, stream=self.stream, subject_prefix=self.prefix)
        node = Node(bus, bridge)
        bus.subscribe("", node.seen.append)
        if start:
            bridge.start(timeout_s=10)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.bridge.stop()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


async def _nats_call(url: str, work: Callable[[Client], object]) -> None:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        result = work(nc)
        if asyncio.iscoroutine(result):
            await result
    finally:
        await nc.close()


def _delete_stream(url: str, stream: str) -> None:
    async def delete(nc: Client) -> None:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)

    asyncio.run(_nats_call(url, delete))


def _cluster(url: str) -> Iterator[Cluster]:
    token = uuid.uuid4().hex[:10]
    cluster = Cluster(url, stream=f"TEST_EVENTS_{token}", prefix=f"test.{token}")
    try:
        yield cluster
    finally:
        cluster.stop()
        _delete_stream(url, cluster.stream)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """Bridges on the test NATS server, on a stream of their own (deleted afterwards)."""
    yield from _cluster(require_nats())


def test_an_event_reaches_the_other_bus_once_and_does_not_echo(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    a.bus.publish(Event("device.offline", "urn:ngsi-ld:Device:1", {"reason": "silent"}))
    assert _wait_for(lambda: len(b.seen) == 1)
    time.sleep(0.5)  # time for a duplicate or an echo to show up
    assert [(e.topic, e.subject, e.data) for e in b.seen] == [
        ("device.offline", "urn:ngsi-ld:Device:1", {"reason": "silent"})
    ]
    assert len(a.seen) == 1  # its own local delivery, no echo from NATS
    assert (a.bridge.published, a.bridge.received, b.bridge.received) == (1, 0, 1)
    assert b.seen[0].at_us == a.seen[0].at_us


def test_many_events_arrive_in_order(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    for i in range(500):
        a.bus.publish(Event("entity.updated", f"urn:x:{i}", {"i": i}))
    assert _wait_for(lambda: len(b.seen) >= 500, timeout_s=20)
    assert [e.data["i"] for e in b.seen] == list(range(500))
    assert a.bridge.dropped == a.bridge.failed == 0


def test_both_ways_and_topics_made_subject_safe(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    a.bus.publish(Event("alert.raised weird*>", "x"))
    b.bus.publish(Event("command.sent", "y"))
    assert _wait_for(lambda: len(a.seen) == 2 and len(b.seen) == 2)
    assert b.seen[1].topic == "alert.raised weird*>"  # the body keeps the real topic
    assert a.seen[1].topic == "command.sent"


def test_malformed_messages_are_skipped(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()

    async def junk(nc: Client) -> None:
        js = nc.jetstream()
        for body in (b"not json", b"[1, 2]", b'{"topic": "device.offline"}'):
            await js.publish(f"{cluster.prefix}.junk", body)

    asyncio.run(_nats_call(cluster.url, junk))
    a.bus.publish(Event("device.online", "urn:x:1"))
    assert _wait_for(lambda: len(b.seen) == 1)
    assert _wait_for(lambda: b.bridge.malformed == 3)
    assert [e.topic for e in b.seen] == ["device.online"]
    assert b.bridge.received == 1


def test_a_late_bridge_gets_only_new_events(cluster: Cluster) -> None:
    a = cluster.node()
    a.bus.publish(Event("device.offline", "old"))
    assert _wait_for(lambda: a.bridge.published == 1)
    b = cluster.node()
    a.bus.publish(Event("device.offline", "new"))
    assert _wait_for(lambda: len(b.seen) == 1)
    time.sleep(0.3)
    assert [e.subject for e in b.seen] == ["new"]


def test_stop_is_clean(cluster: Cluster) -> None:
    a, b = cluster.node(), cluster.node()
    a.bus.publish(Event("device.offline", "before"))
    assert _wait_for(lambda: len(b.seen) == 1)
    a.bridge.stop()
    a.bridge.stop()  # twice is harmless
    assert not a.bridge.started
    a.bus.publish(Event("device.offline", "after"))  # local only now, no error
    time.sleep(0.3)
    assert [e.subject for e in b.seen] == ["before"]
    assert [e.subject for e in a.seen] == ["before", "after"]
    b.bridge.stop()
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith("smartcity-nats")]


def test_an_unreachable_server_fails_start_clearly() -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bridge = NatsBridge(EventBus(), f"nats://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot connect to NATS"):
        bridge.start(timeout_s=1.5)
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith("smartcity-nats")]


def test_subject_for_keeps_dots_and_replaces_the_rest() -> None:
    assert subject_for("p.q", "device.offline") == "p.q.device.offline"
    assert subject_for("p", "a b.*.>..c") == "p.a_b._._._.c"


# --- a private NATS server, restarted under the bridges ---


class PrivateNats:
    """A nats-server of this test only, so it can be killed and started again."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            server_missing("nats-server binary not installed")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.command = [binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stderr=subprocess.DEVNULL)
        if not _wait_for(self._listening, timeout_s=10):
            raise RuntimeError("private nats-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """A private NATS server with JetStream on a free port."""
    server = PrivateNats(tmp_path / "nats")
    server.start()
    yield server
    server.kill()


def test_events_flow_again_after_the_server_restarts(private_nats: PrivateNats) -> None:
    cluster = Cluster(private_nats.url, stream="TEST_RESTART", prefix="test.restart")
    try:
        a, b = cluster.node(), cluster.node()
        a.bus.publish(Event("device.offline", "before"))
        assert _wait_for(lambda: len(b.seen) == 1)
        private_nats.kill()
        time.sleep(0.5)
        private_nats.start()
        # Published while the server is away or just back: queued, sent once reconnected.
        a.bus.publish(Event("device.offline", "after"))
        assert _wait_for(lambda: len(b.seen) >= 2, timeout_s=30), b.bridge.__dict__
        time.sleep(0.5)
        assert [e.subject for e in b.seen] == ["before", "after"]
        b.bus.publish(Event("device.online", "back"))
        assert _wait_for(lambda: len(a.seen) == 3, timeout_s=15)
    finally:
        cluster.stop()
