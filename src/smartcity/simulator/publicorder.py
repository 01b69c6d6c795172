"""Crowds and public-order events at Cần Thơ's busy public places, as camera analytics see them.

A camera with people-counting reports how many people are in view and, now and then, an
event its analytics flag (a brawl, an unlicensed gathering, street vending on the pavement,
a motorbike on the walking street). Crowds follow the place's daily rhythm — the riverside
and the night market in the evening, the floating market before dawn, the bus station all
day — with more people at weekends and on holidays; events are rare and likelier in crowds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from smartcity.simulator.timebase import (
    NORMAL,
    Scenario,
    hourly_profile,
    is_public_holiday,
    local_day_number,
    local_hour,
    smooth_noise,
    stream_key,
    uniform,
    weekday,
)


class PlaceKind(StrEnum):
    """What a public place is busy with, which sets its daily rhythm."""

    RIVERSIDE = "riverside"  # Ninh Kiều wharf, the walking street: evenings
    MARKET = "market"  # Cái Răng floating market, Tân An market: before dawn to mid-morning
    TRANSPORT = "transport"  # the central bus station, the airport: all day, two bumps


# Share of the place's peak crowd, hour by hour (entry h: [h, h+1)).
CROWD_SHAPE: dict[PlaceKind, tuple[float, ...]] = {
    PlaceKind.RIVERSIDE: (
        0.10, 0.05, 0.03, 0.03, 0.05, 0.25, 0.30, 0.20, 0.15, 0.15, 0.15, 0.15,
        0.15, 0.15, 0.15, 0.20, 0.35, 0.60, 0.85, 1.00, 1.00, 0.85, 0.55, 0.25,
    ),
    PlaceKind.MARKET: (
        0.05, 0.05, 0.10, 0.30, 0.70, 1.00, 1.00, 0.85, 0.60, 0.40, 0.25, 0.15,
        0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.08, 0.05, 0.05, 0.05, 0.05, 0.05,
    ),
    PlaceKind.TRANSPORT: (
        0.10, 0.05, 0.05, 0.10, 0.35, 0.70, 0.90, 0.85, 0.70, 0.60, 0.55, 0.55,
        0.55, 0.60, 0.65, 0.75, 0.90, 1.00, 0.85, 0.60, 0.45, 0.35, 0.25, 0.15,
    ),
}  # fmt: skip

EVENT_TYPES = ("gathering", "brawl", "pavementEncroachment", "motorbikeInPedestrianZone")
#: Chance of an event in a 15-minute window at the place's peak crowd.
EVENT_PROBABILITY_AT_PEAK = 0.03
_WINDOW_S = 900


class CrowdSample(NamedTuple):
    """What the camera reports."""

    people: int
    crowded: bool
    event: str | None


@dataclass(frozen=True)
class PublicPlaceModel:
    """People in view of one camera, and the public-order events its analytics flag."""

    key: str
    kind: PlaceKind
    peak_people: int
    seed: int = 0

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> CrowdSample:
        """The camera's report at epoch seconds t."""
        skey = stream_key(self.seed, "crowd:" + self.key)
        day = local_day_number(t)
        busy = 1.35 if weekday(day) >= 5 or is_public_holiday(day) else 1.0
        share = hourly_profile(CROWD_SHAPE[self.kind], local_hour(t)) * busy
        people = max(0, round(self.peak_people * share * (1.0 + 0.1 * smooth_noise(skey, t, 3600))))
        window = math.floor(t / _WINDOW_S)
        event = None
        if uniform(skey, window) < EVENT_PROBABILITY_AT_PEAK * min(1.5, share):
            event = EVENT_TYPES[math.floor(uniform(skey ^ 0xE7, window) * len(EVENT_TYPES))]
        return CrowdSample(people, people > 0.8 * self.peak_people, event)
