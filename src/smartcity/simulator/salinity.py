"""Salinity (‰) along the Hậu river and its canals, by distance from the sea.

An estuary's salinity falls roughly exponentially inland (Savenije, "Salinity and Tides in
Alluvial Estuaries", 2005): S(x) = S_mouth · exp(−x / L). In an average dry season the 4 ‰ line
(the limit for rice) stands 40–50 km up the Hậu in Feb–Apr, and reached 60–65 km in the severe
seasons of 2016 and 2020; in the wet season the Mekong pushes it back to within ~10 km of the
mouth. The salt front breathes with the tide: it moves inland with the flood (rising) tide by a
tidal excursion of ~8–12 km, more at springs, so salinity is highest around high water.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from smartcity.simulator.tide import WaterLevelModel
from smartcity.simulator.timebase import (
    DAY_S,
    HOUR_S,
    NORMAL,
    Scenario,
    ScenarioName,
    epoch_s,
    monthly,
    smooth_noise,
    stream_key,
)

# Salinity at the mouth (‰), January first: near sea water in the dry season, diluted by the
# flood plume in Aug–Nov.
MOUTH_SALINITY = (26.0, 28.0, 29.0, 29.0, 26.0, 20.0, 15.0, 11.0, 9.0, 8.0, 12.0, 20.0)
# Intrusion length L (km), January first, chosen so that S = 4 ‰ at
# x = L·ln(S_mouth / 4): ≈ 40 km in Feb, 48 km in Mar–Apr (the peak), ≈ 6 km in Oct.
INTRUSION_KM = (20.0, 21.5, 24.5, 24.5, 18.0, 11.0, 7.5, 6.0, 5.5, 8.0, 9.0, 14.0)
# Fresh river water is never quite zero (dissolved salts ~0.1–0.2 ‰).
FRESH_SALINITY = 0.15
# Celerity of the tidal wave up the Hậu (km/h): the tide reaches Cần Thơ, ~80 km in, ~5 h
# after the mouth.
TIDE_CELERITY_KM_H = 16.0
CAN_THO_DISTANCE_KM = 80.0


@dataclass(frozen=True)
class SalinityModel:
    """Salinity at a station `distance_km` up the river from the sea."""

    distance_km: float
    seed: int = 0
    key: str = "salinity"
    # Tidal excursion of the salt front at dry-season springs (km).
    excursion_km: float = 10.0
    tide: WaterLevelModel = field(default_factory=WaterLevelModel)

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """Salinity (‰) at epoch seconds t."""
        length, mouth = _intrusion(t, scenario)
        skey = stream_key(self.seed, "salinity:" + self.key)
        # Upstream discharge varies week to week (reservoir releases, rain upstream).
        length *= 1.0 + 0.08 * smooth_noise(skey, t, 5 * DAY_S)
        # The tide here runs earlier than at Cần Thơ the nearer the station is to the sea;
        # salinity peaks with (slightly after) high water, so a rising tide shifts x seaward.
        lead_h = (CAN_THO_DISTANCE_KM - self.distance_km) / TIDE_CELERITY_KM_H
        tide_m = self.tide.astronomical_at(t + (lead_h - 1.0) * HOUR_S)
        shift = self.excursion_km * tide_m / 1.2  # ~1.2 m: spring semi-amplitude at Cần Thơ
        x = max(0.0, self.distance_km - shift)
        salt = mouth * math.exp(-x / length)
        return FRESH_SALINITY + salt * (1.0 + 0.05 * smooth_noise(skey, t + 1e7, 2 * HOUR_S))

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """Salinity (‰) at a time."""
        return self.value_at(epoch_s(at), scenario)


def _intrusion(t: float, scenario: Scenario) -> tuple[float, float]:
    """Intrusion length (km) and mouth salinity (‰) at t.

    The salinity-season scenario stages a severe dry season (2016, 2020) whatever the month:
    at least the March intrusion, lengthened by the scenario's factor.
    """
    length = monthly(t, INTRUSION_KM)
    mouth = monthly(t, MOUTH_SALINITY)
    if scenario.active(ScenarioName.SALINITY_SEASON, t):
        length = max(length, max(INTRUSION_KM)) * scenario.intrusion_factor
        mouth = min(32.0, max(mouth, max(MOUTH_SALINITY)) * 1.1)
    return length, mouth


def four_permille_line_km(at: datetime, scenario: Scenario = NORMAL) -> float:
    """Distance from the sea (km) of the 4 ‰ line at mean tide, without noise."""
    t = epoch_s(at)
    length, mouth = _intrusion(t, scenario)
    return max(0.0, length * math.log(mouth / 4.0))
