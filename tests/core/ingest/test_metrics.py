"""GET /metrics: Prometheus counters of ingestion, for admins and operators only."""

from __future__ import annotations

from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.core.auth.principals import Callers, make_callers
from tests.core.ingest.support import APIKEY, STATION, provision_air_station


def callers(client: TestClient) -> Callers:
    return make_callers(cast(FastAPI, client.app), ("admin", "operator", "citizen"))


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when it is not there yet)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def scrape(client: TestClient, headers: dict[str, str]) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return str(response.text)


def stored_http(text: str) -> float:
    return sample(text, "smartcity_ingest_messages_total", transport="http", outcome="stored")


def dead_letters_http(text: str) -> float:
    return sample(text, "smartcity_ingest_dead_letters_total", transport="http")


def post_measure(client: TestClient, payload: bytes) -> int:
    response = client.post(
        f"/iot/json?k={APIKEY}&i={STATION}",
        content=payload,
        headers={"Content-Type": "application/json"},
    )
    return int(response.status_code)


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_admins_and_operators_read_prometheus_text(client: TestClient, role: str) -> None:
    text = scrape(client, callers(client).headers(role))
    assert "# TYPE smartcity_ingest_messages_total counter" in text
    assert "smartcity_ingest_pending_messages" in text


def test_stored_measures_are_counted(client: TestClient) -> None:
    admin = callers(client).headers("admin")
    provision_air_station(client)
    before = stored_http(scrape(client, admin))
    assert post_measure(client, b'{"pm25": 12}') == 200
    assert post_measure(client, b'{"pm25": 13}') == 200
    after = scrape(client, admin)
    assert stored_http(after) == before + 2
    assert sample(after, "smartcity_ingest_datapoints_total") >= 2


def test_refused_measures_are_counted_as_dead_letters(client: TestClient) -> None:
    admin = callers(client).headers("admin")
    provision_air_station(client)
    before = scrape(client, admin)
    assert post_measure(client, b'{"pm25": "abc"}') == 400
    after = scrape(client, admin)
    assert dead_letters_http(after) == dead_letters_http(before) + 1
    assert stored_http(after) == stored_http(before)
    dead = sample(after, "smartcity_ingest_messages_total", transport="http", outcome="dead_letter")
    assert dead == 1


def test_anonymous_callers_may_not_read_metrics(client: TestClient) -> None:
    del client.headers["X-API-Key"]
    assert client.get("/metrics").status_code == 401


@pytest.mark.parametrize("who", ["citizen", "integrator key"])
def test_citizens_and_integrators_may_not_read_metrics(client: TestClient, who: str) -> None:
    headers = callers(client).headers("citizen") if who == "citizen" else {}
    assert client.get("/metrics", headers=headers).status_code == 403
