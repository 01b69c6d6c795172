"""Weather at Cần Thơ: sun position, irradiance, temperature, humidity, rain and wind.

Monthly climatology is that of the Cần Thơ meteorological station (1991–2020 normals as
published by the Vietnam national hydro-meteorological service and quoted on Wikipedia's
"Cần Thơ" climate box): about 1,600 mm of rain a year, 90 % of it from May to November, mostly
as afternoon convective showers; 25.5–28.6 °C monthly means; the north-east monsoon blowing
from the east in the dry season and the south-west monsoon from the west-south-west in the wet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import NamedTuple

from smartcity.simulator.timebase import (
    DAY_S,
    HOUR_S,
    YEAR_DAYS,
    epoch_s,
    local_day_number,
    local_hour,
    monthly,
    smooth_noise,
    stream_key,
    uniform,
)

CAN_THO_LATITUDE = 10.03
CAN_THO_LONGITUDE = 105.78

# Monthly normals, January first (see module docstring).
RAIN_MM = (8.5, 2.0, 11.5, 43.0, 165.0, 205.0, 225.0, 222.0, 262.0, 275.0, 141.0, 40.0)
RAIN_DAYS = (1.2, 0.4, 1.3, 4.4, 14.7, 18.6, 19.6, 19.3, 20.6, 20.0, 13.0, 5.4)
MEAN_TEMP_C = (25.5, 26.2, 27.4, 28.6, 28.2, 27.5, 27.1, 27.1, 27.0, 27.0, 26.8, 25.7)
# Mean daily max − min: wider under the clear dry-season sky.
DAILY_RANGE_C = (9.0, 9.5, 9.5, 9.0, 8.0, 7.0, 6.8, 6.8, 6.8, 6.8, 7.0, 8.0)
MEAN_RH_PCT = (79.0, 77.0, 76.0, 77.0, 83.0, 86.0, 87.0, 87.0, 88.0, 88.0, 85.0, 82.0)
MEAN_CLOUD = (0.35, 0.30, 0.30, 0.40, 0.60, 0.70, 0.72, 0.72, 0.72, 0.70, 0.55, 0.40)
MEAN_WIND_M_S = (2.6, 2.9, 3.0, 2.6, 2.1, 2.5, 2.7, 2.7, 2.2, 1.8, 2.0, 2.3)
# Direction the wind blows FROM (degrees): NE monsoon Nov–Mar turning E/SE in Apr, SW
# monsoon Jun–Sep. Interpolated as unit vectors so 350°→10° does not swing through 180°.
WIND_FROM_DEG = (60.0, 80.0, 105.0, 130.0, 200.0, 240.0, 245.0, 245.0, 240.0, 280.0, 30.0, 50.0)
_WIND_U = tuple(math.sin(math.radians(d)) for d in WIND_FROM_DEG)
_WIND_V = tuple(math.cos(math.radians(d)) for d in WIND_FROM_DEG)

# Haurwitz (1945) clear-sky global horizontal irradiance: 1098·cosZ·exp(−0.059/cosZ) W/m²,
# a good fit for humid tropical sites without aerosol data.
_HAURWITZ_A = 1098.0
_HAURWITZ_B = 0.059


def sun_elevation_deg(t: float, latitude: float, longitude: float) -> float:
    """Solar elevation angle (degrees) at epoch seconds t (NOAA/Spencer approximations)."""
    days = t / DAY_S
    gamma = 2.0 * math.pi * ((days % YEAR_DAYS) / YEAR_DAYS)
    # Spencer (1971) Fourier series for the equation of time (minutes) and declination (rad).
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    utc_minutes = (t % DAY_S) / 60.0
    true_solar_minutes = utc_minutes + eqtime + 4.0 * longitude
    hour_angle = math.radians(true_solar_minutes / 4.0 - 180.0)
    lat = math.radians(latitude)
    sin_el = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


def sun_elevation(at: datetime, latitude: float = CAN_THO_LATITUDE) -> float:
    """Solar elevation (degrees) at a time, by default over Cần Thơ."""
    return sun_elevation_deg(epoch_s(at), latitude, CAN_THO_LONGITUDE)


def clear_sky_ghi(elevation_deg: float) -> float:
    """Clear-sky global horizontal irradiance (W/m²) for a sun elevation (Haurwitz)."""
    if elevation_deg <= 0.0:
        return 0.0
    cos_z = math.sin(math.radians(elevation_deg))
    return _HAURWITZ_A * cos_z * math.exp(-_HAURWITZ_B / cos_z)


class WeatherSample(NamedTuple):
    """One weather observation."""

    temperature_c: float
    relative_humidity_pct: float
    rainfall_mm_h: float
    wind_speed_m_s: float
    wind_direction_deg: float
    irradiance_w_m2: float
    cloud_cover: float
    sun_elevation_deg: float


@lru_cache(maxsize=4096)
def _rain_events(skey: int, day: int) -> tuple[tuple[float, float, float], ...]:
    """The rain showers of one local day: (start epoch s, duration s, peak mm/h)."""
    noon_t = day * DAY_S + 12 * HOUR_S  # local noon is near enough to pick the month
    p_rain = min(0.95, monthly(noon_t, RAIN_DAYS) / 30.4)
    if uniform(skey, day * 8) >= p_rain:
        return ()
    # Mean event depth = monthly total / rain days (≈ 12–14 mm in Sep–Oct), drawn exponential.
    mean_mm = monthly(noon_t, RAIN_MM) / max(0.4, monthly(noon_t, RAIN_DAYS))
    total_mm = min(90.0, -mean_mm * math.log(1.0 - 0.98 * uniform(skey, day * 8 + 1)))
    # Three in four showers are afternoon convection (13–18 h); the rest fall at night.
    if uniform(skey, day * 8 + 2) < 0.75:
        start_h = 13.0 + 5.0 * uniform(skey, day * 8 + 3)
    else:
        start_h = 20.0 + 9.0 * uniform(skey, day * 8 + 3)
    duration_h = 0.75 + 2.25 * uniform(skey, day * 8 + 4)
    # A half-sine hyetograph: its integral peak·dur·2/π equals the event depth.
    peak = total_mm * math.pi / (2.0 * duration_h)
    start = day * DAY_S - 7 * HOUR_S + start_h * HOUR_S
    return ((start, duration_h * HOUR_S, peak),)


@dataclass(frozen=True)
class WeatherModel:
    """Weather at one station; `wind_factor` > 1 for the exposed coast (ex-Sóc Trăng)."""

    seed: int = 0
    key: str = "can-tho"
    latitude: float = CAN_THO_LATITUDE
    longitude: float = CAN_THO_LONGITUDE
    wind_factor: float = 1.0

    @cached_property
    def _rain_key(self) -> int:
        # Rain is city-wide weather: every station sharing a seed sees the same showers.
        return stream_key(self.seed, "rain")

    def rainfall_at(self, t: float) -> float:
        """Rain intensity (mm/h) at epoch seconds t."""
        skey = self._rain_key
        day = local_day_number(t)
        total = 0.0
        # Night showers start by 05:00 and last at most 3 h: yesterday's are over by 08:00.
        for d in (day - 1, day) if local_hour(t) < 8.0 else (day,):
            for start, duration, peak in _rain_events(skey, d):
                x = (t - start) / duration
                if 0.0 <= x < 1.0:
                    total += peak * math.sin(math.pi * x)
        return total

    def rainfall(self, at: datetime) -> float:
        """Rain intensity (mm/h) at a time."""
        return self.rainfall_at(epoch_s(at))

    def recent_rain_at(self, t: float, hours: int = 12, decay_h: float = 6.0) -> float:
        """Rain of the past hours (mm), older hours weighted down by exp(−age/decay)."""
        return sum(
            self.rainfall_at(t - i * HOUR_S) * math.exp(-i / decay_h) for i in range(hours + 1)
        )

    def irradiance_at(self, t: float) -> float:
        """Global horizontal irradiance (W/m²) at epoch seconds t."""
        return self.sample_at(t).irradiance_w_m2

    def sample_at(self, t: float) -> WeatherSample:
        """The full weather observation at epoch seconds t."""
        skey = stream_key(self.seed, "weather:" + self.key)
        hour = local_hour(t)
        rain = self.rainfall_at(t)
        # Diurnal temperature: minimum near 06:00, maximum near 14:00, a half-cosine each way.
        if 6.0 <= hour < 14.0:
            shape = -math.cos(math.pi * (hour - 6.0) / 8.0)
        else:
            shape = math.cos(math.pi * ((hour - 14.0) % 24.0) / 16.0)
        mean_t = monthly(t, MEAN_TEMP_C)
        # Evaporative cooling under a shower: up to ~4 °C, as seen in afternoon storms.
        cooling = 4.0 * (1.0 - math.exp(-rain / 4.0))
        temp = (
            mean_t
            + 0.5 * monthly(t, DAILY_RANGE_C) * shape
            - cooling
            + 0.6 * smooth_noise(skey, t, 6 * HOUR_S)
        )
        rh = (
            monthly(t, MEAN_RH_PCT)
            - 2.6 * (temp - mean_t)
            + 2.0 * smooth_noise(skey, t + 1e6, 4 * HOUR_S)
        )
        if rain > 0.1:
            rh = max(rh, 92.0)
        rh = min(99.0, max(40.0, rh))
        cloud = monthly(t, MEAN_CLOUD) + 0.18 * smooth_noise(skey, t + 2e6, 3 * HOUR_S)
        if rain > 0.1:
            cloud = 1.0
        cloud = min(1.0, max(0.0, cloud))
        elevation = sun_elevation_deg(t, self.latitude, self.longitude)
        # Kasten & Czeplak (1980) cloud attenuation of clear-sky irradiance.
        ghi = clear_sky_ghi(elevation) * (1.0 - 0.75 * cloud**3.4)
        # Wind: sea/land and convective mixing make afternoons windier than nights.
        diurnal = 1.0 + 0.4 * math.cos(2.0 * math.pi * (hour - 14.0) / 24.0)
        gust = 3.0 * (1.0 - math.exp(-rain / 8.0))
        speed = (
            monthly(t, MEAN_WIND_M_S)
            * diurnal
            * (1.0 + 0.25 * smooth_noise(skey, t + 3e6, 2 * HOUR_S))
        )
        speed = max(0.0, speed + gust) * self.wind_factor
        u, v = monthly(t, _WIND_U), monthly(t, _WIND_V)
        direction = math.degrees(math.atan2(u, v)) + 20.0 * smooth_noise(skey, t + 4e6, 2 * HOUR_S)
        return WeatherSample(
            temperature_c=temp,
            relative_humidity_pct=rh,
            rainfall_mm_h=rain,
            wind_speed_m_s=speed,
            wind_direction_deg=direction % 360.0,
            irradiance_w_m2=ghi,
            cloud_cover=cloud,
            sun_elevation_deg=elevation,
        )

    def value(self, at: datetime) -> WeatherSample:
        """The full weather observation at a time."""
        return self.sample_at(epoch_s(at))
