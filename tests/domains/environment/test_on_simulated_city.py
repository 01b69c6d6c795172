"""The environment domain on the simulator's data: `smartcity run` with a backfill, then the
derived indices, the salinity line, the alarm level and the tide forecast through the APIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from smartcity.simulator.fleet import build_fleet
from tests.servers import smartcity_run


def eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """The first truthy result of `check`, polled until the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, KeyError, IndexError, TypeError):
            result = None
        if result:
            return result
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def first_entity(kind: str) -> str:
    """The entity id of the simulator's first device of a kind (same seed as the server)."""
    fleet = build_fleet()
    return next(d.entity_id for d in fleet.devices if d.group.kind == kind)


def test_the_simulated_city_gets_its_environmental_indices(tmp_path: Path) -> None:
    with smartcity_run(tmp_path, backfill_days=3) as platform:
        key = (tmp_path / "simulator.key").read_text().strip()
        with httpx.Client(base_url=platform.url, headers={"X-API-Key": key}, timeout=30) as c:
            check_indices(c)


def check_indices(c: httpx.Client) -> None:
    """What the domain derives from three days of simulated history."""

    def get(entity_id: str) -> dict[str, Any]:
        response = c.get(f"/ngsi-ld/v1/entities/{entity_id}", params={"options": "keyValues"})
        body: dict[str, Any] = response.json()
        return body

    air = first_entity("air")
    eventually(lambda: get(air).get("airQualityIndex") is not None, 120, "VN_AQI")
    history = c.get(
        f"/ngsi-ld/v1/temporal/entities/{air}",
        params={"attrs": "airQualityIndex", "options": "temporalValues"},
    ).json()
    assert len(history["airQualityIndex"]["values"]) >= 48  # hourly, back through the backfill
    assert get(air)["airQualityLevel"] in ("Tốt", "Trung bình", "Kém", "Xấu", "Rất xấu", "Nguy hại")

    river = first_entity("river-quality")
    index = eventually(lambda: get(river).get("waterQualityIndex"), 60, "VN_WQI")
    assert 0 <= index <= 100

    station = "urn:ngsi-ld:WaterObserved:can-tho"
    assert get(station)["alarmLevel"] in (0, 1, 2, 3)
    tides = eventually(
        lambda: (r := c.get("/api/environment/tides").json())["forecast"] and r, 120, "forecast"
    )
    assert len(tides["forecast"]) >= 4  # about two high waters a day, three days ahead
    assert {s["name"] for s in tides["streets"]} >= {"Ngô Quyền", "Mậu Thân"}

    salinity = c.get("/api/environment/salinity").json()
    assert len(salinity["stations"]) >= 4
    assert salinity["front"]["status"] in ("between", "beyond-all", "below-all")
