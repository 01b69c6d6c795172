"""The simulator end to end: it provisions devices and sends through the real ingestion API of
an in-process platform; each scenario, run accelerated over simulated hours, leaves its
signature in the stored entities and their history."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from smartcity.simulator.fleet import Fleet, build_fleet
from smartcity.simulator.runner import SimClock, Simulator, apply_command
from smartcity.simulator.session import Plan, prepare, reference_entities, scenario_for
from smartcity.simulator.timebase import NORMAL, ScenarioName
from smartcity.simulator.transport import HttpTransport
from tests.core.context.test_subscriptions import wait_for

HOUR = 3600.0
ENTITIES = "/ngsi-ld/v1/entities"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"


def key_of(client: TestClient) -> str:
    return str(client.headers["X-API-Key"])


def simulator(client: TestClient, fleet: Fleet, scenario: ScenarioName, live: float) -> Simulator:
    transport = HttpTransport(client, key_of(client))
    transport.provision(fleet)
    return Simulator(fleet, transport, scenario_for(Plan(scenario), live), workers=1)


def run_accelerated(sim: Simulator, start: float, end: float, step: float = 600.0) -> None:
    """Tick through simulated time as an accelerated run does, without waiting."""
    t = start
    while t <= end:
        sim.tick(t)
        t += step


def history(client: TestClient, entity_id: str, attr: str, since: float) -> list[Any]:
    params = {"attrs": attr, "timerel": "after", "timeAt": _iso(since), "lastN": 1000}
    response = client.get(f"{TEMPORAL}/{entity_id}", params={**params, "options": "temporalValues"})
    assert response.status_code == 200, response.text
    return [v for v, _t in response.json().get(attr, {}).get("values", [])]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def entity(client: TestClient, entity_id: str) -> dict[str, Any]:
    response = client.get(f"{ENTITIES}/{entity_id}", params={"options": "keyValues"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_flood_tide_lifts_can_tho_station_above_alarm_level_iii(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("river-level", "street-flood")
    live = time.time() - 24 * HOUR
    sim = simulator(client, fleet, ScenarioName.FLOOD_TIDE, live)
    run_accelerated(sim, live, time.time())
    station = "urn:ngsi-ld:WaterObserved:can-tho"
    levels = history(client, station, "height", live)
    assert len(levels) >= 100  # every 10 simulated minutes for a day
    assert max(levels) > 2.00  # above BĐ III at Cần Thơ station
    # The low streets of Ninh Kiều go under water with it.
    depth = history(client, "urn:ngsi-ld:FloodMonitoring:hai-ba-trung", "currentLevel", live)
    assert max(depth) > 0.1
    assert sim.stats.rejected == 0


def test_without_the_scenario_december_tides_stay_below_alarm_level_iii(
    client: TestClient,
) -> None:
    fleet = build_fleet(seed=7).only("river-level")
    live = time.time() - 24 * HOUR
    sim = simulator(client, fleet, ScenarioName.NORMAL, live)
    run_accelerated(sim, live, time.time(), step=1800.0)
    levels = history(client, "urn:ngsi-ld:WaterObserved:can-tho", "height", live)
    assert levels and max(levels) < 2.00


def test_salinity_season_pushes_the_4_permille_line_inland(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("salinity")
    live = time.time() - 12 * HOUR
    sim = simulator(client, fleet, ScenarioName.SALINITY_SEASON, live)
    run_accelerated(sim, live, time.time(), step=1800.0)
    dai_ngai = history(client, "urn:ngsi-ld:WaterQualityObserved:dai-ngai", "salinity", live)
    inland = history(client, "urn:ngsi-ld:WaterQualityObserved:nga-nam", "salinity", live)
    assert max(dai_ngai) > 4.0 and max(inland) > 4.0  # 38 and 60 km up: salt


def test_rush_hour_incident_jams_one_segment_only(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("traffic")
    live = time.time() - 3 * HOUR
    plan = Plan(ScenarioName.RUSH_HOUR_INCIDENT)
    scenario = scenario_for(plan, live)
    assert scenario.incident_segment is not None
    transport = HttpTransport(client, key_of(client))
    transport.provision(fleet)
    sim = Simulator(fleet, transport, scenario, workers=1)
    run_accelerated(sim, live, live + HOUR, step=300.0)  # inside the incident window
    hit = f"urn:ngsi-ld:TrafficFlowObserved:{scenario.incident_segment}"
    jammed = entity(client, hit)
    assert jammed["congested"] is True
    speeds = [
        entity(client, d.entity_id)["averageVehicleSpeed"]
        for d in fleet.devices
        if d.entity_id != hit
    ]
    assert jammed["averageVehicleSpeed"] < 0.5 * sorted(speeds)[len(speeds) // 2]


def test_lamp_failures_leave_a_share_of_lamps_defective(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("streetlight", "light-cabinet")
    live = time.time() - 2 * HOUR
    sim = simulator(client, fleet, ScenarioName.LAMP_FAILURES, live)
    run_accelerated(sim, live, time.time(), step=900.0)
    lamps = [d for d in fleet.devices if d.group.kind == "streetlight"]
    statuses = [entity(client, d.entity_id)["status"] for d in lamps]
    share = statuses.count("defectiveLamp") / len(statuses)
    assert 0.05 < share < 0.35  # the scenario's 15 %, give or take the draw
    faulty_counts = [
        entity(client, d.entity_id)["lampsFaulty"]
        for d in fleet.devices
        if d.group.kind == "light-cabinet"
    ]
    assert sum(faulty_counts) == statuses.count("defectiveLamp")


def test_sensor_faults_are_recorded_as_dead_letters_not_lost(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("air", "river-level")
    live = time.time() - 6 * HOUR
    sim = simulator(client, fleet, ScenarioName.SENSOR_FAULTS, live)
    run_accelerated(sim, live, time.time(), step=900.0)
    assert sim.stats.rejected > 0
    letters = client.get("/api/ingest/dead-letters", params={"limit": 1000})
    assert letters.status_code == 200, letters.text
    body = letters.json()
    items = body["deadLetters"]
    assert body["count"] >= sim.stats.rejected
    reasons = " ".join(str(item.get("reason", "")) for item in items)
    assert "JSON" in reasons or "json" in reasons  # garbage payloads
    assert "n/a" in reasons or "Number" in reasons  # wrong-type values


def test_normal_run_feeds_every_kind_with_history(client: TestClient) -> None:
    """What `make run` promises: entities of every kind, for the whole city, with a past."""
    plan = Plan(backfill_days=1.0, workers=1)
    sim, live = prepare(plan, client, key_of(client))
    sim.tick(live)
    sim.backfill(live - 86400.0, live)
    assert sim.stats.rejected == 0, sim.stats.errors
    for group in sim.fleet.groups:
        listing = client.get(
            ENTITIES, params={"type": group.entity_type, "limit": 1, "count": "true"}
        )
        assert listing.status_code == 200
        assert int(listing.headers["NGSILD-Results-Count"]) >= 1, group.kind
        device = next(d for d in sim.fleet.devices if d.group is group)
        attr = group.attributes[0].name
        if group.kind != "agri-parcel":  # one report a day
            assert len(history(client, device.entity_id, attr, live - 86400.0)) >= 6, group.kind
    wards = client.get(ENTITIES, params={"type": "AdministrativeArea", "count": "true"})
    assert int(wards.headers["NGSILD-Results-Count"]) == 104  # the city and its 103 wards
    assert len(reference_entities()) > 104  # and the road network


def test_a_lamp_dims_when_told_and_acknowledges(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("streetlight")
    fleet = Fleet(fleet.seed, fleet.devices[:3])
    live = time.time() - HOUR
    sim = simulator(client, fleet, ScenarioName.NORMAL, live)
    sim.tick(live)
    lamp = fleet.devices[0]
    sent = client.post(f"/api/devices/{lamp.device_id}/commands", json={"name": "dim", "value": 40})
    assert sent.status_code == 202, sent.text
    sim.tick(live + 900)  # the lamp's next report fetches the command
    assert sim.stats.commands == 1
    state = entity(client, lamp.entity_id)
    assert state["dimmingLevel"] == 40 and state["powerState"] == "on"
    commands = client.get(f"/api/devices/{lamp.device_id}/commands").json()
    latest = commands[0] if isinstance(commands, list) else commands["commands"][0]
    assert latest["status"] == "OK"


def test_commands_a_device_does_not_know_are_answered_with_an_error() -> None:
    fleet = build_fleet(seed=7)
    gate = next(d for d in fleet.devices if d.group.kind == "sluice-gate")
    lamp = next(d for d in fleet.devices if d.group.kind == "streetlight")
    assert apply_command(gate, "close", None) == "OK gate closed"
    assert gate.measure(time.time(), NORMAL)["gateState"] == "closed"
    assert apply_command(lamp, "dim", 140).startswith("ERROR")
    assert apply_command(lamp, "open", None).startswith("ERROR")


def test_an_accelerated_clock_catches_up_then_runs_in_real_time(client: TestClient) -> None:
    fleet = build_fleet(seed=7).only("river-level")
    live = time.time() - 2 * HOUR
    sim = simulator(client, fleet, ScenarioName.NORMAL, live)
    clock = SimClock(live, speed=7200.0)  # two hours a second
    stop = threading.Event()
    worker = threading.Thread(target=sim.run, args=(clock, stop, 0.05))
    worker.start()
    time.sleep(1.5)
    stop.set()
    worker.join()
    assert abs(clock.now() - time.time()) < 1.0  # caught up, never ahead
    # Every five simulated minutes over two hours (the ingest pipeline commits them a moment
    # after the device's request is answered: a loaded machine may need a few seconds).
    wait_for(
        lambda: len(history(client, "urn:ngsi-ld:WaterObserved:can-tho", "height", live)) >= 20
    )


def test_the_same_seed_gives_the_same_city() -> None:
    a, b = build_fleet(seed=3), build_fleet(seed=3)
    t = 1_780_000_000.0
    assert [d.device_id for d in a.devices] == [d.device_id for d in b.devices]
    assert [d.measure(t, NORMAL) for d in a.devices] == [d.measure(t, NORMAL) for d in b.devices]
    c = build_fleet(seed=4)
    assert [d.measure(t, NORMAL) for d in a.devices] != [d.measure(t, NORMAL) for d in c.devices]


@pytest.mark.parametrize("scale", [1.0, 250.0])
def test_fleet_sizes(scale: float) -> None:
    fleet = build_fleet(seed=0, scale=scale)
    counts = fleet.count_by_kind()
    assert len(counts) == 15  # every kind of device
    if scale == 1.0:
        assert 300 <= len(fleet.devices) <= 800
    else:
        assert len(fleet.devices) >= 100_000


def test_a_real_time_run_resumes_at_the_real_clock_after_a_slow_backfill() -> None:
    from smartcity.simulator.session import live_clock_start

    ten_minutes_ago = time.time() - 600
    assert abs(live_clock_start(Plan(), ten_minutes_ago) - time.time()) < 1.0
    accelerated = Plan(speed=60.0, hours_ago=12.0)
    assert live_clock_start(accelerated, ten_minutes_ago) == ten_minutes_ago
