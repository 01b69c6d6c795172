"""The in-process Python API that domains use (no HTTP), on both backends."""

from __future__ import annotations

from smartcity.core.context.geo import parse_geoquery
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.local import LocalContextClient
from smartcity.core.context.temporal import TemporalService, parse_temporal_params
from smartcity.core.db import Database


def test_upsert_get_query(database: Database) -> None:
    client = LocalContextClient(database)
    bins = [
        {
            "id": f"urn:ngsi-ld:WasteContainer:ninh-kieu-{i}",
            "type": "WasteContainer",
            "fillingLevel": i / 10,
            "location": {"type": "Point", "coordinates": [105.78 + i / 1000, 10.03]},
        }
        for i in range(10)
    ]
    assert len(client.upsert(bins)) == 10
    assert client.upsert([{**bins[0], "fillingLevel": 0.95}]) == []
    assert client.get("urn:ngsi-ld:WasteContainer:ninh-kieu-0")["fillingLevel"] == 0.95
    full = client.query("WasteContainer", q="fillingLevel>=0.8")
    assert sorted(e["id"][-1] for e in full) == ["0", "8", "9"]
    near = parse_geoquery(
        "near;maxDistance==250", "Point", "[105.78,10.03]", client.ctx.expand("location")
    )
    assert {e["id"][-1] for e in client.query("WasteContainer", geo=near)} == {"0", "1", "2"}
    # The geoproperty may be given as a term, as in the HTTP API.
    by_term = parse_geoquery("near;maxDistance==250", "Point", "[105.78,10.03]")
    assert {e["id"][-1] for e in client.query("WasteContainer", geo=by_term)} == {"0", "1", "2"}


def test_append_history_in_batches(database: Database) -> None:
    client = LocalContextClient(database)
    instances = [
        {"type": "Property", "value": float(i), "observedAt": f"2026-01-01T{i:02d}:00:00Z"}
        for i in range(24)
    ]
    assert (
        client.append_history(
            "urn:ngsi-ld:WeatherObserved:ct", "WeatherObserved", {"temperature": instances}
        )
        == 24
    )
    temporal = TemporalService(database)
    ctx = ContextResolver().resolve(None)
    query = parse_temporal_params(None, None, None, "3", None, None, set())
    body = temporal.entity("urn:ngsi-ld:WeatherObserved:ct", query, ctx)
    assert [i["value"] for i in body["temperature"]] == [21.0, 22.0, 23.0]
