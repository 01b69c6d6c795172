"""Traffic on a road segment: flow, mean speed and occupancy, by road class and lanes.

Demand follows Vietnamese city rhythms: school and offices start at 07:00 and the working day
ends ~17:00, with a midday trip home for lunch; Saturdays are lighter, Sundays and holidays
lighter still with later, leisure-shaped peaks; the week before Tết is busy with shopping and
the first days of Tết are nearly empty. Speed follows flow on Greenshields' fundamental diagram
(speed falls linearly with density), so speed drops as occupancy rises. Rain cuts demand a
little, speeds and capacity more (motorbike-dominated traffic slows sharply in downpours).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import NamedTuple

from smartcity.simulator.timebase import (
    NORMAL,
    Scenario,
    ScenarioName,
    Wander,
    epoch_s,
    hourly_profile,
    is_public_holiday,
    local_day_number,
    local_hour,
    stream_key,
    tet_offset,
    uniform,
    wander,
    weekday,
)
from smartcity.simulator.weather import WeatherModel


class RoadClass(StrEnum):
    """Functional class of a road segment."""

    NATIONAL = "national"
    ARTERIAL = "arterial"
    COLLECTOR = "collector"
    LOCAL = "local"


@dataclass(frozen=True)
class RoadClassParams:
    """Per-class traffic parameters."""

    # Posted limit (km/h) after Circular 38/2024/TT-BGTVT: 80 on national roads outside dense
    # areas, 60 on divided urban roads, 50 undivided, and 40 in our local streets.
    speed_limit_km_h: float
    # Mean free-flow speed as a share of the limit (signals, motorbikes, frontage access).
    free_speed_share: float
    # Lane capacity, vehicles/h, in mixed motorbike-dominated traffic.
    lane_capacity_veh_h: float
    # Demand at the weekday peak as a share of capacity.
    peak_ratio: float


ROAD_CLASSES: dict[RoadClass, RoadClassParams] = {
    RoadClass.NATIONAL: RoadClassParams(80.0, 0.85, 1800.0, 0.85),
    RoadClass.ARTERIAL: RoadClassParams(60.0, 0.75, 1500.0, 0.90),
    RoadClass.COLLECTOR: RoadClassParams(50.0, 0.75, 1200.0, 0.75),
    RoadClass.LOCAL: RoadClassParams(40.0, 0.70, 800.0, 0.55),
}

# Hourly demand as a share of the weekday peak; entry h is the mean over [h, h+1).
WEEKDAY = (
    0.08, 0.05, 0.04, 0.04, 0.07, 0.22, 0.62, 1.00, 0.82, 0.62, 0.60, 0.72,
    0.64, 0.58, 0.60, 0.68, 0.85, 1.00, 0.90, 0.70, 0.55, 0.42, 0.28, 0.15,
)  # fmt: skip
SATURDAY = (
    0.10, 0.06, 0.05, 0.04, 0.06, 0.15, 0.40, 0.66, 0.70, 0.68, 0.66, 0.66,
    0.60, 0.55, 0.58, 0.64, 0.72, 0.78, 0.76, 0.70, 0.60, 0.48, 0.34, 0.20,
)  # fmt: skip
# Sundays and holidays: no commute, a late-morning and an evening (leisure, cafés) hump.
SUNDAY = (
    0.12, 0.07, 0.05, 0.04, 0.05, 0.10, 0.25, 0.42, 0.55, 0.62, 0.62, 0.58,
    0.50, 0.45, 0.48, 0.55, 0.62, 0.68, 0.70, 0.66, 0.56, 0.44, 0.32, 0.20,
)  # fmt: skip


def tet_factor(offset_days: int | None) -> float:
    """Demand multiplier around Tết (offset in days from mùng 1; None: not near Tết)."""
    if offset_days is None or offset_days < -10 or offset_days > 9:
        return 1.0
    if offset_days <= -3:
        return 1.12  # Tết shopping and travel home
    if offset_days == -2:
        return 0.95
    if offset_days == -1:
        return 0.60  # New Year's Eve: shops close by the afternoon
    if offset_days <= 2:
        return 0.30  # mùng 1–3: families at home, visiting relatives
    if offset_days <= 6:
        return 0.65
    return 0.90


@lru_cache(maxsize=8192)
def _day_kind(day: int) -> tuple[tuple[float, ...], float]:
    """The hourly profile and the Tết multiplier of a local day."""
    tet = tet_offset(day)
    wd = weekday(day)
    if (tet is not None and -1 <= tet <= 6) or wd == 6 or is_public_holiday(day):
        return SUNDAY, tet_factor(tet)
    if wd == 5:
        return SATURDAY, tet_factor(tet)
    return WEEKDAY, tet_factor(tet)


class TrafficSample(NamedTuple):
    """Traffic observed on a segment over all its lanes (one direction)."""

    flow_veh_h: float
    speed_km_h: float
    occupancy_pct: float


@dataclass(frozen=True)
class TrafficModel:
    """Traffic on one road segment of a class and a number of lanes."""

    key: str
    road_class: RoadClass = RoadClass.ARTERIAL
    lanes: int = 2
    seed: int = 0
    # Overrides the class's posted limit when the segment has its own sign.
    speed_limit_km_h: float | None = None
    # Effective vehicle length seen by a loop/radar detector (m): occupancy = density × length.
    effective_length_m: float = 5.0
    weather: WeatherModel = field(default_factory=WeatherModel)

    @property
    def params(self) -> RoadClassParams:
        """The parameters of this segment's road class."""
        return ROAD_CLASSES[self.road_class]

    @property
    def capacity_veh_h(self) -> float:
        """Capacity of the segment (all lanes), veh/h, in dry weather."""
        return self.params.lane_capacity_veh_h * self.lanes

    @cached_property
    def _skey(self) -> int:
        return stream_key(self.seed, "traffic:" + self.key)

    @cached_property
    def _bias(self) -> float:
        # A fixed per-segment bias (±15 %) so that segments of a class are not identical.
        return 0.85 + 0.3 * uniform(self._skey, -1)

    @cached_property
    def _base(self) -> tuple[float, float, float]:
        # Dry-weather free speed (km/h), lane capacity and weekday-peak lane demand (veh/h).
        p = self.params
        limit = p.speed_limit_km_h if self.speed_limit_km_h is None else self.speed_limit_km_h
        return (
            limit * p.free_speed_share,
            p.lane_capacity_veh_h,
            (p.lane_capacity_veh_h * p.peak_ratio * self._bias),
        )

    @cached_property
    def _demand_noise(self) -> Wander:
        return wander(self._skey, 900.0)

    @cached_property
    def _speed_noise(self) -> Wander:
        return wander(self._skey ^ 1, 300.0)

    def demand_share_at(self, t: float) -> float:
        """Demand as a share of the weekday peak at epoch seconds t (no noise, no rain)."""
        table, factor = _day_kind(local_day_number(t))
        return hourly_profile(table, local_hour(t)) * factor

    def value_at(
        self, t: float, scenario: Scenario = NORMAL, rain_mm_h: float | None = None
    ) -> TrafficSample:
        """Traffic at epoch seconds t; rain comes from the weather model unless given."""
        free_dry, cap_dry, peak_demand = self._base
        rain = self.weather.rainfall_at(t) if rain_mm_h is None else rain_mm_h
        wet = 1.0 - math.exp(-rain / 10.0) if rain > 0.0 else 0.0  # 0 dry … ~0.95 at 30 mm/h
        free_speed = free_dry * (1.0 - 0.25 * wet)
        lane_cap = cap_dry * (1.0 - 0.12 * wet)
        table, tet = _day_kind(local_day_number(t))
        demand = (
            peak_demand
            * hourly_profile(table, local_hour(t))
            * tet
            * (1.0 - 0.10 * wet)
            * (1.0 + 0.08 * self._demand_noise.at(t))
        )
        # Greenshields: q = v_f·k·(1 − k/k_j), capacity q_max = v_f·k_j/4 at v = v_f/2.
        jam_density = 4.0 * lane_cap / free_speed
        speed_factor = 1.0
        incident = (
            scenario is not NORMAL
            and scenario.active(ScenarioName.RUSH_HOUR_INCIDENT, t)
            and (scenario.incident_segment is None or scenario.incident_segment == self.key)
        )
        if incident:
            lane_cap *= scenario.incident_capacity_factor
            speed_factor = scenario.incident_speed_factor
        x = demand / lane_cap
        if x < 1.0:
            flow = demand
            speed = free_speed * (1.0 + math.sqrt(1.0 - x)) * 0.5
        else:
            # Over capacity: the queue discharges at capacity and speed sinks below v_f/2.
            flow = lane_cap
            speed = free_speed * 0.5 / (1.0 + 3.0 * (x - 1.0))
        if incident:
            speed = min(speed, free_speed * speed_factor)
        speed *= 1.0 + 0.03 * self._speed_noise.at(t)
        density = min(jam_density, flow / speed)
        occupancy = min(100.0, density * self.effective_length_m / 10.0)
        return TrafficSample(flow * self.lanes, speed, occupancy)

    def value(
        self, at: datetime, scenario: Scenario = NORMAL, rain_mm_h: float | None = None
    ) -> TrafficSample:
        """Traffic on the segment at a time."""
        return self.value_at(epoch_s(at), scenario, rain_mm_h)
