"""MQTT southbound on the real broker: measures in, commands out and their acknowledgements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import Database
from smartcity.core.events import Event
from tests.core.ingest.mqtt_support import Device, unique, wait_for
from tests.core.ingest.support import provision_air_station
from tests.servers import require_mqtt_broker


@pytest.fixture
def mqtt_app(database: Database, tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    """The platform with its MQTT southbound on, and an integrator client."""
    settings = Settings(
        data_dir=tmp_path,
        mqtt_url=require_mqtt_broker(),
        mqtt_client_id=unique("smartcity-test-"),
        mqtt_share_group=unique("g"),
        mqtt_session_expiry_s=30,
        device_sweep_s=0.2,
    )
    app = create_app(settings, database=database)
    key = app.state.auth.service.create_api_key("mqtt test", "integrator")
    with TestClient(app, headers={"X-API-Key": key.key}) as client:
        runtime = app.state.ingest_runtime
        wait_for(lambda: runtime.mqtt.connected.is_set(), what="MQTT southbound connection")
        yield app, client


@pytest.fixture
def device() -> Iterator[Device]:
    """A device connected to the broker."""
    dev = Device()
    yield dev
    dev.close()


def current(client: TestClient, entity_id: str) -> dict:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    return response.json() if response.status_code == 200 else {}


def test_json_and_ultralight_topics_update_the_entity(
    mqtt_app: tuple[FastAPI, TestClient], device: Device
) -> None:
    _, client = mqtt_app
    apikey, json_dev, ul_dev = unique("k"), unique("j"), unique("u")
    json_entity = f"urn:ngsi-ld:AirQualityObserved:{json_dev}"
    ul_entity = f"urn:ngsi-ld:AirQualityObserved:{ul_dev}"
    provision_air_station(
        client, transport="MQTT", apikey=apikey, device_id=json_dev, entity=json_entity
    )
    provision_air_station(
        client,
        transport="MQTT",
        apikey=apikey,
        device_id=ul_dev,
        entity=ul_entity,
        protocol="IoTA-UL",
    )

    device.publish(f"/json/{apikey}/{json_dev}/attrs", orjson.dumps({"pm25": 33.3, "t": 30}))
    device.publish(f"/{apikey}/{json_dev}/attrs", orjson.dumps({"st": "OK"}))
    device.publish(f"/ul/{apikey}/{ul_dev}/attrs", "pm25|12.5|st|calibrating")

    body = wait_for(
        lambda: current(client, json_entity).get("status") and current(client, json_entity),
        what="JSON measures",
    )
    assert body["pm25"]["value"] == 33.3
    assert body["temperature"]["value"] == 30
    ul = wait_for(
        lambda: current(client, ul_entity).get("pm25") and current(client, ul_entity),
        what="UltraLight measures",
    )
    assert ul["pm25"]["value"] == 12.5
    assert ul["status"]["value"] == "calibrating"


def test_a_command_round_trips_with_its_acknowledgement(
    mqtt_app: tuple[FastAPI, TestClient], device: Device
) -> None:
    app, client = mqtt_app
    apikey, dev = unique("k"), unique("d")
    entity = f"urn:ngsi-ld:AirQualityObserved:{dev}"
    provision_air_station(client, transport="MQTT", apikey=apikey, device_id=dev, entity=entity)
    events: list[Event] = []
    app.state.events.subscribe("device.command", events.append)
    device.subscribe(f"/{apikey}/{dev}/cmd")

    response = client.post(
        f"/api/devices/{dev}/commands", json={"name": "calibrate", "value": "zero"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    assert current(client, entity)["calibrate_status"]["value"] == "PENDING"

    topic, payload = wait_for(lambda: device.received and device.received[0], what="command")
    assert topic == f"/{apikey}/{dev}/cmd"
    assert orjson.loads(payload) == {"calibrate": "zero"}
    device.publish(f"/json/{apikey}/{dev}/cmdexe", orjson.dumps({"calibrate": "zeroed"}))

    done = wait_for(
        lambda: (
            current(client, entity).get("calibrate_status", {}).get("value") == "OK"
            and current(client, entity)
        ),
        what="command status OK",
    )
    assert done["calibrate_info"]["value"] == "zeroed"
    history = client.get(f"/api/devices/{dev}/commands").json()
    assert history[0]["status"] == "OK" and history[0]["result"] == "zeroed"
    assert [e.data["status"] for e in events] == ["PENDING", "OK"]


def test_an_unanswered_command_expires(mqtt_app: tuple[FastAPI, TestClient]) -> None:
    app, client = mqtt_app
    app.state.ingest.commands.timeout_s = 0.1
    apikey, dev = unique("k"), unique("d")
    entity = f"urn:ngsi-ld:AirQualityObserved:{dev}"
    provision_air_station(client, transport="MQTT", apikey=apikey, device_id=dev, entity=entity)
    assert client.post(f"/api/devices/{dev}/commands", json={"name": "reboot"}).status_code == 202
    wait_for(
        lambda: current(client, entity).get("reboot_status", {}).get("value") == "EXPIRED",
        what="command to expire",
    )


def test_garbage_on_a_topic_becomes_a_dead_letter(
    mqtt_app: tuple[FastAPI, TestClient], device: Device
) -> None:
    _, client = mqtt_app
    apikey, dev = unique("k"), unique("d")
    provision_air_station(
        client,
        transport="MQTT",
        apikey=apikey,
        device_id=dev,
        entity=f"urn:ngsi-ld:AirQualityObserved:{dev}",
    )
    device.publish(f"/json/{apikey}/{dev}/attrs", b"{not json")
    device.publish(f"/json/{unique('nokey')}/{dev}/attrs", b'{"pm25": 1}')

    def letters_of_device() -> list[dict]:
        listed = client.get("/api/ingest/dead-letters?limit=100").json()["deadLetters"]
        mine = [letter for letter in listed if letter["device_id"] == dev]
        return mine if len(mine) >= 2 else []

    letters = wait_for(letters_of_device, what="two dead letters")
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1].startswith("unknown apikey")
    assert all(letter["transport"] == "mqtt" and letter["topic"] for letter in letters)
