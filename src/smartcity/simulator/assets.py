"""City assets that follow the sun and the day: street lights, waste bins, PV and wind power."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from smartcity.simulator.timebase import (
    DAY_S,
    HOUR_S,
    NORMAL,
    UTC_OFFSET_S,
    Scenario,
    ScenarioName,
    epoch_s,
    local_day_number,
    local_hour,
    smooth_noise,
    stream_key,
    tet_offset,
    uniform,
    weekday,
)
from smartcity.simulator.weather import WeatherModel, sun_elevation_deg

# --- street lights --------------------------------------------------------------------------

# Sunset/sunrise: the sun's upper limb on the horizon with standard refraction.
SUNSET_ELEVATION_DEG = -0.833
# Lamp faults (driver or LED failure, cable theft): LED street lights fail ~3 % a year and
# the city repairs within about a week, so a lamp is out in ~0.06 % of its weeks.
FAULT_PROBABILITY_PER_WEEK = 0.03 / 52.0
_WEEK_S = 7 * DAY_S


class LightSample(NamedTuple):
    """A street light's reported state."""

    power_state: bool
    dimming_pct: float
    power_w: float
    faulty: bool


@dataclass(frozen=True)
class StreetlightModel:
    """One LED street light on an astronomical clock with a night dimming plan."""

    key: str
    seed: int = 0
    rated_power_w: float = 120.0
    # Full output until 22:00, 70 % from 22:00 to 05:00 (a common Vietnamese dimming plan,
    # cf. TCVN 5828 and the CEN/TR 13201 class step-down when traffic is light).
    dim_from_h: float = 22.0
    dim_until_h: float = 5.0
    dim_level_pct: float = 70.0
    latitude: float = 10.03
    longitude: float = 105.78

    @cached_property
    def _skey(self) -> int:
        return stream_key(self.seed, "light:" + self.key)

    def faulty_at(self, t: float, scenario: Scenario = NORMAL) -> bool:
        """True if the lamp is out of order at epoch seconds t."""
        if scenario.active(ScenarioName.LAMP_FAILURES, t) and (
            uniform(self._skey, -7) < scenario.lamp_failure_share
        ):
            return True
        return uniform(self._skey, math.floor(t / _WEEK_S)) < FAULT_PROBABILITY_PER_WEEK

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> LightSample:
        """State of the lamp at epoch seconds t."""
        dark = sun_elevation_deg(t, self.latitude, self.longitude) < SUNSET_ELEVATION_DEG
        faulty = self.faulty_at(t, scenario)
        if not dark or faulty:
            # A failed lamp reports off (no current); the controller still draws standby.
            return LightSample(False, 0.0, 0.5, faulty)
        hour = local_hour(t)
        dimmed = hour >= self.dim_from_h or hour < self.dim_until_h
        level = self.dim_level_pct if dimmed else 100.0
        # LED drivers draw roughly in proportion to output, plus ~5 % driver loss.
        return LightSample(True, level, self.rated_power_w * level / 100.0 * 1.05, False)

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> LightSample:
        """State of the lamp at a time."""
        return self.value_at(epoch_s(at), scenario)


# --- waste bins -----------------------------------------------------------------------------


class LandUse(StrEnum):
    """What surrounds a bin, which sets how fast it fills."""

    MARKET = "market"
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"


# Mean fill (% of a 660 L bin per hour) and the hourly shape (entry h: [h, h+1)). Markets fill
# in the morning trade (Cái Răng floating market and Tân An market open before dawn),
# households at meal times, shops and offices through the working day.
FILL_RATE_PCT_H: dict[LandUse, float] = {
    LandUse.MARKET: 3.5,
    LandUse.RESIDENTIAL: 2.2,
    LandUse.COMMERCIAL: 3.0,
}
FILL_SHAPE: dict[LandUse, tuple[float, ...]] = {
    LandUse.MARKET: (
        0.2, 0.2, 0.4, 1.5, 2.6, 3.0, 3.0, 2.8, 2.4, 1.8, 1.2, 1.0,
        0.8, 0.6, 0.6, 0.8, 1.0, 1.0, 0.8, 0.5, 0.3, 0.2, 0.2, 0.2,
    ),
    LandUse.RESIDENTIAL: (
        0.2, 0.1, 0.1, 0.1, 0.2, 0.8, 1.8, 2.0, 1.2, 0.8, 0.8, 1.4,
        1.6, 1.0, 0.6, 0.6, 0.8, 1.4, 2.2, 2.4, 1.8, 1.2, 0.6, 0.3,
    ),
    LandUse.COMMERCIAL: (
        0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.7, 1.8, 1.9,
        1.9, 1.8, 1.8, 1.8, 1.7, 1.6, 1.5, 1.3, 1.0, 0.7, 0.4, 0.3,
    ),
}  # fmt: skip
# Local collection hours: markets twice a day; households and shops in the evening round
# (Cần Thơ's urban environment company collects mostly after 18:00).
COLLECTION_HOURS: dict[LandUse, tuple[float, ...]] = {
    LandUse.MARKET: (11.0, 20.0),
    LandUse.RESIDENTIAL: (19.0,),
    LandUse.COMMERCIAL: (21.0,),
}


def _waste_day_factor(day: int, land_use: LandUse) -> float:
    tet = tet_offset(day)
    if tet is not None and -10 <= tet <= -1:
        return 1.6  # Tết shopping and house cleaning
    if tet is not None and 0 <= tet <= 3:
        return 0.3 if land_use is not LandUse.RESIDENTIAL else 1.2
    if weekday(day) == 6 and land_use is LandUse.COMMERCIAL:
        return 0.6
    return 1.0


@dataclass(frozen=True)
class WasteBinModel:
    """Fill level of one bin, rising with use and emptied at collection times."""

    key: str
    land_use: LandUse = LandUse.RESIDENTIAL
    seed: int = 0
    # Bin size relative to the 660 L reference (a 240 L bin fills 660/240 times faster).
    volume_l: float = 660.0
    # Chance a scheduled collection is missed (truck breakdown, blocked street).
    missed_collection_probability: float = 0.03

    @cached_property
    def _skey(self) -> int:
        return stream_key(self.seed, "bin:" + self.key)

    def _collected(self, slot_t: float) -> bool:
        return uniform(self._skey, math.floor(slot_t / 60.0)) >= self.missed_collection_probability

    def last_collection_at(self, t: float) -> float:
        """Epoch seconds of the last collection that happened at or before t."""
        day = local_day_number(t)
        for d in range(day, day - 14, -1):
            midnight = d * DAY_S - UTC_OFFSET_S
            for hour in sorted(COLLECTION_HOURS[self.land_use], reverse=True):
                slot = midnight + hour * HOUR_S
                if slot <= t and self._collected(slot):
                    return slot
        return t - 14 * DAY_S

    def _rate(self, hour_start: float) -> float:
        # % per hour during the local hour beginning at hour_start (epoch s).
        hour = int(local_hour(hour_start + 1.0))
        shape = FILL_SHAPE[self.land_use][hour]
        day_f = _waste_day_factor(local_day_number(hour_start + 1.0), self.land_use)
        # Hour-to-hour variation ×0.6–1.4, never negative, so fill only rises.
        jitter = 0.6 + 0.8 * uniform(self._skey, math.floor(hour_start / HOUR_S))
        return FILL_RATE_PCT_H[self.land_use] * 660.0 / self.volume_l * shape * day_f * jitter

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """Fill level (%, 0–100) at epoch seconds t."""
        start = self.last_collection_at(t)
        fill = 0.0
        hour_t = math.floor(start / HOUR_S) * HOUR_S
        while hour_t < t and fill < 100.0:
            seg_start = max(hour_t, start)
            seg_end = min(hour_t + HOUR_S, t)
            fill += self._rate(hour_t) * (seg_end - seg_start) / HOUR_S
            hour_t += HOUR_S
        return min(100.0, fill)

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """Fill level (%) at a time."""
        return self.value_at(epoch_s(at), scenario)


# --- energy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PVModel:
    """Rooftop PV output (kW AC) from irradiance, cell temperature and capacity."""

    key: str
    capacity_kw: float = 10.0
    # Inverter, wiring, soiling and mismatch losses: 0.80 is typical for Vietnamese rooftops.
    performance_ratio: float = 0.80
    # Crystalline silicon loses ~0.4 %/°C above 25 °C cell temperature.
    temperature_coefficient: float = -0.004
    weather: WeatherModel = field(default_factory=WeatherModel)

    def output_kw(self, irradiance_w_m2: float, air_temp_c: float) -> float:
        """AC output (kW) for a given plane irradiance and air temperature."""
        if irradiance_w_m2 <= 0.0:
            return 0.0
        # NOCT model: the cell runs ~25 °C above air at 800 W/m² (NOCT 45 °C at 20 °C air).
        cell_temp = air_temp_c + irradiance_w_m2 / 800.0 * 25.0
        derate = 1.0 + self.temperature_coefficient * (cell_temp - 25.0)
        kw = self.capacity_kw * irradiance_w_m2 / 1000.0 * self.performance_ratio * derate
        return max(0.0, min(self.capacity_kw, kw))

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """AC output (kW) at epoch seconds t."""
        w = self.weather.sample_at(t)
        return self.output_kw(w.irradiance_w_m2, w.temperature_c)

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """AC output (kW) at a time."""
        return self.value_at(epoch_s(at), scenario)


@dataclass(frozen=True)
class WindTurbineModel:
    """A wind turbine's output (kW) from the station wind with a cubic power curve."""

    key: str
    rated_kw: float = 4200.0
    cut_in_m_s: float = 3.0
    rated_m_s: float = 11.0
    cut_out_m_s: float = 25.0
    hub_height_m: float = 100.0
    # Power-law shear over flat delta land and tidal flats (Hellmann exponent ~0.14).
    shear_exponent: float = 0.14
    seed: int = 0
    # The near-shore farms of the former Sóc Trăng coast see ~1.6× Cần Thơ's 10 m wind.
    weather: WeatherModel = field(default_factory=lambda: WeatherModel(wind_factor=1.6))

    def output_kw(self, wind_10m_m_s: float) -> float:
        """Output (kW) for a 10 m wind speed."""
        v = wind_10m_m_s * math.pow(self.hub_height_m / 10.0, self.shear_exponent)
        if v < self.cut_in_m_s or v >= self.cut_out_m_s:
            return 0.0
        if v >= self.rated_m_s:
            return self.rated_kw
        ci3 = self.cut_in_m_s**3
        return self.rated_kw * (v**3 - ci3) / (self.rated_m_s**3 - ci3)

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> float:
        """Output (kW) at epoch seconds t."""
        w = self.weather.sample_at(t)
        # Turbulence at the hub the 10 m station does not see.
        skey = stream_key(self.seed, "wind:" + self.key)
        gust = 1.0 + 0.08 * smooth_noise(skey, t, 600.0)
        return self.output_kw(w.wind_speed_m_s * gust)

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> float:
        """Output (kW) at a time."""
        return self.value_at(epoch_s(at), scenario)
