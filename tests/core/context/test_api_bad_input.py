"""Bad input gets the right NGSI-LD error and never changes stored data (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
ENTITY = {
    "id": "urn:ngsi-ld:WaterQualityObserved:hau-river",
    "type": "WaterQualityObserved",
    "pH": {"type": "Property", "value": 7.1},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [105.792, 10.042]},
    },
}
URL = f"{BASE}/entities/urn:ngsi-ld:WaterQualityObserved:hau-river"


@pytest.fixture
def stored(client: TestClient) -> TestClient:
    """A client whose broker holds one water-quality station."""
    assert client.post(f"{BASE}/entities", json=ENTITY).status_code == 201
    return client


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    """Assert a ProblemDetails body of this status and type."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == ERR + kind, body
    assert body["title"] and body["detail"]
    return body


def unchanged(client: TestClient) -> None:
    """The stored entity is exactly what was created."""
    got = client.get(URL, params={"options": "keyValues"}).json()
    assert got == {
        "id": ENTITY["id"],
        "type": "WaterQualityObserved",
        "pH": 7.1,
        "location": {"type": "Point", "coordinates": [105.792, 10.042]},
    }


def test_malformed_json(stored: TestClient) -> None:
    response = stored.patch(
        f"{URL}/attrs", content=b'{"pH": {"value": 7.', headers={"Content-Type": "application/json"}
    )
    problem(response, 400, "InvalidRequest")
    unchanged(stored)


def test_wrong_content_type(stored: TestClient) -> None:
    response = stored.post(
        f"{BASE}/entities", content=b"id=1", headers={"Content-Type": "text/plain"}
    )
    problem(response, 415, "UnsupportedMediaType")


def test_ld_json_without_context(stored: TestClient) -> None:
    response = stored.post(
        f"{BASE}/entities",
        json={"id": "urn:x:1", "type": "T"},
        headers={"Content-Type": "application/ld+json"},
    )
    problem(response, 400, "BadRequestData")


def test_json_with_context_in_body(stored: TestClient) -> None:
    response = stored.post(f"{BASE}/entities", json={"id": "urn:x:1", "type": "T", "@context": []})
    problem(response, 400, "BadRequestData")


@pytest.mark.parametrize("bad_id", ["not-a-uri", "urn with spaces", ""])
def test_id_not_a_uri(stored: TestClient, bad_id: str) -> None:
    problem(stored.post(f"{BASE}/entities", json={**ENTITY, "id": bad_id}), 400, "BadRequestData")


def test_invalid_id_in_path(stored: TestClient) -> None:
    problem(stored.get(f"{BASE}/entities/not-a-uri"), 400, "BadRequestData")


def test_unreachable_context(stored: TestClient) -> None:
    link = (
        '<http://127.0.0.1:9/nowhere.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"'
    )
    response = stored.patch(f"{URL}/attrs", json={"pH": 9}, headers={"Link": link})
    problem(response, 503, "LdContextNotAvailable")
    unchanged(stored)


def test_malformed_context(stored: TestClient) -> None:
    body = {**ENTITY, "id": "urn:ngsi-ld:X:2", "@context": 42}
    response = stored.post(
        f"{BASE}/entities", json=body, headers={"Content-Type": "application/ld+json"}
    )
    assert response.status_code in (400, 503)
    assert response.json()["type"].startswith(ERR)


def test_oversize_body(stored: TestClient) -> None:
    huge = {"pH": {"type": "Property", "value": "x" * (1024 * 1024 + 10)}}
    problem(stored.post(f"{URL}/attrs", json=huge), 413, "RequestEntityTooLarge")
    unchanged(stored)


@pytest.mark.parametrize(
    ("q", "position"),
    [("pH>>7", 3), ("(pH>7", 5), ("pH>7;", 5), ("pH=7", 2), ('name=="open', 6), ("pH>7)", 4)],
)
def test_q_syntax_error_names_position(stored: TestClient, q: str, position: int) -> None:
    body = problem(
        stored.get(f"{BASE}/entities", params={"type": "WaterQualityObserved", "q": q}),
        400,
        "InvalidRequest",
    )
    assert "position" in body["detail"] and str(position) in body["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": "[200,10]"},
        {"georel": "near;maxDistance==-5", "geometry": "Point", "coordinates": "[105.7,10]"},
        {
            "georel": "within",
            "geometry": "Polygon",
            "coordinates": "[[[105,10],[106,10],[106,11]]]",
        },
        {"georel": "sideways", "geometry": "Point", "coordinates": "[105.7,10]"},
        {"georel": "within", "geometry": "Point"},
        {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": "[105.7,"},
    ],
)
def test_invalid_geo_query(stored: TestClient, params: dict[str, str]) -> None:
    problem(
        stored.get(f"{BASE}/entities", params={"type": "WaterQualityObserved", **params}),
        400,
        "BadRequestData",
    )


def test_invalid_geometry_in_entity(stored: TestClient) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    response = stored.post(
        f"{URL}/attrs", json={"location": {"type": "GeoProperty", "value": bowtie}}
    )
    problem(response, 400, "BadRequestData")
    unchanged(stored)


@pytest.mark.parametrize("limit", ["1001", "-1", "ten"])
def test_bad_limit(stored: TestClient, limit: str) -> None:
    problem(
        stored.get(f"{BASE}/entities", params={"type": "WaterQualityObserved", "limit": limit}),
        400,
        "BadRequestData",
    )


def test_limit_1000_is_allowed(stored: TestClient) -> None:
    assert (
        stored.get(
            f"{BASE}/entities", params={"type": "WaterQualityObserved", "limit": 1000}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    "fragment",
    [
        {"pH": None},
        {"pH": {"type": "Property"}},
        {"refSite": {"type": "Relationship", "object": "not a uri"}},
        {"pH": {"type": "Property", "value": 7, "observedAt": "yesterday"}},
        {"pH": {"type": "Weird", "value": 1}},
        {"bad name": 1},
        {"id": "urn:x:other"},
    ],
)
def test_invalid_attributes_change_nothing(stored: TestClient, fragment: dict[str, Any]) -> None:
    problem(stored.post(f"{URL}/attrs", json=fragment), 400, "BadRequestData")
    unchanged(stored)


def test_not_found_everywhere(stored: TestClient) -> None:
    missing = f"{BASE}/entities/urn:ngsi-ld:X:missing"
    problem(stored.get(missing), 404, "ResourceNotFound")
    problem(stored.patch(f"{missing}/attrs", json={"a": 1}), 404, "ResourceNotFound")
    problem(stored.post(f"{missing}/attrs", json={"a": 1}), 404, "ResourceNotFound")
    problem(stored.delete(missing), 404, "ResourceNotFound")
    problem(stored.get(f"{BASE}/nothing-here"), 404, "ResourceNotFound")


def test_unacceptable_accept_header(stored: TestClient) -> None:
    problem(stored.get(URL, headers={"Accept": "text/html"}), 406, "NotAcceptable")


def test_batch_not_an_array(stored: TestClient) -> None:
    problem(stored.post(f"{BASE}/entityOperations/create", json=ENTITY), 400, "BadRequestData")


def test_unknown_option(stored: TestClient) -> None:
    problem(stored.get(URL, params={"options": "everything"}), 400, "BadRequestData")


def test_tenant_header_is_501(stored: TestClient) -> None:
    problem(stored.get(URL, headers={"NGSILD-Tenant": "hau-giang"}), 501, "NoMultiTenantSupport")


def test_unsupported_resource_is_422(stored: TestClient) -> None:
    problem(stored.post(f"{BASE}/csourceRegistrations", json={}), 422, "OperationNotSupported")
