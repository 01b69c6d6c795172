"""A simulated salinity season at the Cần Thơ intake, through the platform: the gate device
reports the simulator's salinity every 15 minutes over HTTP, obeys the platform's commands and
acknowledges them. In automatic mode no water above the limit is taken in, and the gate is
worked a bounded number of times (the default policy: close at once, reopen after 30 minutes
below 0.35 ‰ and 30 minutes since the last move)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.db import Database
from smartcity.simulator.salinity import SalinityModel
from smartcity.simulator.tide import WaterLevelModel
from smartcity.simulator.timebase import Scenario, ScenarioName
from tests.core.auth.support import add_user, bearer, cheap_hashing, sign_in
from tests.core.context.test_subscriptions import wait_for

from .test_environment_api import DEVICE, GATE, GROUP, iso

DAYS = 7
STEP = timedelta(minutes=15)
LIMIT = 0.45


@pytest.fixture
def season_app(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The default gate policy; readings of the past week count as live (accelerated time)."""
    cheap_hashing(monkeypatch)
    settings = Settings(
        data_dir=tmp_path,
        leader_retry_s=0.2,
        feed_poll_s=0.2,
        env_live_window_s=(DAYS + 1) * 86400.0,
    )
    return create_app(settings, database=database)


@pytest.fixture
def http(season_app: FastAPI) -> Iterator[TestClient]:
    add_user(season_app, "operator.ioc", "operator")
    key = season_app.state.auth.service.create_api_key("gate feed", "integrator")
    with TestClient(season_app, headers={"X-API-Key": key.key}) as client:
        wait_for(lambda: season_app.state.leadership.is_leader)
        assert client.post("/iot/services", json={"services": [GROUP]}).status_code == 201
        assert client.post("/iot/devices", json={"devices": [DEVICE]}).status_code == 201
        yield client


def gate_state(http: TestClient, operator: dict[str, str]) -> dict[str, Any]:
    gates = http.get("/api/environment/gates", headers=operator).json()
    found: dict[str, Any] = next(g for g in gates if g["id"] == GATE)
    return found


def test_no_salty_water_is_taken_in_during_a_salinity_season(http: TestClient) -> None:
    operator = {**bearer(sign_in(http, "operator.ioc")["access_token"]), "X-API-Key": ""}
    params = {"k": GROUP["apikey"], "i": DEVICE["device_id"]}
    # A dry season between average and 2016/2020 strength: the intake turns salty with the
    # spring tides and fresh again at neaps.
    season = Scenario(ScenarioName.SALINITY_SEASON, intrusion_factor=0.65)
    intake = SalinityModel(distance_km=80.0, key="can-tho-intake", tide=WaterLevelModel())
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=DAYS)
    position, salty_intake, salty_readings = "open", [], 0
    for step in range(DAYS * 96):
        at = start + step * STEP
        salinity = round(intake.value(at, season), 3)
        salty_readings += salinity > LIMIT
        body = {"upstreamSalinity": salinity, "gateState": position, "TimeInstant": iso(at)}
        assert http.post("/iot/json", params=params, json=body).status_code == 200
        stamp = iso(at)[:19]
        wait_for(lambda s=stamp: (gate_state(http, operator)["last_reading_at"] or "")[:19] == s)
        commands = http.get("/iot/json", params=params).json() or {}
        for name in commands:  # the gate moves and says so
            position = "closed" if name == "close" else "open"
            result = {name: f"OK gate {position}"}
            assert http.post("/iot/json/commands", params=params, json=result).is_success
            moved = {"gateState": position, "TimeInstant": iso(at + timedelta(seconds=30))}
            assert http.post("/iot/json", params=params, json=moved).status_code == 200
            wait_for(lambda p=position: gate_state(http, operator)["position"] == p)
        if salinity > LIMIT and position == "open":
            salty_intake.append((iso(at), salinity))

    actions = http.get(f"/api/environment/gates/{GATE}/actions", headers=operator)
    log = actions.json()
    closes = sum(1 for a in log if a["action"] == "close")
    opens = sum(1 for a in log if a["action"] == "open")
    print(f"\n{salty_readings} of {DAYS * 96} readings above {LIMIT} ‰; gate closed {closes} "
          f"times, reopened {opens} times")  # fmt: skip
    assert salty_readings > 50  # the season did turn the intake salty
    assert salty_intake == []  # never open after a salty reading was handled
    assert 1 <= closes <= DAYS * 2  # at most one cycle per tide, fewer thanks to hysteresis
    assert opens in (closes - 1, closes)
    assert all(a["outcome"] == "OK" for a in log if a["action"] in ("open", "close"))
