"""Provisioning through the IoT Agent API: service groups, devices, CSV import, who may do it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from smartcity.app import create_app
from smartcity.cli import app as cli_app
from smartcity.config import Settings
from smartcity.core.context.service import ContextBroker
from smartcity.core.db import open_database
from smartcity.core.events import EventBus
from smartcity.core.ingest.runtime import build_ingest
from smartcity.core.ingest.schemas import GroupIn
from smartcity.core.migrate import upgrade
from tests.core.auth.principals import make_callers

APIKEY = "ctair2026"
AIR = "AirQualityObserved"
CSV_HEADER = (
    "device_id,apikey,entity_name,entity_type,protocol,transport,attributes,commands,"
    "latitude,longitude,expected_interval_s\n"
)


def app_of(client: TestClient) -> FastAPI:
    return cast(FastAPI, client.app)


def scoped_key(client: TestClient, *entity_types: str) -> dict[str, str]:
    """Headers of an integrator API key that may touch only these entity types."""
    service = app_of(client).state.auth.service
    return {"X-API-Key": service.create_api_key("scoped", "integrator", None, entity_types).key}


def group(apikey: str = APIKEY, entity_type: str = AIR, **extra: Any) -> dict[str, Any]:
    """A service group payload."""
    return {"apikey": apikey, "entity_type": entity_type, **extra}


def device(device_id: str, apikey: str | None = APIKEY, **extra: Any) -> dict[str, Any]:
    """An HTTP air-quality device payload (apikey left out when None)."""
    body: dict[str, Any] = {
        "device_id": device_id,
        "entity_type": AIR,
        "transport": "HTTP",
        "attributes": [{"object_id": "pm25", "name": "pm25", "type": "Number"}],
        **extra,
    }
    if apikey is not None:
        body["apikey"] = apikey
    return body


def add_groups(client: TestClient, *groups: dict[str, Any]) -> None:
    response = client.post("/iot/services", json={"services": list(groups or [group()])})
    assert response.status_code == 201, response.text


def post_devices(
    client: TestClient, *devices: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/iot/devices", json={"devices": list(devices)}, headers=headers
    )
    return response


def add_devices(client: TestClient, *devices: dict[str, Any]) -> None:
    response = post_devices(client, *devices)
    assert response.status_code == 201, response.text


def device_ids(client: TestClient) -> list[str]:
    body = client.get("/iot/devices").json()
    return [d["device_id"] for d in body["devices"]]


def entity_status(client: TestClient, entity_id: str) -> int:
    response: httpx.Response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    return response.status_code


def assert_iot_error(response: httpx.Response, status: int, name: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["name"] == name
    assert isinstance(body["message"], str) and body["message"]


def post_csv(client: TestClient, text: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/iot/devices", content=text, headers={"Content-Type": "text/csv"}
    )
    return response


# --- service groups ------------------------------------------------------------------------


def test_created_groups_are_listed(client: TestClient) -> None:
    add_groups(client, group("ctair2026"), group("ctwater2026", "WaterObserved"))
    body = client.get("/iot/services").json()
    assert body["count"] == 2
    assert [(g["apikey"], g["entity_type"]) for g in body["services"]] == [
        ("ctair2026", AIR),
        ("ctwater2026", "WaterObserved"),
    ]


def test_a_taken_apikey_is_a_duplicate_group(client: TestClient) -> None:
    add_groups(client)
    response = client.post("/iot/services", json={"services": [group()]})
    assert_iot_error(response, 409, "DUPLICATE_GROUP")


def test_group_update_changes_defaults_that_new_devices_inherit(client: TestClient) -> None:
    add_groups(client)
    response = client.put(f"/iot/services?apikey={APIKEY}", json={"expected_interval_s": 120})
    assert response.status_code == 204, response.text
    assert client.get("/iot/services").json()["services"][0]["expected_interval_s"] == 120
    add_devices(client, device("air-01"))
    assert client.get("/iot/devices/air-01").json()["expected_interval_s"] == 120


def test_updating_an_unknown_group_is_not_found(client: TestClient) -> None:
    response = client.put("/iot/services?apikey=nope", json={"expected_interval_s": 120})
    assert_iot_error(response, 404, "DEVICE_GROUP_NOT_FOUND")


def test_a_group_without_devices_can_be_deleted(client: TestClient) -> None:
    add_groups(client)
    assert client.delete(f"/iot/services?apikey={APIKEY}").status_code == 204
    assert client.get("/iot/services").json() == {"count": 0, "services": []}


def test_a_group_with_devices_cannot_be_deleted(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01"))
    assert_iot_error(client.delete(f"/iot/services?apikey={APIKEY}"), 400, "BAD_REQUEST")
    assert client.get("/iot/services").json()["count"] == 1


# --- devices -------------------------------------------------------------------------------


def test_created_devices_are_listed(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-02"), device("air-01"))
    body = client.get("/iot/devices").json()
    assert body["count"] == 2
    assert [d["device_id"] for d in body["devices"]] == ["air-01", "air-02"]


def test_one_device_is_shown_with_its_provisioning_and_health(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01", commands=[{"name": "calibrate"}]))
    body = client.get("/iot/devices/air-01").json()
    assert body["apikey"] == APIKEY
    assert body["entity_type"] == AIR
    assert body["transport"] == "HTTP"
    assert body["protocol"] == "IoTA-JSON"
    assert body["attributes"][0]["name"] == "pm25"
    assert body["commands"] == [{"name": "calibrate", "type": "command"}]
    assert body["health"]["state"] == "unknown"


def test_an_unknown_device_is_not_found(client: TestClient) -> None:
    assert_iot_error(client.get("/iot/devices/nope"), 404, "DEVICE_NOT_FOUND")


def test_device_update_changes_its_mapping(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01"))
    attributes = [{"object_id": "p", "name": "pm10", "type": "Number", "unitCode": "GQ"}]
    response = client.put("/iot/devices/air-01", json={"attributes": attributes})
    assert response.status_code == 204, response.text
    shown = client.get("/iot/devices/air-01").json()["attributes"]
    assert shown == [{"object_id": "p", "name": "pm10", "type": "Number", "unitCode": "GQ"}]


def test_device_update_moves_its_entity(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01", location={"type": "Point", "coordinates": [105.7, 10.0]}))
    moved = {"type": "Point", "coordinates": [105.8, 10.1]}
    assert client.put("/iot/devices/air-01", json={"location": moved}).status_code == 204
    asset = client.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:{AIR}:air-01").json()
    assert asset["location"]["value"]["coordinates"] == [105.8, 10.1]


def test_updating_an_unknown_device_is_not_found(client: TestClient) -> None:
    response = client.put("/iot/devices/nope", json={"expected_interval_s": 60})
    assert_iot_error(response, 404, "DEVICE_NOT_FOUND")


def test_deleting_a_device_removes_its_device_entity_and_keeps_the_asset(
    client: TestClient,
) -> None:
    add_groups(client)
    add_devices(client, device("air-01"))
    assert client.delete("/iot/devices/air-01").status_code == 204
    assert_iot_error(client.get("/iot/devices/air-01"), 404, "DEVICE_NOT_FOUND")
    assert entity_status(client, "urn:ngsi-ld:Device:air-01") == 404
    assert entity_status(client, f"urn:ngsi-ld:{AIR}:air-01") == 200


def test_a_taken_device_id_is_a_duplicate(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01"))
    assert_iot_error(post_devices(client, device("air-01")), 409, "DUPLICATE_DEVICE_ID")


def test_the_same_device_id_twice_in_one_request_is_a_duplicate(client: TestClient) -> None:
    add_groups(client)
    response = post_devices(client, device("air-01"), device("air-01"))
    assert_iot_error(response, 409, "DUPLICATE_DEVICE_ID")
    assert device_ids(client) == []


def test_a_device_of_an_unknown_apikey_is_refused(client: TestClient) -> None:
    response = post_devices(client, device("air-01", apikey="nope"))
    assert_iot_error(response, 404, "DEVICE_GROUP_NOT_FOUND")
    assert device_ids(client) == []


def test_an_apikey_with_a_slash_is_a_bad_group(client: TestClient) -> None:
    response = client.post("/iot/services", json={"services": [group("ct/air")]})
    assert_iot_error(response, 400, "BAD_REQUEST")
    assert client.get("/iot/services").json()["count"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"protocol": "LoRaWAN-Magic"},
        {"location": {"type": "Point", "coordinates": [200, 10]}},
        {"location": {"type": "Polygon", "coordinates": [105.7, 10.0]}},
        {"location": {"type": "Point", "coordinates": ["105.7", "10.0"]}},
        {"device_id": "air/01"},
    ],
    ids=[
        "unknown-protocol",
        "location-out-of-range",
        "location-not-a-point",
        "location-not-numbers",
        "slash-in-id",
    ],
)
def test_a_bad_device_is_refused_and_nothing_stored(
    client: TestClient, bad: dict[str, Any]
) -> None:
    add_groups(client)
    response = post_devices(client, device("air-01"), {**device("air-02"), **bad})
    assert_iot_error(response, 400, "BAD_REQUEST")
    assert device_ids(client) == []
    assert entity_status(client, f"urn:ngsi-ld:{AIR}:air-01") == 404


def test_a_device_failing_inside_the_batch_rolls_the_whole_batch_back(
    client: TestClient,
) -> None:
    add_groups(client)
    broken = device(
        "air-02", static_attributes=[{"name": "spot", "type": "geo:point", "value": "north"}]
    )
    response = post_devices(client, device("air-01"), broken)
    assert_iot_error(response, 400, "BAD_REQUEST")
    assert device_ids(client) == []
    assert entity_status(client, f"urn:ngsi-ld:{AIR}:air-01") == 404
    assert entity_status(client, "urn:ngsi-ld:Device:air-01") == 404


def test_a_device_without_apikey_joins_the_only_group_of_its_type(client: TestClient) -> None:
    add_groups(client, group("ctair2026"), group("ctwater2026", "WaterObserved"))
    add_devices(client, device("air-01", apikey=None))
    assert client.get("/iot/devices/air-01").json()["apikey"] == "ctair2026"


def test_a_device_without_apikey_and_no_group_of_its_type_is_refused(
    client: TestClient,
) -> None:
    add_groups(client, group("ctwater2026", "WaterObserved"))
    assert_iot_error(post_devices(client, device("air-01", apikey=None)), 400, "BAD_REQUEST")
    assert device_ids(client) == []


def test_an_entity_name_that_is_not_a_uri_becomes_a_urn(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01", entity_name="ninhkieu-05"))
    expected = f"urn:ngsi-ld:{AIR}:ninhkieu-05"
    assert client.get("/iot/devices/air-01").json()["entity_name"] == expected
    assert entity_status(client, expected) == 200


def test_a_urn_entity_name_is_kept(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01", entity_name="urn:ngsi-ld:AirQualityObserved:cr-01"))
    assert entity_status(client, "urn:ngsi-ld:AirQualityObserved:cr-01") == 200


# --- CSV import ----------------------------------------------------------------------------


def test_csv_import_creates_devices_and_located_entities(client: TestClient) -> None:
    add_groups(client)
    csv = CSV_HEADER + (
        "air-01,ctair2026,ninhkieu-01,AirQualityObserved,IoTA-JSON,HTTP,"
        "pm25:pm25:Number:GQ;t:temperature:Number:CEL,calibrate;reboot,10.034,105.787,60\n"
        "air-02,ctair2026,,AirQualityObserved,IoTA-UL,MQTT,st:status:Text,,,,\n"
    )
    assert post_csv(client, csv).status_code == 201
    first = client.get("/iot/devices/air-01").json()
    assert first["protocol"] == "IoTA-JSON"
    assert first["expected_interval_s"] == 60
    assert [c["name"] for c in first["commands"]] == ["calibrate", "reboot"]
    assert first["attributes"][0] == {
        "object_id": "pm25",
        "name": "pm25",
        "type": "Number",
        "unitCode": "GQ",
    }
    asset = client.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:{AIR}:ninhkieu-01").json()
    assert asset["location"]["value"]["coordinates"] == [105.787, 10.034]
    second = client.get("/iot/devices/air-02").json()
    assert (second["protocol"], second["transport"]) == ("IoTA-UL", "MQTT")
    assert second["entity_name"] == f"urn:ngsi-ld:{AIR}:air-02"


def test_csv_with_a_bad_line_names_it_and_stores_nothing(client: TestClient) -> None:
    add_groups(client)
    csv = CSV_HEADER + (
        "air-01,ctair2026,,AirQualityObserved,IoTA-JSON,HTTP,pm25:pm25:Number,,,,\n"
        "air-02,ctair2026,,AirQualityObserved,IoTA-JSON,HTTP,pm25,,,,\n"
    )
    response = post_csv(client, csv)
    assert_iot_error(response, 400, "BAD_REQUEST")
    assert "line 3" in response.json()["message"]
    assert device_ids(client) == []


def test_csv_without_a_device_id_column_is_refused(client: TestClient) -> None:
    assert_iot_error(post_csv(client, "id,apikey\nair-01,ctair2026\n"), 400, "BAD_REQUEST")


def test_cli_imports_devices_from_a_csv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMARTCITY_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path)
    database = open_database(settings.resolved_database_url())
    upgrade(database)
    state = build_ingest(settings, database, ContextBroker(database), EventBus())
    state.devices.create_groups([GroupIn(apikey=APIKEY, entity_type=AIR)], "test", lambda _: True)
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text(
        CSV_HEADER
        + "air-01,ctair2026,cairang-01,AirQualityObserved,IoTA-JSON,HTTP,pm25:pm25:Number,"
        ",10.0,105.75,\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(
        cli_app, ["devices", "import", str(csv_file), "--data-dir", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    assert "1 devices provisioned" in result.output
    app = create_app(settings, database=database)
    key = app.state.auth.service.create_api_key("check", "integrator").key
    with TestClient(app, headers={"X-API-Key": key}) as check:
        assert check.get("/iot/devices/air-01").json()["apikey"] == APIKEY
        asset = check.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:{AIR}:cairang-01").json()
        assert asset["location"]["value"]["coordinates"] == [105.75, 10.0]
    database.dispose()


def test_cli_import_of_a_bad_csv_fails_with_the_reason(tmp_path: Path) -> None:
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text(CSV_HEADER + "air-01,nope,,AirQualityObserved,,,,,,,\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli_app, ["devices", "import", str(csv_file), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "nope" in result.output


# --- who may provision ---------------------------------------------------------------------


def test_anonymous_callers_may_not_see_devices(client: TestClient) -> None:
    del client.headers["X-API-Key"]
    assert client.get("/iot/devices").status_code == 401
    assert client.post("/iot/services", json={"services": [group()]}).status_code == 401


def test_citizens_may_not_see_devices(client: TestClient) -> None:
    callers = make_callers(app_of(client), ("citizen",))
    response = client.get("/iot/devices", headers=callers.headers("citizen"))
    assert response.status_code == 403


def test_operators_may_list_devices_but_not_provision(client: TestClient) -> None:
    add_groups(client)
    add_devices(client, device("air-01"))
    operator = make_callers(app_of(client), ("operator",)).headers("operator")
    listed = client.get("/iot/devices", headers=operator)
    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert post_devices(client, device("air-02"), headers=operator).status_code == 403
    assert client.delete("/iot/devices/air-01", headers=operator).status_code == 403
    assert device_ids(client) == ["air-01"]


def test_a_key_scoped_to_streetlights_provisions_only_streetlights(client: TestClient) -> None:
    add_groups(client, group("ctair2026"), group("ctlight2026", "Streetlight"))
    scoped = scoped_key(client, "Streetlight")

    refused = post_devices(client, device("air-01"), headers=scoped)
    light = device("light-01", apikey="ctlight2026", entity_type="Streetlight")
    accepted = post_devices(client, light, headers=scoped)

    assert_iot_error(refused, 403, "FORBIDDEN")
    assert accepted.status_code == 201, accepted.text
    assert device_ids(client) == ["light-01"]


def test_a_scoped_key_lists_only_devices_of_its_types(client: TestClient) -> None:
    add_groups(client, group("ctair2026"), group("ctlight2026", "Streetlight"))
    add_devices(
        client,
        device("air-01"),
        device("light-01", apikey="ctlight2026", entity_type="Streetlight"),
    )
    scoped = scoped_key(client, "Streetlight")
    body = client.get("/iot/devices", headers=scoped).json()
    assert [d["device_id"] for d in body["devices"]] == ["light-01"]
    assert client.get("/iot/devices/air-01", headers=scoped).status_code == 404
