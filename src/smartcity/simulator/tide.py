"""Water level of the Hậu river at Cần Thơ station, and street flooding that follows it.

Levels are metres above the national height datum (Hòn Dấu), the datum of the Cần Thơ alarm
levels: BĐ I 1.80 m, BĐ II 1.90 m, BĐ III 2.00 m.

The level is astronomical tide + a seasonal mean (the Mekong flood and the monsoon sea level)
+ slow surge noise. Cần Thơ, ~80 km up the Hậu from the Định An/Trần Đề mouths, sees the East
Sea's mixed, mainly semi-diurnal tide: two highs and two lows a lunar day with a marked diurnal
inequality, a daily range of 1.5–2.5 m at dry-season springs and ~1 m at neaps, damped by the
river's own discharge in the flood season. The yearly peaks (about 2.0–2.2 m in recent years,
above BĐ III) come in Oct–Nov, when flood water and the autumn spring tides coincide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from smartcity.simulator.timebase import (
    HOUR_S,
    NORMAL,
    Scenario,
    ScenarioName,
    Wander,
    epoch_s,
    month_weights,
    stream_key,
    wander,
)
from smartcity.simulator.weather import WeatherModel

ALARM_LEVELS_M = {"BĐ I": 1.80, "BĐ II": 1.90, "BĐ III": 2.00}

# --- astronomical arguments -----------------------------------------------------------------
# Each constituent's phase is linear in time: Doodson numbers × (mean solar angle T, moon's
# mean longitude s, sun's mean longitude h, lunar perigee p) + a constant (Meeus, "Astronomical
# Algorithms", mean elements at J2000). Using the true arguments puts the simulated springs near
# the real new and full moons (mùng 1 and rằm, when Cần Thơ expects its "triều cường").
_J2000_FROM_UNIX_CENTURIES = (2440587.5 - 2451545.0) / 36525.0
_S0 = 218.3165 + 481267.8813 * _J2000_FROM_UNIX_CENTURIES
_H0 = 280.4661 + 36000.7698 * _J2000_FROM_UNIX_CENTURIES
_P0 = 83.3532 + 4069.0137 * _J2000_FROM_UNIX_CENTURIES
_HOURS_PER_CENTURY = 36525.0 * 24.0
_DS = 481267.8813 / _HOURS_PER_CENTURY  # deg/h
_DH = 36000.7698 / _HOURS_PER_CENTURY
_DP = 4069.0137 / _HOURS_PER_CENTURY

# (name, Doodson coefficients of T, s, h, p, constant deg, amplitude m, phase lag g deg).
# Amplitudes are a calibration, not a harmonic analysis of station records (those are not
# public): form factor F = (K1+O1)/(M2+S2) = 0.72, "mixed, mainly semi-diurnal" as the Định An
# mouth tide tables show, scaled so that the dry-season spring range is ~2.2–2.5 m and the neap
# range ~1 m. N2, K2 and P1 (the usual ~20 %, ~27 % and ~33 % of M2, S2 and K1) give the
# monthly perigee and semi-annual (solstice/equinox) modulation. Lags g_S2 − g_M2 ≈ 50° and
# g_K1 − g_O1 ≈ 50° make springs come ~2 days after the new/full moon (the "age of the tide"
# in the delta); the absolute lags add ~5 h of travel from the sea to the equilibrium tide.
_CONSTITUENTS: tuple[tuple[str, int, int, int, int, float, float, float], ...] = (
    ("M2", 2, -2, 2, 0, 0.0, 0.62, 200.0),
    ("S2", 2, 0, 0, 0, 0.0, 0.24, 250.0),
    ("N2", 2, -3, 2, 1, 0.0, 0.12, 180.0),
    ("K2", 2, 0, 2, 0, 0.0, 0.07, 250.0),
    ("K1", 1, 0, 1, 0, 90.0, 0.36, 35.0),
    ("O1", 1, -2, 1, 0, -90.0, 0.26, 345.0),
    ("P1", 1, 0, -1, 0, -90.0, 0.11, 35.0),
)


def _harmonics() -> tuple[tuple[float, float, float], ...]:
    """(amplitude m, angular speed rad/s, phase at the Unix epoch rad) per constituent."""
    out = []
    for _name, a, b, c, d, const, amp, lag in _CONSTITUENTS:
        # Mean solar angle: 180° at 00:00 UT, 15°/h.
        speed_deg_h = a * 15.0 + b * _DS + c * _DH + d * _DP
        phase0 = a * 180.0 + b * _S0 + c * _H0 + d * _P0 + const - lag
        out.append((amp, math.radians(speed_deg_h) / HOUR_S, math.radians(phase0 % 360.0)))
    return tuple(out)


HARMONICS = _harmonics()

# Seasonal mean level (m above Hòn Dấu), January first: low in Mar–May (least Mekong flow,
# lowest monsoon sea level), rising with the flood from Aug to its Oct peak, held up in Dec–Jan
# by the north-east monsoon's higher East Sea level.
MEAN_LEVEL_M = (0.60, 0.45, 0.35, 0.30, 0.30, 0.35, 0.45, 0.62, 0.90, 1.20, 1.12, 0.82)
FLOOD_PEAK_MEAN_M = max(MEAN_LEVEL_M)
# Flood discharge damps the tide on its way up the river (friction grows with flow).
TIDE_DAMPING = (1.0, 1.0, 1.0, 1.0, 1.0, 0.97, 0.94, 0.91, 0.88, 0.87, 0.90, 0.96)


@dataclass(frozen=True)
class WaterLevelModel:
    """Hậu river level at Cần Thơ station (m, Hòn Dấu datum); other stations by scale/lag."""

    seed: int = 0
    key: str = "can-tho"
    amplitude_scale: float = 1.0
    mean_offset_m: float = 0.0
    # Hours after Cần Thơ the tide arrives (negative downstream, towards the sea).
    lag_h: float = 0.0
    noise_m: float = 0.05

    @cached_property
    def _skey(self) -> int:
        return stream_key(self.seed, "tide:" + self.key)

    @cached_property
    def _noise(self) -> Wander:
        return wander(self._skey, 36 * HOUR_S)

    def astronomical_at(self, t: float) -> float:
        """Tidal part alone (m about the mean), undamped, at epoch seconds t."""
        t = t - self.lag_h * HOUR_S
        h = 0.0
        for amp, speed, phase in HARMONICS:
            h += amp * math.cos(speed * t + phase)
        return h * self.amplitude_scale

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """Water level (m) at epoch seconds t."""
        i, j, w = month_weights(t)
        mean = MEAN_LEVEL_M[i] + (MEAN_LEVEL_M[j] - MEAN_LEVEL_M[i]) * w + self.mean_offset_m
        damping = TIDE_DAMPING[i] + (TIDE_DAMPING[j] - TIDE_DAMPING[i]) * w
        if scenario is not NORMAL and scenario.active(ScenarioName.FLOOD_TIDE, t):
            # A Mekong flood peak meeting a monsoon surge: lifts every high tide past BĐ III.
            mean = max(mean, FLOOD_PEAK_MEAN_M + self.mean_offset_m) + scenario.surge_m
        # Wind set-up and discharge pulses wander over about a day and a half.
        noise = self.noise_m * self._noise.at(t)
        return mean + damping * self.astronomical_at(t) + noise

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """Water level (m above Hòn Dấu) at a time."""
        return self.value_at(epoch_s(at), scenario)


def alarm_level(level_m: float) -> int:
    """Flood alarm level reached at Cần Thơ station: 0 (below BĐ I) to 3 (BĐ III)."""
    return sum(1 for threshold in ALARM_LEVELS_M.values() if level_m >= threshold)


@dataclass(frozen=True)
class StreetFloodModel:
    """Water depth (m) on a low street fed by the river level and by rain on blocked drains."""

    # Crown of the lowest point of the street (m above Hòn Dấu): central Ninh Kiều streets
    # (Hai Bà Trưng, Trần Văn Khéo, Tầm Vu) start flooding between BĐ I and BĐ II.
    threshold_m: float = 1.75
    # Share of the river's excess that reaches the street (1: no gate; < 1: partly protected).
    factor: float = 1.0
    # Rain the drains can take (mm/h) while their outfalls are above the river.
    drain_capacity_mm_h: float = 25.0
    # Level at which the river starts to back up into the outfalls.
    outfall_level_m: float = 1.2
    # Depth gained per mm/h of rain beyond what the drains take.
    ponding_m_per_mm_h: float = 0.01
    tide: WaterLevelModel = field(default_factory=WaterLevelModel)
    weather: WeatherModel = field(default_factory=WeatherModel)

    def depth(self, station_level_m: float, rain_mm_h: float) -> float:
        """Depth (m) for a given station level and rain intensity."""
        river = max(0.0, station_level_m - self.threshold_m) * self.factor
        # The higher the river, the less the drains can empty: zero once it tops the street.
        span = self.threshold_m - self.outfall_level_m
        free = min(1.0, max(0.0, (self.threshold_m - station_level_m) / span))
        ponding = max(0.0, rain_mm_h - self.drain_capacity_mm_h * free) * self.ponding_m_per_mm_h
        return river + ponding

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """Depth (m) at epoch seconds t, from this model's tide and weather."""
        return self.depth(self.tide.value_at(t, scenario), self.weather.rainfall_at(t))

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """Street water depth (m) at a time."""
        return self.value_at(epoch_s(at), scenario)
