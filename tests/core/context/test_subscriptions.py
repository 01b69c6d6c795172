"""NGSI-LD subscriptions: the API, notifications to a real HTTP receiver, and retries."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

SUBS = "/ngsi-ld/v1/subscriptions"
ENTITY = "urn:ngsi-ld:WaterLevel:ninh-kieu"


class Receiver:
    """A webhook on 127.0.0.1 that records the notifications it gets."""

    def __init__(self, port: int = 0) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(
                    {"body": orjson.loads(self.rfile.read(length)), "headers": dict(self.headers)}
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.close()


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def subscription(uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "WaterLevel"}],
        "watchedAttributes": ["level"],
        "notification": {"endpoint": {"uri": uri}, "format": "keyValues"},
        **extra,
    }


def create_entity(client: TestClient, level: float) -> None:
    body = {"id": ENTITY, "type": "WaterLevel", "level": {"type": "Property", "value": level}}
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201


def set_level(client: TestClient, level: float) -> None:
    response = client.patch(
        f"/ngsi-ld/v1/entities/{ENTITY}/attrs", json={"level": {"value": level}}
    )
    assert response.status_code == 204, response.text


def test_create_get_pause_delete(client: TestClient) -> None:
    response = client.post(SUBS, json=subscription("http://127.0.0.1:9/x"))
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    shown = client.get(location).json()
    assert shown["status"] == "active"
    assert shown["notification"]["timesSent"] == 0
    assert client.patch(location, json={"isActive": False}).status_code == 204
    assert client.get(location).json()["status"] == "paused"
    assert [s["id"] for s in client.get(SUBS).json()] == [location.rsplit("/", 1)[1]]
    assert client.delete(location).status_code == 204
    assert client.get(location).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"type": "Subscription", "entities": [{"type": "T"}]}, 400),
        (subscription("ftp://example.org/x"), 400),
        (subscription("http://127.0.0.1:9/x", q="level>>"), 400),
        (subscription("http://127.0.0.1:9/x", timeInterval=60), 400),
        (subscription("http://127.0.0.1:9/x", throttling=-1), 400),
        ({**subscription("http://127.0.0.1:9/x"), "type": "Other"}, 400),
    ],
    ids=["no-notification", "not-http", "bad-q", "periodic-watching", "throttling", "type"],
)
def test_bad_subscriptions_are_refused(
    client: TestClient, body: dict[str, Any], status: int
) -> None:
    response = client.post(SUBS, json=body)
    assert response.status_code == status, response.text
    assert response.json()["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")
    assert client.get(SUBS).json() == []


def test_a_watched_change_is_notified(client: TestClient, receiver: Receiver) -> None:
    assert client.post(SUBS, json=subscription(receiver.url, q="level>1.5")).status_code == 201
    create_entity(client, 1.0)  # does not match q
    set_level(client, 2.1)
    wait_for(lambda: receiver.received)
    (notification,) = [r["body"] for r in receiver.received]
    assert notification["type"] == "Notification"
    assert notification["data"] == [{"id": ENTITY, "type": "WaterLevel", "level": 2.1}]
    sub = client.get(SUBS).json()[0]
    wait_for(lambda: client.get(SUBS).json()[0]["notification"]["timesSent"] == 1)
    assert sub["notification"]["status"] == "ok"


def test_a_receiver_that_was_down_gets_what_it_missed(client: TestClient) -> None:
    client.app.state.notifier.max_backoff_s = 0.2  # type: ignore[attr-defined]
    with socket.socket() as probe:  # a port nobody listens on, yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert client.post(SUBS, json=subscription(f"http://127.0.0.1:{port}/n")).status_code == 201
    create_entity(client, 1.0)
    set_level(client, 2.5)
    set_level(client, 3.0)
    wait_for(lambda: client.get(SUBS).json()[0]["notification"].get("lastFailure"))
    assert client.get(SUBS).json()[0]["notification"]["status"] == "failed"
    late = Receiver(port)
    try:
        # What waited may come merged into fewer notifications, but all of it and in order.
        def levels() -> list[float]:
            return [item["level"] for r in late.received for item in r["body"]["data"]]

        wait_for(lambda: len(levels()) >= 3)
        assert levels() == [1.0, 2.5, 3.0]  # creation, then both updates, in order
        wait_for(lambda: client.get(SUBS).json()[0]["notification"]["status"] == "ok")
    finally:
        late.close()


def test_a_periodic_subscription_sends_the_current_state_every_interval(
    client: TestClient, receiver: Receiver
) -> None:
    create_entity(client, 1.2)
    body = subscription(receiver.url, timeInterval=1)
    del body["watchedAttributes"]
    response = client.post(SUBS, json=body)
    assert response.status_code == 201, response.text
    wait_for(lambda: len(receiver.received) >= 2, timeout_s=15)
    assert [r["body"]["data"][0]["level"] for r in receiver.received[:2]] == [1.2, 1.2]
    set_level(client, 1.3)  # the next period carries the new state
    wait_for(lambda: receiver.received[-1]["body"]["data"][0]["level"] == 1.3, timeout_s=15)


def test_equality_q_subscriptions_receive_only_their_value(client: TestClient) -> None:
    receivers = [Receiver(), Receiver(), Receiver()]
    try:
        queries = ["zone==1", "zone==2;level>0", 'district=="ninh-kieu"']
        for webhook, q in zip(receivers, queries, strict=True):
            body = subscription(webhook.url, q=q)
            body["watchedAttributes"] = ["level", "zone"]
            assert client.post(SUBS, json=body).status_code == 201
        gauge = {
            "id": ENTITY,
            "type": "WaterLevel",
            "level": {"type": "Property", "value": 1.0},
            "zone": {"type": "Property", "value": 1},
            "district": {"type": "Property", "value": "ninh-kieu"},
        }
        assert client.post("/ngsi-ld/v1/entities", json=gauge).status_code == 201
        wait_for(lambda: receivers[0].received and receivers[2].received)
        response = client.patch(
            f"/ngsi-ld/v1/entities/{ENTITY}/attrs", json={"zone": {"value": 2.0}}
        )
        assert response.status_code == 204
        wait_for(lambda: receivers[1].received)
        assert len(receivers[0].received) == 1  # zone is no longer 1
        assert receivers[1].received[0]["body"]["data"][0]["zone"] == 2.0
        wait_for(lambda: len(receivers[2].received) == 2)
    finally:
        for webhook in receivers:
            webhook.close()


def test_deletions_notify_subscriptions_that_ask_for_them(
    client: TestClient, receiver: Receiver
) -> None:
    on_delete = subscription(receiver.url, notificationTrigger=["entityDeleted"])
    del on_delete["watchedAttributes"]
    assert client.post(SUBS, json=on_delete).status_code == 201
    bad = subscription(receiver.url, notificationTrigger=["entityExploded"])
    assert client.post(SUBS, json=bad).status_code == 400
    create_entity(client, 1.0)
    set_level(client, 1.5)
    assert client.delete(f"/ngsi-ld/v1/entities/{ENTITY}").status_code == 204
    [notification] = wait_for(lambda: receiver.received)
    [item] = notification["body"]["data"]
    assert item["id"] == ENTITY and item["type"] == "WaterLevel" and "deletedAt" in item
    time.sleep(0.5)
    assert len(receiver.received) == 1  # creation and update were not asked for


def test_feed_retention_drops_only_changes_the_leader_has_read(client: TestClient) -> None:
    from smartcity.core.context import repository

    feed = client.app.state.change_feed  # type: ignore[attr-defined]
    database = client.app.state.database  # type: ignore[attr-defined]
    create_entity(client, 1.0)
    set_level(client, 2.0)

    def read_all() -> bool:
        with database.read() as conn:
            return bool(repository.read_cursor(conn, "leader") == repository.last_change_seq(conn))

    wait_for(read_all)
    assert feed.purge(keep_s=3600) == 0  # recent: kept
    assert feed.purge(keep_s=0) >= 2
    with database.read() as conn:
        assert repository.read_changes(conn, 0, 10) == []


def test_each_change_is_notified_with_its_own_value(client: TestClient, receiver: Receiver) -> None:
    """Changes read from the feed together still notify each value (not the latest twice)."""
    feed = client.app.state.change_feed  # type: ignore[attr-defined]
    assert client.post(SUBS, json=subscription(receiver.url)).status_code == 201
    create_entity(client, 1.0)
    wait_for(lambda: receiver.received)
    feed.stop()  # the changes below wait in the feed and are read in one batch
    try:
        for level in (1.1, 1.2, 1.3):
            set_level(client, level)
    finally:
        feed.start()

    def levels() -> list[float]:
        return [item["level"] for r in receiver.received for item in r["body"]["data"]]

    wait_for(lambda: len(levels()) >= 4)
    assert levels() == [1.0, 1.1, 1.2, 1.3]


def test_a_row_queued_during_a_failure_never_overtakes_the_failed_one(database: Any) -> None:
    """The failed row waits a long backoff; one queued later has a short one: it must wait."""
    from smartcity.core.context.notifier import Notifier
    from smartcity.core.context.tables import notification_outbox
    from smartcity.core.context.times import now_us

    now = now_us()

    def row(level: float, next_attempt_at: int, attempts: int) -> dict[str, Any]:
        note = {"id": "n", "type": "Notification", "data": [{"level": level}]}
        payload = {"endpoint": {"uri": "http://x/n"}, "notification": note, "context": []}
        return {
            "subscription_id": "urn:s",
            "payload": payload,
            "created_at": now,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
        }

    database.run_write(
        lambda conn: conn.execute(
            notification_outbox.insert(), [row(1.0, now + 60_000_000, 5), row(2.0, now - 1, 0)]
        )
    )
    notifier = Notifier(database)
    sent: list[float] = []
    notifier._post = lambda _uri, body, _h: sent.append(body["data"][0]["level"])  # type: ignore[method-assign]
    assert notifier.deliver_due() == 0
    assert sent == []
