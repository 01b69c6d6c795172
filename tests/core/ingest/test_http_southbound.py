"""HTTP southbound: a provisioned device posts IoT Agent JSON and UltraLight measures."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.core.ingest.support import APIKEY, ENTITY, STATION, provision_air_station


def entity(client: TestClient, entity_id: str = ENTITY) -> dict:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_provisioning_creates_the_entity_with_static_attributes(client: TestClient) -> None:
    provision_air_station(client)
    body = entity(client)
    assert body["type"] == "AirQualityObserved"
    assert body["stationName"]["value"] == "Ninh Kiều"
    assert body["location"]["value"]["coordinates"] == [105.787, 10.034]
    device = entity(client, f"urn:ngsi-ld:Device:{STATION}")
    assert device["controlledAsset"]["object"] == ENTITY
    assert device["deviceState"]["value"] == "unknown"


def test_json_measure_updates_entity_and_history(client: TestClient) -> None:
    provision_air_station(client)
    response = client.post(
        f"/iot/json?k={APIKEY}&i={STATION}",
        json={"pm25": "35.5", "t": 29.1, "TimeInstant": "2026-11-22T03:00:00Z"},
    )
    assert response.status_code == 200, response.text
    body = entity(client)
    assert body["pm25"]["value"] == 35.5
    assert body["pm25"]["unitCode"] == "GQ"
    assert body["temperature"]["value"] == 29.1
    assert body["temperature"]["observedAt"] == "2026-11-22T03:00:00.000Z"
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{ENTITY}?attrs=pm25")
    assert history.status_code == 200
    assert [i["value"] for i in history.json()["pm25"]] == [35.5]


def test_batched_measures_keep_each_timestamp_and_the_newest_value(client: TestClient) -> None:
    provision_air_station(client)
    measures = [
        {"pm25": 12, "TimeInstant": "2026-11-22T01:00:00Z"},
        {"pm25": 30, "TimeInstant": "2026-11-22T03:00:00Z"},
        {"pm25": 20, "TimeInstant": "2026-11-22T02:00:00Z"},
    ]
    assert client.post(f"/iot/json?k={APIKEY}&i={STATION}", json=measures).status_code == 200
    assert entity(client)["pm25"]["value"] == 30
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{ENTITY}?attrs=pm25").json()
    assert sorted(i["value"] for i in history["pm25"]) == [12, 20, 30]


def test_the_same_measure_twice_is_stored_once(client: TestClient) -> None:
    provision_air_station(client)
    measure = {"pm25": 41, "TimeInstant": "2026-11-22T04:00:00Z"}
    for _ in range(2):
        assert client.post(f"/iot/json?k={APIKEY}&i={STATION}", json=measure).status_code == 200
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{ENTITY}?attrs=pm25").json()
    assert [i["value"] for i in history["pm25"]] == [41]


def test_ultralight_measures(client: TestClient) -> None:
    provision_air_station(client, protocol="IoTA-UL")
    body = "2026-11-22T05:00:00Z|pm25|18.5|st|OK#2026-11-22T06:00:00Z|pm25|22"
    response = client.post(
        f"/iot/d?k={APIKEY}&i={STATION}", content=body, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    current = entity(client)
    assert current["pm25"]["value"] == 22
    assert current["status"]["value"] == "OK"


def test_receive_time_is_used_without_timestamp(client: TestClient) -> None:
    provision_air_station(client)
    assert client.post(f"/iot/json?k={APIKEY}&i={STATION}", json={"pm25": 9}).status_code == 200
    assert entity(client)["pm25"]["observedAt"].startswith("20")


def test_telemetry_needs_no_platform_credentials(client: TestClient) -> None:
    provision_air_station(client)
    del client.headers["X-API-Key"]
    response = client.post(f"/iot/json?k={APIKEY}&i={STATION}", json={"pm25": 7})
    assert response.status_code == 200, response.text
