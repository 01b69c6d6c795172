"""MQTT helpers for the ingestion tests: a device client on the real broker, waiting."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.servers import MQTT_HOST, MQTT_PORT


class Device:
    """A simulated device: publishes measures, can subscribe to its command topic."""

    def __init__(self) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-device-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.received: list[tuple[str, bytes]] = []
        self._connected = threading.Event()
        self.client.on_connect = lambda *_a: self._connected.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, m.payload))
        self.client.connect(MQTT_HOST, MQTT_PORT)
        self.client.loop_start()
        assert self._connected.wait(10), "device could not connect to the broker"

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        """Publish and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)

    def subscribe(self, topic: str) -> None:
        """Subscribe (QoS 1) and give the broker a moment to register it."""
        self.client.subscribe(topic, qos=1)
        time.sleep(0.2)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(check: Callable[[], Any], timeout_s: float = 15.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def unique(prefix: str) -> str:
    """A name no other test run uses (topics on the shared broker)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"
