"""The attribute index answers q exactly as the JSON evaluators do (both backends)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from smartcity.core.context import qlang, repository
from smartcity.core.context.local import LocalContextClient
from smartcity.core.context.service import EntityQuery
from smartcity.core.db import Database

QUERIES = [
    "level>0.5",
    "level>=0.5;level<=0.7",
    "level==0.1..0.3",
    "level==1,2,3",
    'kind=="river"',
    'kind=="river","canal"',
    'kind>"canal"',
    "kind==urn:ngsi-ld:Road:1",
    'level>0.5|kind=="pond"',
    'tags=="dry"',
    'name=="Sông Hậu"',
    'note=="' + "x" * 300 + '"',
    "level!=0.5",
]


def random_entity(rng: random.Random, index: int) -> dict[str, Any]:
    """An entity whose attributes mix numbers, strings, arrays, relationships and language maps."""
    body: dict[str, Any] = {"id": f"urn:ngsi-ld:Station:{index}", "type": "Station"}
    choice = rng.random()
    body["level"] = rng.choice([round(rng.random(), 1), rng.randint(0, 4), "high", [1, 2.5]])
    if choice < 0.3:
        body["kind"] = {"type": "Relationship", "object": "urn:ngsi-ld:Road:1"}
    elif choice < 0.9:
        body["kind"] = rng.choice(["river", "canal", "pond", "lake"])
    body["tags"] = rng.choice([["dry", "salty"], ["wet"], "dry"])
    body["name"] = {
        "type": "LanguageProperty",
        "languageMap": {"vi": rng.choice(["Sông Hậu", "Rạch"]), "en": "x"},
    }
    if rng.random() < 0.2:
        body["note"] = "x" * 300
    return body


@pytest.fixture
def stations(database: Database) -> LocalContextClient:
    """Two hundred random stations."""
    client = LocalContextClient(database)
    rng = random.Random(1459)
    client.upsert([random_entity(rng, i) for i in range(200)])
    return client


@pytest.mark.parametrize("q", QUERIES)
@pytest.mark.parametrize("selective_rows", [1, 100_000])
def test_index_and_json_agree(
    stations: LocalContextClient, q: str, selective_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "SELECTIVE_ROWS", selective_rows)
    expr = qlang.parse_q(q)
    expand = stations.ctx.expand
    everything, _ = stations.broker.query(
        EntityQuery(types=[expand("Station")], limit=1000), expand
    )
    expected = sorted(r.id for r in everything if qlang.matches_q(expr, r.attrs, expand))
    for exhaustive in (False, True):
        query = EntityQuery(types=[expand("Station")], q=expr, limit=1000, count=exhaustive)
        found, total = stations.broker.query(query, expand)
        assert sorted(r.id for r in found) == expected
        if exhaustive:
            assert total == len(expected)


def test_index_follows_updates_and_deletes(stations: LocalContextClient) -> None:
    stations.upsert([{"id": "urn:ngsi-ld:Station:0", "type": "Station", "level": 99}], replace=True)
    assert [e["id"] for e in stations.query("Station", q="level==99")] == ["urn:ngsi-ld:Station:0"]
    stations.broker.delete("urn:ngsi-ld:Station:0")
    assert stations.query("Station", q="level==99") == []
    with stations.broker.database.read() as conn:
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM attr_index WHERE entity_pk NOT IN (SELECT pk FROM entities)"
        ).scalar()
    assert orphans == 0


@pytest.mark.parametrize("span", [1, 7, 4096])
def test_span_walk_pages_like_a_single_query(
    stations: LocalContextClient, span: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "SCAN_SPAN", span)
    monkeypatch.setattr(repository, "SELECTIVE_ROWS", 1)  # q is tested on the JSON: walk spans
    expand = stations.ctx.expand
    expr = qlang.parse_q("level>=0;kind")
    everything, _ = stations.broker.query(
        EntityQuery(types=[expand("Station")], limit=1000), expand
    )
    expected = [r.id for r in everything if qlang.matches_q(expr, r.attrs, expand)]
    pages = []
    for offset in range(0, len(expected) + 10, 10):
        query = EntityQuery(types=[expand("Station")], q=expr, limit=10, offset=offset)
        pages += [r.id for r in stations.broker.query(query, expand)[0]]
    assert pages == expected
