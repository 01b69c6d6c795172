"""Provisioning helpers shared by the ingestion tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

APIKEY = "ctair2026"
STATION = "air-ninhkieu-01"
ENTITY = "urn:ngsi-ld:AirQualityObserved:ninhkieu-01"


def provision_air_station(
    client: TestClient,
    *,
    transport: str = "HTTP",
    protocol: str = "IoTA-JSON",
    device_id: str = STATION,
    entity: str = ENTITY,
    apikey: str = APIKEY,
    interval_s: int | None = 60,
) -> None:
    """A service group for air stations and one station with mapped attributes."""
    group = {
        "apikey": apikey,
        "entity_type": "AirQualityObserved",
        "attributes": [
            {"object_id": "t", "name": "temperature", "type": "Number", "unitCode": "CEL"}
        ],
        "commands": [{"name": "reboot"}],
    }
    response = client.post("/iot/services", json={"services": [group]})
    assert response.status_code in (201, 409), response.text
    device: dict[str, Any] = {
        "device_id": device_id,
        "apikey": apikey,
        "entity_name": entity,
        "entity_type": "AirQualityObserved",
        "protocol": protocol,
        "transport": transport,
        "attributes": [
            {"object_id": "pm25", "name": "pm25", "type": "Number", "unitCode": "GQ"},
            {"object_id": "st", "name": "status", "type": "Text"},
            {"object_id": "bat", "name": "batteryLevel", "type": "Number"},
        ],
        "static_attributes": [{"name": "stationName", "type": "Text", "value": "Ninh Kiều"}],
        "commands": [{"name": "calibrate"}],
        "location": {"type": "Point", "coordinates": [105.787, 10.034]},
    }
    if interval_s is not None:
        device["expected_interval_s"] = interval_s
    response = client.post("/iot/devices", json={"devices": [device]})
    assert response.status_code == 201, response.text
