"""GET /entities and /entityOperations/query: type, id, q, geo, paging — both backends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"

# Traffic counters around Cần Thơ: (name, lon, lat, intensity, occupancy, road class)
COUNTERS = [
    ("30-4", 105.7760, 10.0270, 412, 0.34, "primary"),
    ("bridge", 105.7580, 10.0295, 655, 0.21, "trunk"),
    ("hoa-binh", 105.7810, 10.0330, 530, 0.52, "primary"),
    ("cai-rang", 105.7521, 9.9990, 120, 0.05, "secondary"),
    ("airport", 105.7119, 10.0851, 300, 0.12, "trunk"),
]


def counter(
    name: str, lon: float, lat: float, intensity: int, occ: float, road: str
) -> dict[str, Any]:
    """A TrafficFlowObserved in concise form."""
    return {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:{name}",
        "type": "TrafficFlowObserved",
        "intensity": {"value": intensity, "observedAt": "2026-11-02T07:30:00Z"},
        "occupancy": occ,
        "roadClass": road,
        "laneDirection": {"value": {"forward": 2, "backward": 1}},
        "congested": occ > 0.3,
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "refRoad": {"object": f"urn:ngsi-ld:Road:{road}"},
        "intensity_note": {"value": "peak", "accuracy": {"value": 0.9}},
    }


@pytest.fixture
def city(client: TestClient) -> TestClient:
    """A client over a broker holding the five counters and one street light."""
    body = [counter(*row) for row in COUNTERS]
    body.append({"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "dimmingLevel": 40})
    assert client.post(f"{BASE}/entityOperations/create", json=body).status_code == 201
    return client


def ids(response: Any) -> list[str]:
    """Short names of the entities in a response."""
    assert response.status_code == 200, response.text
    return sorted(e["id"].rsplit(":", 1)[1] for e in response.json())


def query(client: TestClient, **params: Any) -> list[str]:
    """GET /entities with these parameters; the short names found."""
    return ids(client.get(f"{BASE}/entities", params=params))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("intensity>500", ["bridge", "hoa-binh"]),
        ("intensity>=530", ["bridge", "hoa-binh"]),
        ("intensity<300", ["cai-rang"]),
        ("intensity<=300", ["airport", "cai-rang"]),
        ("intensity==412", ["30-4"]),
        ("intensity!=412", ["airport", "bridge", "cai-rang", "hoa-binh"]),
        ("intensity==100..420", ["30-4", "airport", "cai-rang"]),
        ("intensity==120,655", ["bridge", "cai-rang"]),
        ('roadClass=="trunk"', ["airport", "bridge"]),
        ('roadClass=="trunk","secondary"', ["airport", "bridge", "cai-rang"]),
        ("roadClass~=pri.*", ["30-4", "hoa-binh"]),
        ("roadClass!~=pri.*", ["airport", "bridge", "cai-rang"]),
        ("congested==true", ["30-4", "hoa-binh"]),
        ("intensity>300;occupancy<0.4", ["30-4", "bridge"]),
        ("intensity>600|occupancy<0.1", ["bridge", "cai-rang"]),
        ('(intensity>600|occupancy<0.1);roadClass=="trunk"', ["bridge"]),
        ("laneDirection[forward]==2", ["30-4", "airport", "bridge", "cai-rang", "hoa-binh"]),
        ("intensity_note.accuracy>0.5", ["30-4", "airport", "bridge", "cai-rang", "hoa-binh"]),
        ("refRoad==urn:ngsi-ld:Road:trunk", ["airport", "bridge"]),
        ("intensity", ["30-4", "airport", "bridge", "cai-rang", "hoa-binh"]),
    ],
)
def test_q_language(city: TestClient, q: str, expected: list[str]) -> None:
    assert query(city, type="TrafficFlowObserved", q=q) == expected


def test_type_id_and_id_pattern(city: TestClient) -> None:
    assert query(city, type="Streetlight") == ["1"]
    assert len(query(city, type="Streetlight,TrafficFlowObserved")) == 6
    assert query(city, id="urn:ngsi-ld:TrafficFlowObserved:bridge,urn:ngsi-ld:Streetlight:1") == [
        "1",
        "bridge",
    ]
    assert query(city, idPattern="^urn:ngsi-ld:TrafficFlowObserved:(c|a).*") == [
        "airport",
        "cai-rang",
    ]
    assert query(city, attrs="dimmingLevel") == ["1"]


def test_paging_and_count(city: TestClient) -> None:
    first = city.get(
        f"{BASE}/entities", params={"type": "TrafficFlowObserved", "limit": 2, "count": "true"}
    )
    assert first.headers["NGSILD-Results-Count"] == "5" and len(first.json()) == 2
    rest = city.get(
        f"{BASE}/entities", params={"type": "TrafficFlowObserved", "limit": 2, "offset": 4}
    )
    assert len(rest.json()) == 1
    names = [e["id"] for e in first.json()] + [e["id"] for e in rest.json()]
    assert len(set(names)) == 3
    only_count = city.get(
        f"{BASE}/entities", params={"type": "TrafficFlowObserved", "limit": 0, "count": "true"}
    )
    assert only_count.json() == [] and only_count.headers["NGSILD-Results-Count"] == "5"


def test_default_limit_is_20(client: TestClient) -> None:
    body = [
        {"id": f"urn:ngsi-ld:Bin:{i}", "type": "WasteContainer", "fillingLevel": i / 30}
        for i in range(30)
    ]
    assert client.post(f"{BASE}/entityOperations/create", json=body).status_code == 201
    assert len(client.get(f"{BASE}/entities", params={"type": "WasteContainer"}).json()) == 20


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "expected"),
    [
        ("near;maxDistance==2000", "Point", "[105.7788,10.0300]", ["30-4", "hoa-binh"]),
        ("near;maxDistance==3500", "Point", "[105.7788,10.0300]", ["30-4", "bridge", "hoa-binh"]),
        ("near;minDistance==4000", "Point", "[105.7788,10.0300]", ["airport", "cai-rang"]),
        (
            "within",
            "Polygon",
            "[[[105.74,10.02],[105.80,10.02],[105.80,10.04],[105.74,10.04],[105.74,10.02]]]",
            ["30-4", "bridge", "hoa-binh"],
        ),
        (
            "intersects",
            "Polygon",
            "[[[105.70,10.06],[105.72,10.06],[105.72,10.09],[105.70,10.09],[105.70,10.06]]]",
            ["airport"],
        ),
        (
            "disjoint",
            "Polygon",
            "[[[105.70,10.06],[105.72,10.06],[105.72,10.09],[105.70,10.09],[105.70,10.06]]]",
            ["30-4", "bridge", "cai-rang", "hoa-binh"],
        ),
        ("equals", "Point", "[105.7580,10.0295]", ["bridge"]),
    ],
)
def test_geo_queries(
    city: TestClient, georel: str, geometry: str, coordinates: str, expected: list[str]
) -> None:
    found = query(
        city, type="TrafficFlowObserved", georel=georel, geometry=geometry, coordinates=coordinates
    )
    assert found == expected


def test_geo_with_q_and_count(city: TestClient) -> None:
    response = city.get(
        f"{BASE}/entities",
        params={
            "type": "TrafficFlowObserved",
            "q": "intensity>450",
            "georel": "near;maxDistance==3500",
            "geometry": "Point",
            "coordinates": "[105.7788,10.0300]",
            "count": "true",
            "limit": 1,
        },
    )
    assert response.headers["NGSILD-Results-Count"] == "2" and len(response.json()) == 1


def test_location_update_moves_entity_in_spatial_index(city: TestClient) -> None:
    url = f"{BASE}/entities/urn:ngsi-ld:TrafficFlowObserved:airport/attrs"
    moved = {
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [105.7790, 10.0301]},
        }
    }
    assert city.post(url, json=moved).status_code == 204
    near = query(
        city,
        type="TrafficFlowObserved",
        georel="near;maxDistance==100",
        geometry="Point",
        coordinates="[105.7788,10.0300]",
    )
    assert near == ["airport"]


def test_post_query(city: TestClient) -> None:
    body = {
        "type": "Query",
        "entities": [{"type": "TrafficFlowObserved"}],
        "q": "intensity>400",
        "geoQ": {
            "georel": "near;maxDistance==3500",
            "geometry": "Point",
            "coordinates": [105.7788, 10.0300],
        },
    }
    assert ids(city.post(f"{BASE}/entityOperations/query", json=body)) == [
        "30-4",
        "bridge",
        "hoa-binh",
    ]


def test_query_renders_requested_attrs_and_format(city: TestClient) -> None:
    response = city.get(
        f"{BASE}/entities",
        params={
            "type": "TrafficFlowObserved",
            "attrs": "intensity",
            "options": "keyValues",
            "q": "intensity>600",
        },
    )
    assert response.json() == [
        {
            "id": "urn:ngsi-ld:TrafficFlowObserved:bridge",
            "type": "TrafficFlowObserved",
            "intensity": 655,
        }
    ]


def test_geo_on_polygon_locations(client: TestClient) -> None:
    wards = [
        {
            "id": "urn:ngsi-ld:AdministrativeArea:ninh-kieu",
            "type": "AdministrativeArea",
            "location": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [105.76, 10.01],
                        [105.80, 10.01],
                        [105.80, 10.05],
                        [105.76, 10.05],
                        [105.76, 10.01],
                    ]
                ],
            },
        },
        {
            "id": "urn:ngsi-ld:AdministrativeArea:cai-rang",
            "type": "AdministrativeArea",
            "location": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [105.72, 9.96],
                        [105.78, 9.96],
                        [105.78, 10.005],
                        [105.72, 10.005],
                        [105.72, 9.96],
                    ]
                ],
            },
        },
    ]
    assert client.post(f"{BASE}/entityOperations/create", json=wards).status_code == 201
    wharf = "[105.7880,10.0340]"
    assert query(
        client, type="AdministrativeArea", georel="contains", geometry="Point", coordinates=wharf
    ) == ["ninh-kieu"]
    near = query(
        client,
        type="AdministrativeArea",
        georel="near;maxDistance==1200",
        geometry="Point",
        coordinates="[105.7700,10.0000]",
    )
    assert near == ["cai-rang", "ninh-kieu"]
    counted = client.get(
        f"{BASE}/entities",
        params={
            "type": "AdministrativeArea",
            "georel": "intersects",
            "geometry": "Point",
            "coordinates": wharf,
            "count": "true",
            "limit": 0,
        },
    )
    assert counted.headers["NGSILD-Results-Count"] == "1"
