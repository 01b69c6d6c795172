"""MQTT southbound: FIWARE IoT Agent topics over an MQTT v5 broker (Mosquitto, EMQX).

Subscribes with a shared subscription (`$share/<group>/…`) so that several ingest workers
split the devices' messages, and with a persistent session and manual acknowledgement: a
QoS 1 message is acknowledged only after the batch holding it is committed, so a worker
that dies mid-stream gets its unacknowledged messages again when it reconnects.

Topics (`+` = apikey, device id):
    /+/+/attrs, /json/+/+/attrs   JSON measures       /ul/+/+/attrs   UltraLight 2.0
    /+/+/cmdexe, /json/…, /ul/…   command results      /<apikey>/<device>/cmd  commands out
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from .mapping import JSON_PROTOCOL, UL_PROTOCOL
from .pipeline import Inbound, Ingestor, Receipt

log = logging.getLogger(__name__)

#: Topic filters the southbound listens on (before the $share prefix).
FILTERS = (
    "/+/+/attrs",
    "/json/+/+/attrs",
    "/ul/+/+/attrs",
    "/+/+/cmdexe",
    "/json/+/+/cmdexe",
    "/ul/+/+/cmdexe",
)
_PROTOCOL_OF_PREFIX = {"json": JSON_PROTOCOL, "ul": UL_PROTOCOL}


@dataclass(frozen=True)
class TopicParts:
    """What a southbound topic says: apikey, device, kind and protocol (None: the device's)."""

    apikey: str
    device_id: str
    kind: str
    protocol: str | None


def parse_topic(topic: str) -> TopicParts | None:
    """Split `/[json|ul/]<apikey>/<device_id>/<attrs|cmdexe>`; None for other topics."""
    levels = topic.split("/")
    if len(levels) == 5 and levels[0] == "" and levels[1] in _PROTOCOL_OF_PREFIX:
        _, prefix, apikey, device_id, kind = levels
        protocol: str | None = _PROTOCOL_OF_PREFIX[prefix]
    elif len(levels) == 4 and levels[0] == "":
        _, apikey, device_id, kind = levels
        protocol = None
    else:
        return None
    if kind not in ("attrs", "cmdexe") or not apikey or not device_id:
        return None
    return TopicParts(apikey, device_id, kind, protocol)


class MqttSouthbound:
    """One MQTT connection: ingests device topics and publishes commands."""

    def __init__(
        self,
        url: str,
        ingestor: Ingestor,
        *,
        client_id: str,
        share_group: str = "smartcity",
        receive_maximum: int = 1000,
        session_expiry_s: int = 7 * 24 * 3600,
    ) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"SMARTCITY_MQTT_URL must be mqtt://host:port, not {url!r}")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 1883
        self.ingestor = ingestor
        self.share_group = share_group
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    def start(self) -> None:
        """Connect (persistent session) and run the network loop in a background thread."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.session_expiry_s
        properties.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=properties
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect; unacknowledged messages stay with the broker for the next start."""
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a command to a device (QoS 1)."""
        self.client.publish(topic, payload, qos=1)

    # --- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connection refused: %s", reason)
            return
        options = SubscribeOptions(qos=1)
        client.subscribe([(f"$share/{self.share_group}/{f}", options) for f in FILTERS])
        self.connected.set()
        log.info("MQTT southbound connected to %s:%s", self.host, self.port)

    def _on_disconnect(self, *_args: object) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        parts = parse_topic(message.topic)
        inbound = Inbound(
            transport="mqtt",
            apikey=parts.apikey if parts else None,
            device_id=parts.device_id if parts else None,
            payload=bytes(message.payload),
            kind=parts.kind if parts else "attrs",
            topic=message.topic,
            protocol=parts.protocol if parts else None,
        )
        mid, qos = message.mid, message.qos
        # Blocks when the pipeline is full: paho stops reading, the broker holds the rest.
        future = self.ingestor.submit(inbound, block=True)
        if qos > 0:
            future.add_done_callback(lambda done: self._ack(done, mid, qos))

    def _ack(self, done: Future[Receipt], mid: int, qos: int) -> None:
        """Acknowledge once stored; a message that could not be stored is not acknowledged."""
        if done.exception() is None:
            self.client.ack(mid, qos)
