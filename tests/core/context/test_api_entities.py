"""NGSI-LD entity API through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
LD = {"Content-Type": "application/ld+json"}


def air(
    entity_id: str = "urn:ngsi-ld:AirQualityObserved:ninh-kieu", pm25: float = 28.4
) -> dict[str, Any]:
    """An AirQualityObserved at Ninh Kiều wharf, normalized."""
    return {
        "id": entity_id,
        "type": "AirQualityObserved",
        "pm25": {
            "type": "Property",
            "value": pm25,
            "unitCode": "GQ",
            "observedAt": "2026-11-01T07:00:00Z",
        },
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [105.788, 10.034]},
        },
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:aq-01"},
    }


def create(client: TestClient, body: dict[str, Any]) -> None:
    """Create an entity and insist on 201."""
    response = client.post(f"{BASE}/entities", json=body)
    assert response.status_code == 201, response.text


def test_create_retrieve_roundtrip(client: TestClient) -> None:
    response = client.post(f"{BASE}/entities", json=air())
    assert response.status_code == 201
    assert (
        response.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    )
    got = client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu").json()
    assert got["type"] == "AirQualityObserved"
    assert got["pm25"] == {
        "type": "Property",
        "value": 28.4,
        "unitCode": "GQ",
        "observedAt": "2026-11-01T07:00:00.000Z",
    }
    assert got["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:aq-01"}
    assert got["location"]["value"]["coordinates"] == [105.788, 10.034]


def test_link_header_and_ld_json_response(client: TestClient) -> None:
    create(client, air())
    response = client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu")
    assert CORE in response.headers["link"]
    assert response.headers["content-type"].startswith("application/json")
    ld = client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu",
        headers={"Accept": "application/ld+json"},
    )
    assert ld.headers["content-type"].startswith("application/ld+json")
    assert ld.json()["@context"] == CORE


def test_user_context_in_body_expands_and_compacts(client: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": "Sensor",
        "temp": {"type": "Property", "value": 30},
        "@context": [
            {
                "temp": "https://smartdatamodels.org/temperature",
                "Sensor": "https://example.org/Sensor",
            },
            CORE,
        ],
    }
    assert client.post(f"{BASE}/entities", content=_dumps(body), headers=LD).status_code == 201
    # Without the user context the terms come back as full IRIs.
    plain = client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:1").json()
    assert plain["type"] == "https://example.org/Sensor"
    assert plain["https://smartdatamodels.org/temperature"]["value"] == 30
    # A query by the IRI finds it; by the bare term (default vocab) it does not.
    found = client.get(f"{BASE}/entities", params={"type": "https://example.org/Sensor"}).json()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:Sensor:1"]
    assert client.get(f"{BASE}/entities", params={"type": "Sensor"}).json() == []


def test_concise_and_keyvalues(client: TestClient) -> None:
    create(
        client,
        {
            "id": "urn:ngsi-ld:Streetlight:1",
            "type": "Streetlight",
            "dimmingLevel": 70,
            "powerState": {"value": "on", "observedAt": "2026-11-01T18:00:00Z"},
            "location": {"type": "Point", "coordinates": [105.787, 10.033]},
            "refCabinet": {"object": "urn:ngsi-ld:Cabinet:1"},
        },
    )
    url = f"{BASE}/entities/urn:ngsi-ld:Streetlight:1"
    normalized = client.get(url).json()
    assert normalized["dimmingLevel"] == {"type": "Property", "value": 70}
    assert normalized["location"]["type"] == "GeoProperty"
    assert normalized["refCabinet"]["type"] == "Relationship"
    kv = client.get(url, params={"options": "keyValues"}).json()
    assert kv["dimmingLevel"] == 70 and kv["refCabinet"] == "urn:ngsi-ld:Cabinet:1"
    concise = client.get(url, params={"format": "concise"}).json()
    assert concise["dimmingLevel"] == 70
    assert concise["location"] == {"type": "Point", "coordinates": [105.787, 10.033]}
    assert concise["refCabinet"] == {"object": "urn:ngsi-ld:Cabinet:1"}


def test_sysattrs_language_property_and_datasets(client: TestClient) -> None:
    create(
        client,
        {
            "id": "urn:ngsi-ld:PointOfInterest:wharf",
            "type": "PointOfInterest",
            "name": {
                "type": "LanguageProperty",
                "languageMap": {"vi": "Bến Ninh Kiều", "en": "Ninh Kieu wharf"},
            },
            "visitors": [
                {"type": "Property", "value": 100},
                {"type": "Property", "value": 80, "datasetId": "urn:ngsi-ld:Dataset:camera"},
            ],
        },
    )
    url = f"{BASE}/entities/urn:ngsi-ld:PointOfInterest:wharf"
    got = client.get(url, params={"options": "sysAttrs"}).json()
    assert "createdAt" in got and "modifiedAt" in got and "createdAt" in got["visitors"][0]
    assert [v["value"] for v in got["visitors"]] == [100, 80]
    english = client.get(url, params={"lang": "en"}).json()
    assert english["name"] == {"type": "Property", "value": "Ninh Kieu wharf", "lang": "en"}


def test_pick_omit_attrs(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    assert set(client.get(url, params={"attrs": "pm25"}).json()) == {"id", "type", "pm25"}
    assert set(client.get(url, params={"pick": "id,pm25"}).json()) == {"id", "pm25"}
    assert set(client.get(url, params={"omit": "type,location"}).json()) == {
        "id",
        "pm25",
        "refDevice",
    }


def test_duplicate_create_is_409(client: TestClient) -> None:
    create(client, air())
    response = client.post(f"{BASE}/entities", json=air())
    assert response.status_code == 409
    assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"


def test_append_no_overwrite_and_update(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu/attrs"
    response = client.post(url, json={"pm25": 99, "pm10": 51}, params={"options": "noOverwrite"})
    assert response.status_code == 207
    assert response.json()["updated"] == ["pm10"]
    assert response.json()["notUpdated"][0]["attributeName"] == "pm25"
    assert client.post(url, json={"pm25": 30.1}).status_code == 204
    patch = client.patch(url, json={"pm25": 31.5, "o3": 60})
    assert patch.status_code == 207 and patch.json()["notUpdated"][0]["attributeName"] == "o3"
    got = client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu", params={"options": "keyValues"}
    ).json()
    assert got["pm25"] == 31.5 and got["pm10"] == 51 and "o3" not in got


def test_patch_and_delete_single_attribute(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    assert client.patch(f"{url}/attrs/pm25", json={"value": 12.0}).status_code == 204
    pm25 = client.get(url).json()["pm25"]
    assert pm25["value"] == 12.0 and pm25["unitCode"] == "GQ"  # other members kept
    assert client.patch(f"{url}/attrs/nothing", json={"value": 1}).status_code == 404
    assert client.delete(f"{url}/attrs/pm25").status_code == 204
    assert "pm25" not in client.get(url).json()
    assert client.delete(f"{url}/attrs/pm25").status_code == 404


def test_replace_and_merge_patch(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    assert client.put(url, json={"type": "AirQualityObserved", "no2": 18}).status_code == 204
    assert set(client.get(url).json()) == {"id", "type", "no2"}
    merge = {"no2": 20, "o3": {"value": 55, "unitCode": "GQ"}, "pm10": 40}
    assert client.patch(url, json=merge).status_code == 204
    assert client.patch(url, json={"pm10": "urn:ngsi-ld:null"}).status_code == 204
    kv = client.get(url, params={"options": "keyValues"}).json()
    assert kv == {"id": kv["id"], "type": "AirQualityObserved", "no2": 20, "o3": 55}


def test_delete_entity(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


def test_batch_operations(client: TestClient) -> None:
    entities = [air(f"urn:ngsi-ld:AirQualityObserved:{i}", pm25=i) for i in range(5)]
    response = client.post(f"{BASE}/entityOperations/create", json=entities)
    assert response.status_code == 201 and len(response.json()) == 5
    again = client.post(
        f"{BASE}/entityOperations/create",
        json=[*entities[:1], air("urn:ngsi-ld:AirQualityObserved:new")],
    )
    assert again.status_code == 207
    assert again.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:new"]
    assert again.json()["errors"][0]["entityId"] == "urn:ngsi-ld:AirQualityObserved:0"
    upsert = client.post(
        f"{BASE}/entityOperations/upsert", json=[air("urn:ngsi-ld:AirQualityObserved:0", 50)]
    )
    assert upsert.status_code == 204
    created = client.post(
        f"{BASE}/entityOperations/upsert", json=[air("urn:ngsi-ld:AirQualityObserved:9", 5)]
    )
    assert created.status_code == 201 and created.json() == ["urn:ngsi-ld:AirQualityObserved:9"]
    update = client.post(
        f"{BASE}/entityOperations/update",
        json=[{"id": "urn:ngsi-ld:AirQualityObserved:1", "type": "AirQualityObserved", "o3": 70}],
    )
    assert update.status_code == 204
    missing = client.post(
        f"{BASE}/entityOperations/update",
        json=[
            {"id": "urn:ngsi-ld:AirQualityObserved:nope", "type": "AirQualityObserved", "o3": 70}
        ],
    )
    assert missing.status_code == 207 and missing.json()["errors"][0]["error"]["status"] == 404
    deleted = client.post(
        f"{BASE}/entityOperations/delete",
        json=["urn:ngsi-ld:AirQualityObserved:2", "urn:ngsi-ld:X:none"],
    )
    assert deleted.status_code == 207 and deleted.json()["success"] == [
        "urn:ngsi-ld:AirQualityObserved:2"
    ]
    count = client.get(
        f"{BASE}/entities", params={"type": "AirQualityObserved", "count": "true", "limit": 0}
    )
    assert count.headers["NGSILD-Results-Count"] == "6"


def test_batch_with_one_invalid_entity_keeps_the_others(client: TestClient) -> None:
    bad = {"id": "not a uri", "type": "AirQualityObserved"}
    response = client.post(f"{BASE}/entityOperations/create", json=[air(), bad])
    assert response.status_code == 207
    assert response.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:ninh-kieu"]
    assert response.json()["errors"][0]["error"]["type"].endswith("BadRequestData")


def test_upsert_update_mode_appends(client: TestClient) -> None:
    create(client, air())
    body = [
        {"id": "urn:ngsi-ld:AirQualityObserved:ninh-kieu", "type": "AirQualityObserved", "o3": 44}
    ]
    assert (
        client.post(
            f"{BASE}/entityOperations/upsert", params={"options": "update"}, json=body
        ).status_code
        == 204
    )
    kv = client.get(
        f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu", params={"options": "keyValues"}
    ).json()
    assert kv["o3"] == 44 and kv["pm25"] == 28.4


def test_concurrent_patches_lose_nothing(client: TestClient) -> None:
    create(client, {"id": "urn:ngsi-ld:Counter:1", "type": "Counter"})
    url = f"{BASE}/entities/urn:ngsi-ld:Counter:1/attrs"
    errors: list[int] = []

    def writer(index: int) -> None:
        response = client.post(url, json={f"a{index}": index})
        if response.status_code != 204:
            errors.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    kv = client.get(
        f"{BASE}/entities/urn:ngsi-ld:Counter:1", params={"options": "keyValues"}
    ).json()
    assert {k: v for k, v in kv.items() if k.startswith("a")} == {f"a{i}": i for i in range(16)}


def test_discovery(client: TestClient) -> None:
    create(client, air())
    create(client, {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "dimmingLevel": 50})
    types = client.get(f"{BASE}/types").json()
    assert types["type"] == "EntityTypeList"
    assert sorted(types["typeList"]) == ["AirQualityObserved", "Streetlight"]
    info = client.get(f"{BASE}/types/AirQualityObserved").json()
    assert info["entityCount"] == 1
    assert {a["attributeName"] for a in info["attributeDetails"]} == {
        "pm25",
        "location",
        "refDevice",
    }
    assert client.get(f"{BASE}/types/Nope").status_code == 404
    attrs = client.get(f"{BASE}/attributes").json()
    assert "dimmingLevel" in attrs["attributeList"]
    detail = client.get(f"{BASE}/attributes/dimmingLevel").json()
    assert detail["typeNames"] == ["Streetlight"] and detail["attributeCount"] == 1
    detailed_types = client.get(f"{BASE}/types", params={"details": "true"}).json()
    assert {t["typeName"] for t in detailed_types} == {"AirQualityObserved", "Streetlight"}


def test_geojson_representation(client: TestClient) -> None:
    create(client, air())
    response = client.get(
        f"{BASE}/entities",
        params={"type": "AirQualityObserved"},
        headers={"Accept": "application/geo+json"},
    )
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [105.788, 10.034]}


def test_healthz_reports_backend(client: TestClient, database: Any) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["backend"] == database.dialect


def _dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def test_trailing_slash_is_accepted(client: TestClient) -> None:
    # ngsildclient posts to /entities/ (with the slash).
    assert client.post(f"{BASE}/entities/", json=air()).status_code == 201
    assert len(client.get(f"{BASE}/entities/", params={"type": "AirQualityObserved"}).json()) == 1


def test_accept_quality_values(client: TestClient) -> None:
    create(client, air())
    url = f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:ninh-kieu"
    weighted = client.get(url, headers={"Accept": "*/*;q=0.1, application/ld+json"})
    assert weighted.headers["content-type"].startswith("application/ld+json")
    first_wins = client.get(url, headers={"Accept": "application/json, application/ld+json"})
    assert first_wins.headers["content-type"].startswith("application/json")
    refused = client.get(url, headers={"Accept": "application/ld+json;q=0, text/html"})
    assert refused.status_code == 406
