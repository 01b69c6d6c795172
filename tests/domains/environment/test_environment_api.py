"""The environment domain end to end, on SQLite and PostgreSQL: readings in through the public
APIs (NGSI-LD, IoT Agent HTTP), derived attributes, reports, gate control out."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.config import Settings
from smartcity.core.auth.seed import seed_departments
from smartcity.core.db import Database
from smartcity.domains.environment import aqi, wqi
from smartcity.simulator.tide import WaterLevelModel
from smartcity.simulator.timebase import Scenario, ScenarioName
from tests.core.auth.support import add_user, bearer, cheap_hashing, sign_in
from tests.core.context.test_subscriptions import wait_for

HOUR = timedelta(hours=1)


@pytest.fixture
def env_app(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The platform with quick leadership, quick tide forecasts and no gate dwell."""
    cheap_hashing(monkeypatch)
    settings = Settings(
        data_dir=tmp_path,
        leader_retry_s=0.2,
        feed_poll_s=0.2,
        env_tide_forecast_every_s=0.5,
        env_gate_min_dwell_s=0.0,
        env_gate_confirm_s=0.0,
    )
    return create_app(settings, database=database)


@pytest.fixture
def http(env_app: FastAPI) -> Iterator[TestClient]:
    """An integrator's client (sensor data arrives as an integrator's writes)."""
    seed_departments(env_app.state.auth.service)
    add_user(env_app, "operator.ioc", "operator")
    add_user(env_app, "citizen.an", "citizen")
    key = env_app.state.auth.service.create_api_key("env feed", "integrator")
    with TestClient(env_app, headers={"X-API-Key": key.key}) as client:
        wait_for(lambda: env_app.state.leadership.is_leader)
        yield client


def as_user(http: TestClient, username: str) -> dict[str, str]:
    """Bearer headers of a signed-in user (and no API key)."""
    return {**bearer(sign_in(http, username)["access_token"]), "X-API-Key": ""}


def iso(at: datetime) -> str:
    """NGSI-LD DateTime text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entity(http: TestClient, entity_id: str) -> dict[str, Any]:
    """An entity in keyValues form."""
    response = http.get(f"/ngsi-ld/v1/entities/{entity_id}?options=keyValues")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create(http: TestClient, body: dict[str, Any]) -> None:
    """Create an entity through the NGSI-LD API."""
    response = http.post("/ngsi-ld/v1/entities", json=body)
    assert response.status_code == 201, response.text


def patch(http: TestClient, entity_id: str, at: datetime, **values: float) -> None:
    """New readings of an entity, observed at a time."""
    attrs = {k: {"type": "Property", "value": v, "observedAt": iso(at)} for k, v in values.items()}
    response = http.post(f"/ngsi-ld/v1/entities/{entity_id}/attrs", json=attrs)
    assert response.status_code == 204, response.text


def idle(app: FastAPI) -> None:
    """Wait until the domain's change workers have handled everything queued."""
    time.sleep(0.5)  # the change feed hands the newest changes over
    for worker in app.state.change_workers:
        assert worker.wait_idle(20)


# --- air quality ------------------------------------------------------------------------


def pm25_at(hour: int) -> float:
    return 30.0 + 25.0 * math.sin(hour / 3.0)


def test_hourly_vn_aqi_is_kept_on_the_station_with_its_history(
    http: TestClient, env_app: FastAPI
) -> None:
    station = "urn:ngsi-ld:AirQualityObserved:test-ninh-kieu"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 14 * HOUR
    create(http, {"id": station, "type": "AirQualityObserved"})
    for half_hour in range(28):
        at = start + half_hour * HOUR / 2
        patch(http, station, at, pm25=pm25_at(half_hour // 2), no2=40.0, o3=90.0)
    idle(env_app)

    now = entity(http, station)
    # The newest complete hour ends at the top of the hour of the newest reading.
    last_end = start + 13 * HOUR + HOUR // 2
    last_end = last_end.replace(minute=0)
    hourly_pm = [pm25_at(h) for h in range(13)][::-1][:12]
    expected = aqi.vn_hourly_aqi({"pm25": hourly_pm, "no2": [40.0] * 12, "o3": [90.0] * 12})
    assert expected is not None
    assert now["airQualityIndex"] == expected.index
    assert now["airQualityLevel"] == expected.level.name_vi
    assert now["responsiblePollutant"] == expected.dominant
    normalized = http.get(f"/ngsi-ld/v1/entities/{station}?attrs=airQualityLevel").json()
    assert normalized["airQualityLevel"]["color"]["value"] == expected.level.color
    assert normalized["airQualityLevel"]["observedAt"].startswith(iso(last_end)[:16])

    # The index has an hourly history (charts), one value per completed hour.
    history = http.get(
        f"/ngsi-ld/v1/temporal/entities/{station}?attrs=airQualityIndex&options=temporalValues"
    ).json()
    values = history["airQualityIndex"]["values"]
    assert len(values) >= 12
    stamps = [v[1] for v in values]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_an_impossible_reading_is_flagged_and_left_out_of_the_index(
    http: TestClient, env_app: FastAPI
) -> None:
    station = "urn:ngsi-ld:AirQualityObserved:test-cai-rang"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 4 * HOUR
    create(http, {"id": station, "type": "AirQualityObserved"})
    for quarter in range(12):
        patch(http, station, start + quarter * HOUR / 4, pm25=20.0 + quarter % 3)
    idle(env_app)
    before = entity(http, station)
    assert before["dataQualityFlags"] == 0
    patch(http, station, start + 3 * HOUR + HOUR / 2, pm25=5000.0)  # beyond any real air
    patch(http, station, start + 4 * HOUR + HOUR / 4, pm25=21.0)  # completes the hour
    idle(env_app)
    after = entity(http, station)
    assert after["airQualityIndex"] < 100  # 5000 µg/m³ was not averaged in
    flagged = http.get(f"/ngsi-ld/v1/temporal/entities/{station}?attrs=dataQualityFlags").json()
    assert any(instance["value"] > 0 for instance in flagged["dataQualityFlags"])
    # A flagged station raises a maintenance alert (the domain's default rule).
    operator = as_user(http, "operator.ioc")
    rule = "env-data-quality-airqualityobserved"
    alerts = wait_for(lambda: http.get(f"/api/alerts?rule={rule}", headers=operator).json())
    assert alerts[0]["subject_id"] == station and alerts[0]["category"] == "maintenance"


# --- water quality ----------------------------------------------------------------------

RIVER = {"pH": 7.2, "O2": 5.6, "temperature": 29.0, "BOD": 6.0, "COD": 14.0, "NH4": 0.4,
         "PO4": 0.15, "coliform": 4000.0}  # fmt: skip


def test_vn_wqi_is_kept_on_river_stations(http: TestClient, env_app: FastAPI) -> None:
    station = "urn:ngsi-ld:WaterQualityObserved:test-cai-khe"
    now = datetime.now(UTC)
    create(http, {"id": station, "type": "WaterQualityObserved"})
    patch(http, station, now, **RIVER)
    idle(env_app)
    expected = wqi.vn_wqi(RIVER)
    got = entity(http, station)
    assert got["waterQualityIndex"] == expected.index
    assert got["waterQualityClass"] == expected.wqi_class.name_vi


# --- salinity ---------------------------------------------------------------------------

STATIONS = (
    ("tran-de", 5.0, 106.205, 9.513, 12.0),
    ("dai-ngai", 38.0, 106.072, 9.733, 5.0),
    ("cai-rang", 78.0, 105.78, 9.999, 0.8),
    ("can-tho", 80.0, 105.79, 10.041, 0.3),
)


def test_salinity_line_and_advisories(http: TestClient, env_app: FastAPI) -> None:
    for key, km, lon, lat, ppt in STATIONS:
        create(
            http,
            {
                "id": f"urn:ngsi-ld:WaterQualityObserved:sal-{key}",
                "type": "WaterQualityObserved",
                "distanceFromSeaKm": {"type": "Property", "value": km},
                "salinity": {"type": "Property", "value": ppt},
                "location": {"type": "GeoProperty",
                             "value": {"type": "Point", "coordinates": [lon, lat]}},
            },
        )  # fmt: skip
    idle(env_app)
    report = http.get("/api/environment/salinity", headers={"X-API-Key": ""})  # public read
    assert report.status_code == 200, report.text
    body = report.json()
    assert [s["distanceFromSeaKm"] for s in body["stations"]] == [5.0, 38.0, 78.0, 80.0]
    front = body["front"]
    assert front["status"] == "between"
    assert 38.0 < front["reachKm"] < 78.0
    lon, lat = front["location"]["coordinates"]
    assert 105.78 < lon < 106.072 and 9.733 < lat < 9.999
    by_use = {a["use"]: a["status"] for a in body["stations"][0]["advisories"]}
    assert by_use["rice"] == "unsafe"  # 12 ‰ at the mouth
    inland = {a["use"]: a for a in body["stations"][-1]["advisories"]}
    assert inland["rice"]["status"] == "safe"
    assert inland["drinking-water"]["limit_ppt"] == body["intakeLimitPpt"]


# --- tides and flooding -----------------------------------------------------------------


def test_alarm_level_flood_streets_and_a_tide_forecast(http: TestClient, env_app: FastAPI) -> None:
    model, flood = WaterLevelModel(seed=3), Scenario(ScenarioName.FLOOD_TIDE)
    station = "urn:ngsi-ld:WaterObserved:can-tho"
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=16)
    times = [start + timedelta(minutes=15 * i) for i in range(16 * 96)]
    instances = [
        {"type": "Property", "value": round(model.value(t, flood), 3), "observedAt": iso(t)}
        for t in times
    ]
    create(http, {"id": station, "type": "WaterObserved"})
    body = {"id": station, "type": "WaterObserved", "height": instances}
    assert http.post("/ngsi-ld/v1/temporal/entities", json=body).status_code in (201, 204)
    patch(http, station, end, height=1.95)
    idle(env_app)
    assert entity(http, station)["alarmLevel"] == 2  # BĐ II ≤ 1.95 < BĐ III

    report = wait_for(
        lambda: (r := http.get("/api/environment/tides").json())["forecast"] and r, timeout_s=20
    )
    streets = {s["name"]: s for s in report["streets"]}
    assert streets["Ngô Quyền"]["expectedDepth"] == pytest.approx(1.95 - 1.72)
    assert streets["Mậu Thân"]["expectedDepth"] == pytest.approx(1.95 - 1.84)
    assert report["alarmLevels"] == {"BĐ I": 1.8, "BĐ II": 1.9, "BĐ III": 2.0}
    first = report["forecast"][0]
    at = datetime.fromisoformat(first["at"])
    truth = max(model.value(at + timedelta(minutes=m), flood) for m in range(-90, 91, 5))
    assert abs(first["height"] - truth) < 0.25  # the benchmark measures the error properly
    flooded = entity(http, "urn:ngsi-ld:FloodRiskArea:ngo-quyen")
    assert flooded["expectedDepth"] == pytest.approx(0.23)
    # The flood-tide scenario's high waters pass BĐ III: the public is warned before.
    warning = report["warning"]
    assert warning["level"] == 3 and warning["height"] >= 2.0
    assert "vượt báo động III" in warning["message_vi"]
    assert http.get("/api/environment/tides", headers={"X-API-Key": ""}).status_code == 200


# --- gates ------------------------------------------------------------------------------

GATE = "urn:ngsi-ld:SluiceGate:test-cai-khe"
GROUP = {
    "apikey": "env-test-gates",
    "entity_type": "SluiceGate",
    "attributes": [
        {"object_id": "gateState", "name": "gateState", "type": "Text"},
        {"object_id": "upstreamSalinity", "name": "upstreamSalinity", "type": "Number"},
    ],
    "commands": [{"name": "open", "type": "command"}, {"name": "close", "type": "command"}],
}
DEVICE = {"device_id": "gate-test-cai-khe", "entity_name": GATE, "entity_type": "SluiceGate",
          "apikey": "env-test-gates", "transport": "HTTP", "protocol": "IoTA-JSON"}  # fmt: skip


class GateDevice:
    """A sluice gate on HTTP: reports salinity and its position, polls and obeys commands."""

    def __init__(self, http: TestClient, app: FastAPI) -> None:
        self.http, self.app, self.position = http, app, "open"
        response = http.post("/iot/services", json={"services": [GROUP]})
        assert response.status_code == 201, response.text
        response = http.post("/iot/devices", json={"devices": [DEVICE]})
        assert response.status_code == 201, response.text
        self.params = {"k": GROUP["apikey"], "i": DEVICE["device_id"]}

    def report(self, salinity: float, at: datetime) -> None:
        """Send a reading; then obey whatever the platform commanded, as a device does."""
        body = {"upstreamSalinity": salinity, "gateState": self.position, "TimeInstant": iso(at)}
        assert self.http.post("/iot/json", params=self.params, json=body).status_code == 200
        idle(self.app)
        self.obey(at)

    def obey(self, at: datetime) -> list[str]:
        """Poll the pending commands, carry them out, acknowledge, report the new position."""
        commands = self.http.get("/iot/json", params=self.params).json() or {}
        for name in commands:
            self.position = "closed" if name == "close" else "open"
            result = {name: f"OK gate {self.position}"}
            assert self.http.post("/iot/json/commands", params=self.params, json=result).is_success
        if commands:
            body = {"gateState": self.position, "TimeInstant": iso(at + timedelta(seconds=20))}
            assert self.http.post("/iot/json", params=self.params, json=body).status_code == 200
            idle(self.app)
        return list(commands)


def test_the_gate_closes_on_salty_water_and_reopens_on_fresh(
    http: TestClient, env_app: FastAPI
) -> None:
    gate = GateDevice(http, env_app)
    now = datetime.now(UTC) - timedelta(minutes=5)
    gate.report(0.20, now)
    assert gate.position == "open"
    gate.report(0.62, now + timedelta(minutes=1))
    assert gate.position == "closed"
    gate.report(0.80, now + timedelta(minutes=2))
    assert gate.position == "closed"
    gate.report(0.30, now + timedelta(minutes=3))  # below the reopen level (0.35 ‰)
    assert gate.position == "open"

    operator = as_user(http, "operator.ioc")
    actions = http.get(f"/api/environment/gates/{GATE}/actions", headers=operator).json()
    kinds = [a["action"] for a in reversed(actions)]
    assert kinds == ["close", "acknowledged", "open", "acknowledged"]
    closing = next(a for a in actions if a["action"] == "close")
    assert closing["actor"] == "system:environment" and closing["mode"] == "auto"
    assert "0,62" in closing["reason_vi"] and closing["salinity"] == pytest.approx(0.62)
    assert closing["outcome"] == "OK"
    shown = entity(http, GATE)
    assert shown["controlMode"] == "auto"
    assert shown["lastControlAction"] == "acknowledged"


def test_an_operator_overrides_the_gate_in_manual_mode(http: TestClient, env_app: FastAPI) -> None:
    gate = GateDevice(http, env_app)
    now = datetime.now(UTC) - timedelta(minutes=5)
    gate.report(0.20, now)
    operator = as_user(http, "operator.ioc")
    url = f"/api/environment/gates/{GATE}"

    refused = http.post(f"{url}/command", json={"command": "close", "reason": "x"},
                        headers=operator)  # fmt: skip
    assert refused.status_code == 409  # automatic mode: the controller decides
    assert refused.json()["type"].endswith("Conflict")
    no_reason = http.post(f"{url}/mode", json={"mode": "manual", "reason": ""}, headers=operator)
    assert no_reason.status_code == 400
    citizen = as_user(http, "citizen.an")
    assert http.post(f"{url}/mode", json={"mode": "manual", "reason": "x"},
                     headers=citizen).status_code == 403  # fmt: skip
    manual = {"mode": "manual", "reason": "Bảo trì cửa cống"}
    assert http.post(f"{url}/mode", json=manual, headers=operator).json()["mode"] == "manual"

    gate.report(0.90, now + timedelta(minutes=1))  # salty, but the operator has the gate
    assert gate.position == "open"
    close = {"command": "close", "reason": "Đóng thử sau bảo trì"}
    assert http.post(f"{url}/command", json=close, headers=operator).status_code == 200
    assert gate.obey(now + timedelta(minutes=2)) == ["close"]
    back = {"mode": "auto", "reason": "Bảo trì xong"}
    assert http.post(f"{url}/mode", json=back, headers=operator).json()["mode"] == "auto"
    listed = http.get("/api/environment/gates", headers=operator).json()
    mine = next(g for g in listed if g["id"] == GATE)
    assert [a["action"] for a in mine["actions"]][:4] == ["auto", "acknowledged", "close", "manual"]
    assert mine["actions"][2]["actor"] == "operator.ioc"
    assert http.get("/api/environment/gates/urn:ngsi-ld:SluiceGate:none/actions",
                    headers=operator).status_code == 404  # fmt: skip
