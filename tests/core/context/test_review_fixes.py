"""Regressions found in review: each once broke a client or the data (both backends)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection

from smartcity.core.db import Database

BASE = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def test_cancelled_write_does_not_stop_the_writer(database: Database) -> None:
    def slow(conn: Connection) -> str:
        time.sleep(0.2)
        return "slow"

    async def main() -> str:
        first = asyncio.ensure_future(database.write_async(slow))
        await asyncio.sleep(0.05)  # the writer is busy with `slow`
        doomed = asyncio.ensure_future(database.write_async(lambda conn: "never"))
        await asyncio.sleep(0)
        doomed.cancel()
        return await first

    assert asyncio.run(main()) == "slow"
    assert database.run_write(lambda conn: "still writing") == "still writing"


def test_catastrophic_regex_is_refused(client: TestClient) -> None:
    for params in ({"type": "T", "idPattern": "^urn:(a+)+$"}, {"type": "T", "q": "name~=(x*|y)*z"}):
        response = client.get(f"{BASE}/entities", params=params)
        assert response.status_code == 400, response.text
        assert "exponential" in response.json()["detail"]


def test_merge_keeps_the_default_instance_first(client: TestClient) -> None:
    body = {"id": "urn:ngsi-ld:S:1", "type": "S", "n": {"value": 1, "datasetId": "urn:ds:a"}}
    assert client.post(f"{BASE}/entities", json=body).status_code == 201
    assert client.patch(f"{BASE}/entities/urn:ngsi-ld:S:1", json={"n": 2}).status_code == 204
    assert [
        e["id"] for e in client.get(f"{BASE}/entities", params={"type": "S", "q": "n==2"}).json()
    ] == ["urn:ngsi-ld:S:1"]


def _temporal_ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get(f"{BASE}/temporal/entities", params={"type": "T", **params})
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()]


def test_temporal_query_with_q_pages(client: TestClient) -> None:
    body = [{"id": f"urn:ngsi-ld:T:{i}", "type": "T", "n": i} for i in range(6)]
    assert client.post(f"{BASE}/entityOperations/create", json=body).status_code == 201
    everyone = _temporal_ids(client, q="n>=0")
    assert len(everyone) == 6
    assert _temporal_ids(client, q="n>=0", limit=2, offset=3) == everyone[3:5]


def test_temporal_api_refuses_tenants(client: TestClient) -> None:
    response = client.get(
        f"{BASE}/temporal/entities/urn:ngsi-ld:T:1", headers={"NGSILD-Tenant": "x"}
    )
    assert response.status_code == 501


def test_query_selectors_are_alternatives(client: TestClient) -> None:
    body = [
        {"id": "urn:ngsi-ld:A:0", "type": "A"},
        {"id": "urn:ngsi-ld:A:1", "type": "A"},
        {"id": "urn:ngsi-ld:B:0", "type": "B"},
        {"id": "urn:ngsi-ld:B:1", "type": "B"},
    ]
    assert client.post(f"{BASE}/entityOperations/create", json=body).status_code == 201
    query = {"type": "Query", "entities": [{"type": "A"}, {"id": "urn:ngsi-ld:B:0", "type": "B"}]}
    found = client.post(f"{BASE}/entityOperations/query", json=query).json()
    assert sorted(e["id"] for e in found) == [
        "urn:ngsi-ld:A:0",
        "urn:ngsi-ld:A:1",
        "urn:ngsi-ld:B:0",
    ]


def test_patch_without_observed_at_is_history_at_write_time(client: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:S:h",
        "type": "S",
        "temp": {"value": 20, "observedAt": "2024-01-01T00:00:00Z"},
    }
    assert client.post(f"{BASE}/entities", json=body).status_code == 201
    assert (
        client.patch(f"{BASE}/entities/urn:ngsi-ld:S:h/attrs/temp", json={"value": 25}).status_code
        == 204
    )
    values = client.get(
        f"{BASE}/temporal/entities/urn:ngsi-ld:S:h", params={"options": "temporalValues"}
    ).json()["temp"]["values"]
    assert values[0] == [20, "2024-01-01T00:00:00.000Z"]
    assert values[1][0] == 25 and values[1][1] > "2025"


def test_big_integers_compare_exactly(client: TestClient) -> None:
    body = {"id": "urn:ngsi-ld:S:big", "type": "S", "n": 9007199254740993}
    assert client.post(f"{BASE}/entities", json=body).status_code == 201
    hit = client.get(f"{BASE}/entities", params={"type": "S", "q": "n==9007199254740993"}).json()
    miss = client.get(f"{BASE}/entities", params={"type": "S", "q": "n==9007199254740992"}).json()
    assert [e["id"] for e in hit] == ["urn:ngsi-ld:S:big"] and miss == []


def test_bad_input_that_once_gave_500(client: TestClient) -> None:
    query = f"{BASE}/entityOperations/query"
    for body in (
        {"type": "Query", "entities": [{"type": 5}]},
        {"type": "Query", "q": 5},
        {"type": "Query", "geoQ": {"georel": 5, "geometry": "Point", "coordinates": [1, 2]}},
    ):
        assert client.post(query, json=body).status_code == 400, body
    assert (
        client.get(
            f"{BASE}/entities", params={"type": "T", "offset": "99999999999999999999"}
        ).status_code
        == 400
    )
    late = {
        "id": "urn:ngsi-ld:S:late",
        "type": "S",
        "n": {"value": 1, "observedAt": "9999-12-31T23:00:00-05:00"},
    }
    response = client.post(f"{BASE}/entities", json=late)
    assert response.status_code == 400 and response.json()["type"] == ERR + "BadRequestData"
    assert client.get(f"{BASE}/entities", params={"type": "A|B"}).status_code == 400
