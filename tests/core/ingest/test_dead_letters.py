"""Refused device messages over HTTP: the IoT Agent error, the dead letter kept, its replay."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.core.auth.principals import make_callers
from tests.core.ingest.support import APIKEY, ENTITY, STATION, provision_air_station

LETTERS = "/api/ingest/dead-letters"


def send(
    client: TestClient, payload: bytes, *, apikey: str = APIKEY, device: str = STATION
) -> httpx.Response:
    """POST a raw IoT Agent JSON payload as the device would."""
    response: httpx.Response = client.post(
        f"/iot/json?k={apikey}&i={device}",
        content=payload,
        headers={"Content-Type": "application/json"},
    )
    return response


def send_ul(client: TestClient, payload: bytes) -> httpx.Response:
    """POST a raw UltraLight payload as the device would."""
    response: httpx.Response = client.post(
        f"/iot/d?k={APIKEY}&i={STATION}", content=payload, headers={"Content-Type": "text/plain"}
    )
    return response


def letters(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get(LETTERS, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["deadLetters"])
    return cast(list[dict[str, Any]], body["deadLetters"])


def only_letter(client: TestClient) -> dict[str, Any]:
    (letter,) = letters(client)
    return letter


def current(client: TestClient, entity_id: str = ENTITY) -> dict[str, Any]:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


def replay(client: TestClient, letter_id: int, **kwargs: Any) -> httpx.Response:
    response: httpx.Response = client.post(f"{LETTERS}/{letter_id}/replay", **kwargs)
    return response


def assert_iot_error(response: httpx.Response, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["name"] == name


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def app_of(client: TestClient) -> FastAPI:
    return cast(FastAPI, client.app)


# --- refusals ------------------------------------------------------------------------------


def test_malformed_json_is_a_bad_measure_kept_as_a_dead_letter(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(send(client, b'{"pm25": '), 400, "BAD_MEASURE")
    letter = only_letter(client)
    assert letter["transport"] == "http"
    assert letter["topic"] == "/iot/json"
    assert (letter["apikey"], letter["device_id"]) == (APIKEY, STATION)
    assert letter["protocol"] == "IoTA-JSON"
    assert letter["reason"].startswith("malformed JSON")
    assert letter["payload"] == '{"pm25": '
    assert letter["receivedAt"].endswith("Z")
    assert (letter["replayedAt"], letter["replayOutcome"]) == (None, None)


def test_an_unknown_apikey_is_a_missing_group(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(send(client, b'{"pm25": 1}', apikey="nope"), 404, "DEVICE_GROUP_NOT_FOUND")
    letter = only_letter(client)
    assert letter["apikey"] == "nope"
    assert letter["reason"].startswith("unknown apikey")


def test_an_unknown_device_is_a_missing_device(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(send(client, b'{"pm25": 1}', device="ghost"), 404, "DEVICE_NOT_FOUND")
    letter = only_letter(client)
    assert letter["device_id"] == "ghost"
    assert letter["reason"].startswith("unknown device")


def test_a_value_of_the_wrong_type_is_refused(client: TestClient) -> None:
    provision_air_station(client)
    assert_iot_error(send(client, b'{"pm25": "abc"}'), 400, "BAD_MEASURE")
    assert "expected Number" in only_letter(client)["reason"]


def test_a_timestamp_an_hour_ahead_is_refused(client: TestClient) -> None:
    provision_air_station(client)
    payload = f'{{"pm25": 12, "TimeInstant": "{in_an_hour()}"}}'.encode()
    assert_iot_error(send(client, payload), 400, "BAD_MEASURE")
    assert "in the future" in only_letter(client)["reason"]


def test_a_refused_message_leaves_the_entity_unchanged(client: TestClient) -> None:
    provision_air_station(client)
    assert send(client, b'{"pm25": 10, "t": 28}').status_code == 200
    assert send(client, b'{"pm25": 55, "t": "hot"}').status_code == 400
    body = current(client)
    assert (body["pm25"]["value"], body["temperature"]["value"]) == (10, 28)


def test_the_payload_is_kept_byte_for_byte(client: TestClient) -> None:
    provision_air_station(client)
    raw = '  {"st": "Trạm Ninh Kiều",\t"pm25": "abc"}\r\n'.encode()
    send(client, raw)
    assert only_letter(client)["payload"].encode() == raw


def test_a_payload_that_is_not_utf8_is_shown_in_base64(client: TestClient) -> None:
    provision_air_station(client)
    raw = b"pm25|\xff\xfe12"
    assert_iot_error(send_ul(client, raw), 400, "BAD_MEASURE")
    letter = only_letter(client)
    assert "payload" not in letter
    assert base64.b64decode(letter["payloadBase64"]) == raw
    assert letter["protocol"] == "IoTA-UL"


# --- reading -------------------------------------------------------------------------------


def test_dead_letters_are_listed_newest_first_and_by_device(client: TestClient) -> None:
    provision_air_station(client)
    send(client, b"first")
    send(client, b"second", device="ghost")
    assert [letter["payload"] for letter in letters(client)] == ["second", "first"]
    assert [letter["payload"] for letter in letters(client, device_id="ghost")] == ["second"]


def test_one_dead_letter_is_read_by_id(client: TestClient) -> None:
    provision_air_station(client)
    send(client, b"{oops")
    letter = only_letter(client)
    response = client.get(f"{LETTERS}/{letter['id']}")
    assert response.status_code == 200
    assert response.json() == letter


def test_an_unknown_dead_letter_is_not_found(client: TestClient) -> None:
    assert_iot_error(client.get(f"{LETTERS}/999999"), 404, "NOT_FOUND")


# --- replay --------------------------------------------------------------------------------


def test_a_replay_of_an_unchanged_refusal_is_refused_again(client: TestClient) -> None:
    provision_air_station(client)
    send(client, b'{"pm25": "abc"}')
    letter = only_letter(client)
    response = replay(client, letter["id"])
    assert response.status_code == 200, response.text
    assert response.json()["outcome"].startswith("refused again: ")
    assert "expected Number" in response.json()["outcome"]
    shown = client.get(f"{LETTERS}/{letter['id']}").json()
    assert shown["replayOutcome"] == response.json()["outcome"]
    assert shown["replayedAt"] is not None


def test_a_replay_after_fixing_the_device_stores_the_value(client: TestClient) -> None:
    provision_air_station(client)
    send(client, b'{"pm25": "abc"}')
    letter = only_letter(client)
    text = [{"object_id": "pm25", "name": "pm25", "type": "Text"}]
    assert client.put(f"/iot/devices/{STATION}", json={"attributes": text}).status_code == 204

    response = replay(client, letter["id"])

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "stored"
    assert response.json()["stored"] == 1
    assert current(client)["pm25"]["value"] == "abc"
    assert client.get(f"{LETTERS}/{letter['id']}").json()["replayOutcome"] == "stored"


def test_a_replay_of_an_unknown_dead_letter_is_not_found(client: TestClient) -> None:
    assert_iot_error(replay(client, 999999), 404, "NOT_FOUND")


def test_operators_may_read_dead_letters_but_not_replay_them(client: TestClient) -> None:
    provision_air_station(client)
    send(client, b"{oops")
    operator = make_callers(app_of(client), ("operator",)).headers("operator")
    listed = client.get(LETTERS, headers=operator)
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    letter_id = listed.json()["deadLetters"][0]["id"]
    assert replay(client, letter_id, headers=operator).status_code == 403


@pytest.mark.parametrize("path", [LETTERS, f"{LETTERS}/1"])
def test_citizens_may_not_read_dead_letters(client: TestClient, path: str) -> None:
    citizen = make_callers(app_of(client), ("citizen",)).headers("citizen")
    assert client.get(path, headers=citizen).status_code == 403


def test_anonymous_callers_may_not_read_dead_letters(client: TestClient) -> None:
    del client.headers["X-API-Key"]
    assert client.get(LETTERS).status_code == 401
