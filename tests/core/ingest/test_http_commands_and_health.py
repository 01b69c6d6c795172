"""Commands to HTTP devices (send, poll, result) and the device health sweep."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.config import Settings
from smartcity.core.events import Event
from tests.core.auth.principals import make_callers
from tests.core.ingest.support import APIKEY, ENTITY, STATION, provision_air_station

COMMANDS = f"/api/devices/{STATION}/commands"
DEVICE_ENTITY = f"urn:ngsi-ld:Device:{STATION}"


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    """No background sweep: the tests sweep when they mean to."""
    return Settings(data_dir=tmp_path, max_body_bytes=1024 * 1024, device_sweep_s=3600)


def app_of(client: TestClient) -> FastAPI:
    return cast(FastAPI, client.app)


def send_command(client: TestClient, name: str, value: Any = None) -> httpx.Response:
    response: httpx.Response = client.post(COMMANDS, json={"name": name, "value": value})
    return response


def poll(client: TestClient, path: str = "/iot/json") -> httpx.Response:
    response: httpx.Response = client.get(f"{path}?k={APIKEY}&i={STATION}")
    assert response.status_code == 200, response.text
    return response


def answer(client: TestClient, results: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/iot/json/commands?k={APIKEY}&i={STATION}", json=results
    )
    return response


def history(client: TestClient) -> list[dict[str, Any]]:
    response = client.get(COMMANDS)
    assert response.status_code == 200, response.text
    return cast(list[dict[str, Any]], response.json())


def current(client: TestClient, entity_id: str = ENTITY) -> dict[str, Any]:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


def measure(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post(f"/iot/json?k={APIKEY}&i={STATION}", json=body)
    assert response.status_code == 200, response.text


def sweep(client: TestClient) -> None:
    app_of(client).state.ingest_runtime.sweep()


def device_state(client: TestClient) -> str:
    return cast(str, current(client, DEVICE_ENTITY)["deviceState"]["value"])


def assert_iot_error(response: httpx.Response, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["name"] == name


# --- sending -------------------------------------------------------------------------------


def test_a_command_to_an_http_device_is_pending(client: TestClient) -> None:
    provision_air_station(client)
    response = send_command(client, "calibrate", "zero")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["name"], body["value"], body["status"]) == ("calibrate", "zero", "PENDING")
    assert current(client)["calibrate_status"]["value"] == "PENDING"


def test_a_command_of_the_group_is_accepted(client: TestClient) -> None:
    provision_air_station(client)
    assert send_command(client, "reboot").status_code == 202


def test_an_unknown_command_is_refused(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(send_command(client, "selfdestruct"), 400, "BAD_REQUEST")
    assert history(client) == []


def test_a_command_to_an_unknown_device_is_not_found(client: TestClient) -> None:
    response = client.post("/api/devices/ghost/commands", json={"name": "calibrate"})
    assert_iot_error(response, 404, "DEVICE_NOT_FOUND")


def test_a_command_to_an_mqtt_device_without_mqtt_is_unavailable(client: TestClient) -> None:
    provision_air_station(client, transport="MQTT")
    assert_iot_error(send_command(client, "calibrate", "zero"), 503, "SERVICE_UNAVAILABLE")
    assert history(client) == []


def test_citizens_may_not_send_commands(client: TestClient) -> None:
    provision_air_station(client)
    citizen = make_callers(app_of(client), ("citizen",)).headers("citizen")
    response = client.post(COMMANDS, json={"name": "calibrate"}, headers=citizen)
    assert response.status_code == 403


# --- polling and results -------------------------------------------------------------------


def test_a_polling_device_gets_its_pending_commands_once(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", {"gain": 2})
    assert poll(client).json() == {"calibrate": {"gain": 2}}
    assert [c["status"] for c in history(client)] == ["DELIVERED"]
    assert current(client)["calibrate_status"]["value"] == "DELIVERED"
    assert poll(client).json() == {}


def test_a_measure_with_getcmd_answers_with_pending_commands(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", "zero")
    response = client.post(f"/iot/json?k={APIKEY}&i={STATION}&getCmd=1", json={"pm25": 3})
    assert response.status_code == 200, response.text
    assert response.json() == {"calibrate": "zero"}
    assert current(client)["pm25"]["value"] == 3
    assert [c["status"] for c in history(client)] == ["DELIVERED"]


def test_a_poll_from_an_unknown_device_is_not_found(client: TestClient) -> None:
    provision_air_station(client)
    response = client.get(f"/iot/json?k={APIKEY}&i=ghost")
    assert_iot_error(response, 404, "DEVICE_NOT_FOUND")
    assert client.get("/api/ingest/dead-letters").json()["count"] == 0
    assert "dead letter" not in response.json()["message"]


def test_a_numeric_command_value_reaches_the_device(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", 5)
    assert poll(client).json() == {"calibrate": 5}


def test_an_ultralight_device_polls_one_command_a_line(client: TestClient) -> None:
    provision_air_station(client, protocol="IoTA-UL")
    send_command(client, "calibrate", "fast")
    send_command(client, "reboot", "now")
    response = poll(client, "/iot/d")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"{STATION}@calibrate|fast\n{STATION}@reboot|now"


def test_a_result_makes_the_command_ok(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", "zero")
    poll(client)
    assert answer(client, {"calibrate": "done"}).status_code == 200
    (command,) = history(client)
    assert (command["status"], command["result"]) == ("OK", "done")
    body = current(client)
    assert body["calibrate_status"]["value"] == "OK"
    assert body["calibrate_info"]["value"] == "done"


def test_a_result_with_an_error_makes_the_command_fail(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", "zero")
    poll(client)
    assert answer(client, {"calibrate": {"error": "sensor jammed"}}).status_code == 200
    (command,) = history(client)
    assert command["status"] == "ERROR"
    assert command["result"] == {"error": "sensor jammed"}
    assert current(client)["calibrate_status"]["value"] == "ERROR"


def test_a_numeric_result_is_kept(client: TestClient) -> None:
    provision_air_station(client)
    send_command(client, "calibrate", "zero")
    assert answer(client, {"calibrate": 42}).status_code == 200
    assert history(client)[0]["result"] == 42


def test_a_result_for_no_pending_command_is_a_dead_letter(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(answer(client, {"calibrate": "done"}), 400, "BAD_MEASURE")
    (letter,) = client.get("/api/ingest/dead-letters").json()["deadLetters"]
    assert "not pending" in letter["reason"]
    assert letter["payload"] == '{"calibrate":"done"}'


def test_a_replayed_result_closes_the_command_sent_since(client: TestClient) -> None:
    provision_air_station(client)
    answer(client, {"calibrate": "done"})
    (letter,) = client.get("/api/ingest/dead-letters").json()["deadLetters"]
    send_command(client, "calibrate", "zero")

    response = client.post(f"/api/ingest/dead-letters/{letter['id']}/replay")

    assert response.json()["outcome"] == "stored"
    assert history(client)[0]["status"] == "OK"
    assert "calibrate" not in current(client)


# --- health --------------------------------------------------------------------------------


def test_a_reporting_device_is_online_with_its_battery(client: TestClient) -> None:
    provision_air_station(client, interval_s=1)
    measure(client, {"pm25": 12, "bat": 87})
    sweep(client)
    device = current(client, DEVICE_ENTITY)
    health = client.get(f"/iot/devices/{STATION}").json()["health"]
    assert device["deviceState"]["value"] == "online"
    assert device["batteryLevel"]["value"] == 87
    assert device["dateLastValueReported"]["value"]["@value"] == health["lastSeen"]
    assert health["state"] == "online"
    assert health["batteryLevel"] == 87
    assert health["lastSeen"].endswith("Z")


def test_a_silent_device_goes_offline_and_comes_back_online(client: TestClient) -> None:
    provision_air_station(client, interval_s=1)
    events: list[Event] = []
    app_of(client).state.events.subscribe("device.", events.append)
    measure(client, {"pm25": 12})
    sweep(client)
    assert device_state(client) == "online"

    time.sleep(3.3)  # more than 3 × the expected interval
    sweep(client)
    assert device_state(client) == "offline"
    assert [e.topic for e in events if e.topic == "device.offline"] == ["device.offline"]
    assert client.get(f"/iot/devices/{STATION}").json()["health"]["state"] == "offline"

    measure(client, {"pm25": 14})
    sweep(client)
    assert device_state(client) == "online"
    health_topics = [e.topic for e in events if e.topic in ("device.online", "device.offline")]
    assert health_topics[-2:] == ["device.offline", "device.online"]
    assert events[-1].subject == STATION


def test_the_sweep_handles_devices_that_report_every_15_minutes(client: TestClient) -> None:
    """900 s × 3,000,000 µs does not fit a 32-bit integer: PostgreSQL once refused the sweep."""
    provision_air_station(client, interval_s=900)
    measure(client, {"pm25": 12})
    commands = app_of(client).state.ingest.commands
    commands.sweep_health()  # the device becomes online
    commands.sweep_health()  # and is checked for silence: this raised on PostgreSQL
    assert device_state(client) == "online"
