"""City indicators: declared by domains, computed from current entities, compared with
the snapshot of 24 hours ago."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from smartcity.core.context.times import now_us
from smartcity.core.kpis import DAY_US, kpi_values


def lamp(number: int, status: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:kpi-{number}",
        "type": "Streetlight",
        "status": {"type": "Property", "value": status},
    }


def kpis(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/kpis")
    assert response.status_code == 200, response.text
    return {k["key"]: k for k in response.json()["kpis"]}


def test_indicators_now_against_yesterday(client: TestClient) -> None:
    lamps = [lamp(n, "ok") for n in range(3)] + [lamp(3, "defectiveLamp")]
    upsert = client.post("/ngsi-ld/v1/entityOperations/upsert", json=lamps)
    assert upsert.status_code in (201, 204), upsert.text
    service = client.app.state.kpis  # type: ignore[attr-defined]
    service.cache_s = 0.0
    working = kpis(client)["lamps-working"]
    assert working["value"] == 75.0 and working["unit"] == "%"
    assert working["title"]["vi"] == "Đèn hoạt động tốt"
    assert working["yesterday"] is None and working["trend"] is None
    assert kpis(client)["flooded-streets"]["value"] == 0  # declared, no sensor yet: zero
    # Yesterday, 90 % worked: today's 75 % is a fall.
    database = client.app.state.database  # type: ignore[attr-defined]
    yesterday = now_us() - DAY_US + 60_000_000
    database.run_write(
        lambda conn: conn.execute(
            kpi_values.insert(), [{"key": "lamps-working", "at": yesterday, "value": 90.0}]
        )
    )
    working = kpis(client)["lamps-working"]
    assert working["yesterday"] == 90.0 and working["trend"] == "down"
    assert service.snapshot() >= 1  # what the leader stores every five minutes


def test_a_failing_indicator_shows_no_data_instead_of_breaking_the_tiles(
    client: TestClient,
) -> None:
    from smartcity.core.kpis import KpiReader, _safe
    from smartcity.core.registry import Kpi

    broken = Kpi("broken", "x", "x", "", lambda _r: 1 / 0)
    service = client.app.state.kpis  # type: ignore[attr-defined]
    assert _safe(broken, KpiReader(service.broker, service.ctx)) is None
