"""NGSI-LD subscriptions with an MQTT endpoint, delivered through a real Mosquitto broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from tests.servers import MQTT_HOST, MQTT_PORT, require_mqtt_broker

from .test_subscriptions import SUBS, create_entity, set_level, subscription, wait_for


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A topic and the messages an MQTT client subscribed to it receives."""
    require_mqtt_broker()
    topic = f"smartcity-test/{uuid.uuid4().hex}/notifications"
    received: list[dict[str, Any]] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: received.append(orjson.loads(message.payload))
    client.connect(MQTT_HOST, MQTT_PORT)
    client.subscribe(topic, qos=1)
    client.loop_start()
    yield topic, received
    client.loop_stop()
    client.disconnect()


def test_notifications_reach_an_mqtt_topic(
    client: TestClient, listener: tuple[str, list[dict[str, Any]]]
) -> None:
    topic, received = listener
    endpoint = f"mqtt://{MQTT_HOST}:{MQTT_PORT}/{topic}"
    body = subscription(endpoint)
    body["notification"]["endpoint"]["notifierInfo"] = [{"key": "MQTT-QoS", "value": "1"}]
    body["notification"]["endpoint"]["receiverInfo"] = [{"key": "X-Zone", "value": "ninh-kieu"}]
    assert client.post(SUBS, json=body).status_code == 201
    create_entity(client, 1.4)
    set_level(client, 2.1)
    wait_for(lambda: sum(len(m["body"]["data"]) for m in received) >= 2)
    first = received[0]
    assert first["metadata"]["X-Zone"] == "ninh-kieu"
    assert first["metadata"]["Content-Type"] == "application/json"
    assert first["body"]["type"] == "Notification"
    assert [item["level"] for m in received for item in m["body"]["data"]] == [1.4, 2.1]
    status = wait_for(lambda: client.get(SUBS).json()[0]["notification"].get("lastSuccess"))
    assert status


@pytest.mark.parametrize(
    ("uri", "info"),
    [
        ("mqtt://127.0.0.1:1883", []),  # no topic
        ("mqtt://127.0.0.1:1883/t", [{"key": "MQTT-QoS", "value": "3"}]),
        ("mqtt://127.0.0.1:1883/t", [{"key": "MQTT-QoS", "value": 1}]),
    ],
    ids=["no-topic", "qos-3", "qos-not-text"],
)
def test_bad_mqtt_endpoints_are_refused(
    client: TestClient, uri: str, info: list[dict[str, Any]]
) -> None:
    body = subscription(uri)
    body["notification"]["endpoint"]["notifierInfo"] = info
    response = client.post(SUBS, json=body)
    assert response.status_code == 400, response.text
