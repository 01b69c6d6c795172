"""Air quality beside a road and water quality of a river or canal, coupled to traffic and weather.

Air (µg/m³, 1-hour values): a regional background that is high in the dry season (biomass
burning and stagnant north-east-monsoon air: Mekong-delta PM2.5 runs ~25–45 in Dec–Apr and
~10–20 in the rainy months), plus a traffic increment that follows the segment's flow, both
concentrated by the shallow night-time boundary layer and washed out by rain. O3 is
photochemical: it follows sunlight with a ~2 h lag and is eaten by fresh NO near traffic.

River (QCVN 08:2023/BTNMT parameters): the Hậu at Cần Thơ is a large, fairly clean river (DO
5–6.5 mg/L, BOD5 3–6 mg/L, coliform thousands MPN/100 mL, per the city's monitoring reports);
urban canals (Cái Khế, Xáng Thổi) carry several times more organic load: `pollution` scales it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from smartcity.simulator.timebase import (
    HOUR_S,
    NORMAL,
    Scenario,
    epoch_s,
    local_hour,
    monthly,
    smooth_noise,
    stream_key,
)
from smartcity.simulator.traffic import RoadClass, TrafficModel
from smartcity.simulator.weather import WeatherModel, clear_sky_ghi, sun_elevation_deg

# Regional PM2.5 background (µg/m³), January first.
PM25_BACKGROUND = (27.0, 28.0, 26.0, 22.0, 15.0, 12.0, 11.0, 11.0, 12.0, 14.0, 19.0, 25.0)


class AirSample(NamedTuple):
    """Pollutant concentrations, µg/m³."""

    pm25: float
    pm10: float
    no2: float
    o3: float
    co: float
    so2: float


def _mixing_factor(hour: float) -> float:
    # The nocturnal inversion traps emissions (×~1.25 before dawn); afternoon convection
    # dilutes them (×~0.75 at 14 h).
    return 1.0 + 0.25 * math.cos(2.0 * math.pi * (hour - 5.0) / 24.0)


@dataclass(frozen=True)
class AirQualityModel:
    """Air quality at a roadside station coupled to one road segment's traffic."""

    key: str
    seed: int = 0
    # Kerbside (1.0) … park or residential backyard (0.3): share of the road's increment seen.
    traffic_exposure: float = 1.0
    # Extra SO2 (µg/m³) near Trà Nóc / Hưng Phú industrial zones and the river port.
    industrial_so2: float = 0.0
    weather: WeatherModel = field(default_factory=WeatherModel)
    traffic: TrafficModel | None = None

    @cached_property
    def road(self) -> TrafficModel:
        """The segment whose traffic this station breathes."""
        if self.traffic is not None:
            return self.traffic
        return TrafficModel(
            key=self.key + ":road",
            road_class=RoadClass.ARTERIAL,
            seed=self.seed,
            weather=self.weather,
        )

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> AirSample:
        """Concentrations at epoch seconds t."""
        skey = stream_key(self.seed, "air:" + self.key)
        hour = local_hour(t)
        rain = self.weather.rainfall_at(t)
        recent = (
            rain + self.weather.rainfall_at(t - HOUR_S) + self.weather.rainfall_at(t - 2 * HOUR_S)
        )
        # Below-cloud scavenging: a few mm take out a good part of the particles.
        washout = max(0.45, math.exp(-0.08 * recent))
        road = self.road
        traffic = road.value_at(t, scenario, rain)
        load = traffic.flow_veh_h / road.capacity_veh_h * self.traffic_exposure
        mixing = _mixing_factor(hour)
        pm_noise = 1.0 + 0.15 * smooth_noise(skey, t, 6 * HOUR_S)
        pm25 = (monthly(t, PM25_BACKGROUND) + 10.0 * load) * mixing * washout * pm_noise
        # Road dust and construction add coarse particles: PM2.5/PM10 ≈ 0.55–0.65 in the delta.
        pm10 = pm25 * 1.6 + 12.0 * load * washout
        no2_fresh = 38.0 * load * mixing
        no2 = (8.0 + no2_fresh) * (1.0 + 0.12 * smooth_noise(skey, t + 1e7, 3 * HOUR_S))
        # Photochemistry follows the sun about two hours late.
        light = clear_sky_ghi(
            sun_elevation_deg(t - 2 * HOUR_S, self.weather.latitude, self.weather.longitude)
        )
        cloud = 0.6 if rain > 0.1 else 1.0
        o3 = (22.0 + 85.0 * (light / 1000.0) * cloud) - 0.35 * no2_fresh
        o3 = max(4.0, o3 * (1.0 + 0.1 * smooth_noise(skey, t + 2e7, 4 * HOUR_S)))
        co = (
            (350.0 + 1400.0 * load) * mixing * (1.0 + 0.1 * smooth_noise(skey, t + 3e7, 3 * HOUR_S))
        )
        so2 = (5.0 + 4.0 * load + self.industrial_so2) * (
            1.0 + 0.2 * smooth_noise(skey, t + 4e7, 6 * HOUR_S)
        )
        return AirSample(pm25=pm25, pm10=pm10, no2=no2, o3=o3, co=co, so2=so2)

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> AirSample:
        """Concentrations (µg/m³) at a time."""
        return self.value_at(epoch_s(at), scenario)


class WaterSample(NamedTuple):
    """River water quality (QCVN 08 parameters and units)."""

    ph: float
    dissolved_oxygen_mg_l: float
    temperature_c: float
    bod5_mg_l: float
    cod_mg_l: float
    ammonium_mg_l: float
    phosphate_mg_l: float
    coliform_mpn_100ml: float


# Water temperature (°C), January first: ~1 °C above the monthly air mean, lagging it.
WATER_TEMP_C = (26.8, 27.2, 28.3, 29.5, 29.8, 29.2, 28.6, 28.4, 28.4, 28.3, 28.0, 27.2)
# Dilution by river flow: organic loads are most concentrated at the dry-season low (Apr).
DRY_CONCENTRATION = (1.10, 1.15, 1.25, 1.30, 1.15, 1.00, 0.90, 0.85, 0.80, 0.80, 0.85, 1.00)
# First flush of acid-sulphate soils (Phèn) in May–Jun lowers pH in the canals.
PH_BASE = (7.2, 7.25, 7.3, 7.3, 7.0, 6.9, 7.0, 7.05, 7.1, 7.1, 7.15, 7.2)


def do_saturation(temp_c: float) -> float:
    """Oxygen solubility in fresh water (mg/L) at a temperature (APHA 4500-O polynomial)."""
    return 14.652 - 0.41022 * temp_c + 0.007991 * temp_c**2 - 0.000077774 * temp_c**3


@dataclass(frozen=True)
class RiverQualityModel:
    """Water quality at a river or canal station."""

    key: str
    seed: int = 0
    # 1.0: the Hậu main stem; 2–4: urban canals receiving untreated sewage.
    pollution: float = 1.0
    weather: WeatherModel = field(default_factory=WeatherModel)

    def value_at(self, t: float, scenario: Scenario = NORMAL) -> WaterSample:
        """Water quality at epoch seconds t."""
        skey = stream_key(self.seed, "water:" + self.key)
        hour = local_hour(t)
        # Afternoon sun warms the surface and drives photosynthesis (DO and pH up).
        day_cycle = math.cos(2.0 * math.pi * (hour - 15.0) / 24.0)
        temp = monthly(t, WATER_TEMP_C) + 0.6 * day_cycle + 0.3 * smooth_noise(skey, t, 12 * HOUR_S)
        runoff = self.weather.recent_rain_at(t, hours=12, decay_h=6.0)
        flush = 1.0 - math.exp(-runoff / 15.0)  # 0 dry … ~1 after a heavy storm
        conc = monthly(t, DRY_CONCENTRATION) * self.pollution
        noise = 1.0 + 0.1 * smooth_noise(skey, t + 1e7, 8 * HOUR_S)
        bod = 3.2 * conc * (1.0 + 0.5 * flush) * noise
        cod = bod * (2.2 + 0.2 * smooth_noise(skey, t + 2e7, 24 * HOUR_S))
        nh4 = 0.15 * conc * (1.0 + 0.6 * flush) * noise
        po4 = 0.07 * conc * (1.0 + 0.4 * flush) * noise
        # Faecal coliform washes in with street runoff: ×~5 after a storm.
        coliform = (
            3500.0
            * conc**1.5
            * (1.0 + 4.0 * flush)
            * (1.0 + 0.3 * smooth_noise(skey, t + 3e7, 6 * HOUR_S))
        )
        # Saturation falls with temperature; organic load (BOD) eats into it.
        saturation = 0.80 - 0.035 * (bod - 3.2) + 0.05 * day_cycle
        dissolved_oxygen = max(0.5, do_saturation(temp) * min(1.05, saturation))
        ph = monthly(t, PH_BASE) - 0.1 * (self.pollution - 1.0) - 0.15 * flush + 0.08 * day_cycle
        ph += 0.05 * smooth_noise(skey, t + 4e7, 6 * HOUR_S)
        return WaterSample(
            ph=ph,
            dissolved_oxygen_mg_l=dissolved_oxygen,
            temperature_c=temp,
            bod5_mg_l=bod,
            cod_mg_l=cod,
            ammonium_mg_l=nh4,
            phosphate_mg_l=po4,
            coliform_mpn_100ml=coliform,
        )

    def value(self, at: datetime, scenario: Scenario = NORMAL) -> WaterSample:
        """Water quality at a time."""
        return self.value_at(epoch_s(at), scenario)
