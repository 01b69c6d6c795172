"""One simulation session against a running platform: reference data, fleet, backfill, live.

Used by `smartcity run` (the demo city beside the platform), `smartcity demo --scenario …`
and `smartcity simulate --url …` (any platform, e.g. a server-mode deployment).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from smartcity.simulator.fleet import build_fleet
from smartcity.simulator.geography import city_entity, ward_entity, wards
from smartcity.simulator.roads import cantho_core_network, segment_entity
from smartcity.simulator.runner import Progress, SimClock, Simulator
from smartcity.simulator.timebase import NORMAL, Scenario, ScenarioName
from smartcity.simulator.traffic import RoadClass
from smartcity.simulator.transport import HttpTransport

DAY_S = 86400.0
#: A staged scenario starts this long before the live part, so its signature is already in
#: the data when the operator first looks.
SCENARIO_LEAD_S = 6 * 3600.0
INCIDENT_LEAD_S = 3600.0
INCIDENT_DURATION_S = 2 * 3600.0


@dataclass(frozen=True)
class Plan:
    """What to simulate and how fast."""

    scenario: ScenarioName = ScenarioName.NORMAL
    backfill_days: float = 7.0
    #: Times real time while the run is behind the real clock.
    speed: float = 1.0
    #: The live part starts this many hours ago (accelerated runs catch up from there).
    hours_ago: float = 0.0
    scale: float = 1.0
    seed: int = 0
    workers: int = 4


def reference_entities() -> list[dict[str, Any]]:
    """The city, its 103 wards and the urban road network as NGSI-LD entities."""
    network = cantho_core_network()
    return [
        city_entity(),
        *(ward_entity(w) for w in wards()),
        *(segment_entity(s) for s in network.segments),
    ]


def scenario_for(plan: Plan, live_start_s: float) -> Scenario:
    """The plan's scenario, active from a little before the live part."""
    if plan.scenario == ScenarioName.NORMAL:
        return NORMAL
    if plan.scenario == ScenarioName.RUSH_HOUR_INCIDENT:
        # A crash on the Cần Thơ bridge approach: from an hour before the live part, cleared
        # two hours later.
        start = datetime.fromtimestamp(live_start_s - INCIDENT_LEAD_S, UTC)
        end = start + timedelta(seconds=INCIDENT_DURATION_S)
        return Scenario(plan.scenario, start=start, end=end, incident_segment=incident_segment())
    start = datetime.fromtimestamp(live_start_s - SCENARIO_LEAD_S, UTC)
    return Scenario(plan.scenario, start=start)


def incident_segment() -> str:
    """The segment the rush-hour incident blocks: the Cần Thơ bridge (or the first national
    road segment of a network without it)."""
    segments = cantho_core_network().segments
    for segment in segments:
        if "Cầu Cần Thơ" in segment.name:
            return segment.id
    return next(s.id for s in segments if s.road_class == RoadClass.NATIONAL)


def prepare(plan: Plan, client: httpx.Client, api_key: str) -> tuple[Simulator, float]:
    """Create reference data and devices; return the simulator and the live start time."""
    fleet = build_fleet(plan.seed, plan.scale)
    transport = HttpTransport(client, api_key)
    transport.create_entities(reference_entities())
    transport.provision(fleet)
    live_start = time.time() - plan.hours_ago * 3600.0
    simulator = Simulator(fleet, transport, scenario_for(plan, live_start), plan.workers)
    return simulator, live_start


def simulate(
    plan: Plan,
    client: httpx.Client,
    api_key: str,
    stop: threading.Event,
    progress: Progress | None = None,
    on_live: Callable[[], None] | None = None,
) -> Simulator:
    """Prepare, report the present state, backfill history, then run live until `stop`
    (`on_live` is called when the live part starts, with or without a backfill)."""
    simulator, live_start = prepare(plan, client, api_key)
    # Current values first: every entity exists within seconds, history fills in behind.
    simulator.tick(live_start)
    if plan.backfill_days > 0:
        simulator.backfill(live_start - plan.backfill_days * DAY_S, live_start, progress)
    if on_live is not None:
        on_live()
    simulator.run(SimClock(live_clock_start(plan, live_start), plan.speed), stop)
    return simulator


def live_clock_start(plan: Plan, live_start: float) -> float:
    """Where the live clock starts once the backfill is done.

    A real-time run resumes at the real clock (the minutes the backfill took are caught up
    at once, not trailed for ever); an accelerated run starts where it was planned, in the past.
    """
    return live_start if plan.hours_ago > 0 else time.time()


def wait_until_up(client: httpx.Client, timeout_s: float = 120.0) -> bool:
    """Wait for the platform's /healthz to answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.get("/healthz").status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False
