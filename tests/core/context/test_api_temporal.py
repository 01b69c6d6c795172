"""Temporal API through HTTP on both backends: history kept by every write, read back."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"
STATION = "urn:ngsi-ld:WaterLevelObserved:can-tho"


def level(value: float, at: str) -> dict[str, Any]:
    """A waterLevel instance (metres at Cần Thơ station) observed at `at`."""
    return {"type": "Property", "value": value, "unitCode": "MTR", "observedAt": at}


@pytest.fixture
def tide(client: TestClient) -> TestClient:
    """A station with six hourly water levels written through the entity API."""
    body = {
        "id": STATION,
        "type": "WaterLevelObserved",
        "waterLevel": level(1.0, "2026-10-01T00:00:00Z"),
    }
    assert client.post(f"{BASE}/entities", json=body).status_code == 201
    for hour, value in enumerate([1.4, 1.8, 2.1, 1.9, 1.5], start=1):
        patch = {"waterLevel": level(value, f"2026-10-01T{hour:02d}:00:00Z")}
        assert client.patch(f"{BASE}/entities/{STATION}/attrs", json=patch).status_code == 204
    return client


def history(client: TestClient, **params: Any) -> Any:
    """GET the station's temporal representation."""
    response = client.get(f"{BASE}/temporal/entities/{STATION}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_update_is_history(tide: TestClient) -> None:
    values = [i["value"] for i in history(tide)["waterLevel"]]
    assert values == [1.0, 1.4, 1.8, 2.1, 1.9, 1.5]


def test_timerel_and_last_n(tide: TestClient) -> None:
    between = history(
        tide, timerel="between", timeAt="2026-10-01T01:00:00Z", endTimeAt="2026-10-01T03:00:00Z"
    )
    assert [i["value"] for i in between["waterLevel"]] == [1.4, 1.8]
    before = history(tide, timerel="before", timeAt="2026-10-01T01:00:00Z")
    assert [i["value"] for i in before["waterLevel"]] == [1.0]
    assert [i["value"] for i in history(tide, lastN=2)["waterLevel"]] == [1.9, 1.5]


def test_temporal_values(tide: TestClient) -> None:
    body = history(tide, options="temporalValues", lastN=2)
    assert body["waterLevel"]["type"] == "Property"
    assert body["waterLevel"]["values"] == [
        [1.9, "2026-10-01T04:00:00.000Z"],
        [1.5, "2026-10-01T05:00:00.000Z"],
    ]


def test_aggregated_values(tide: TestClient) -> None:
    body = history(
        tide,
        options="aggregatedValues",
        aggrMethods="max,min,avg,totalCount",
        aggrPeriodDuration="PT3H",
        timerel="between",
        timeAt="2026-10-01T00:00:00Z",
        endTimeAt="2026-10-01T06:00:00Z",
    )
    agg = body["waterLevel"]
    assert [row[0] for row in agg["max"]] == [1.8, 2.1]
    assert [row[0] for row in agg["min"]] == [1.0, 1.5]
    assert [round(row[0], 6) for row in agg["avg"]] == [1.4, round((2.1 + 1.9 + 1.5) / 3, 6)]
    assert [row[0] for row in agg["totalCount"]] == [3, 3]
    assert agg["max"][0][1:] == ["2026-10-01T00:00:00.000Z", "2026-10-01T03:00:00.000Z"]


def test_temporal_query_by_type(tide: TestClient) -> None:
    response = tide.get(
        f"{BASE}/temporal/entities", params={"type": "WaterLevelObserved", "lastN": 1}
    )
    assert response.status_code == 200
    assert [(e["id"], e["waterLevel"][0]["value"]) for e in response.json()] == [(STATION, 1.5)]
    with_q = tide.get(
        f"{BASE}/temporal/entities", params={"type": "WaterLevelObserved", "q": "waterLevel>5"}
    )
    assert with_q.json() == []


def test_post_temporal_entity_with_many_instances(client: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:SalinityObserved:dai-ngai",
        "type": "SalinityObserved",
        "salinity": [
            {"type": "Property", "value": 2.1, "observedAt": "2026-03-01T00:00:00Z"},
            {"type": "Property", "value": 4.3, "observedAt": "2026-03-02T00:00:00Z"},
        ],
    }
    response = client.post(f"{BASE}/temporal/entities", json=body)
    assert response.status_code == 201, response.text
    more = {"salinity": [{"type": "Property", "value": 3.7, "observedAt": "2026-03-03T00:00:00Z"}]}
    url = f"{BASE}/temporal/entities/urn:ngsi-ld:SalinityObserved:dai-ngai"
    assert client.post(f"{url}/attrs", json=more).status_code == 204
    assert [i["value"] for i in client.get(url).json()["salinity"]] == [2.1, 4.3, 3.7]
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_temporal_errors(tide: TestClient) -> None:
    url = f"{BASE}/temporal/entities/{STATION}"
    assert (
        tide.get(url, params={"timerel": "between", "timeAt": "2026-10-01T00:00:00Z"}).status_code
        == 400
    )
    assert (
        tide.get(url, params={"timerel": "sometime", "timeAt": "2026-10-01T00:00:00Z"}).status_code
        == 400
    )
    assert tide.get(url, params={"options": "aggregatedValues"}).status_code == 400
    assert tide.get(url, params={"lastN": "0"}).status_code == 400
    assert tide.get(f"{BASE}/temporal/entities/urn:ngsi-ld:X:none").status_code == 404
    assert tide.get(f"{BASE}/temporal/entities").status_code == 400
