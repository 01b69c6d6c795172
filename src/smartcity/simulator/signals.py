"""Signal models of the Cần Thơ digital twin: one import for every stream the simulator feeds.

Each model is a small frozen dataclass of parameters with `value(at, scenario=NORMAL)` (an aware
datetime) and `value_at(t, scenario=NORMAL)` (epoch seconds, for hot loops). Values depend only
on (time, parameters, seed): no I/O, no global random state, the same on every run and machine.
The models live in their own modules (tide, salinity, traffic, weather, environment, assets,
crops, faults) over a shared time base (timebase); this module re-exports their public surface.
"""

from __future__ import annotations

from smartcity.simulator.assets import (
    LandUse,
    LightSample,
    PVModel,
    StreetlightModel,
    WasteBinModel,
    WindTurbineModel,
)
from smartcity.simulator.crops import CropStatus, RiceCropModel, RiceSeason, RiceStage
from smartcity.simulator.environment import (
    AirQualityModel,
    AirSample,
    RiverQualityModel,
    WaterSample,
    do_saturation,
)
from smartcity.simulator.faults import SensorFaults, clock_skew, dropouts, spikes, stuck
from smartcity.simulator.salinity import SalinityModel, four_permille_line_km
from smartcity.simulator.tide import (
    ALARM_LEVELS_M,
    StreetFloodModel,
    WaterLevelModel,
    alarm_level,
)
from smartcity.simulator.timebase import (
    NORMAL,
    TET_DATES,
    Scenario,
    ScenarioName,
    epoch_s,
)
from smartcity.simulator.traffic import RoadClass, TrafficModel, TrafficSample
from smartcity.simulator.weather import (
    WeatherModel,
    WeatherSample,
    clear_sky_ghi,
    sun_elevation,
)

__all__ = [
    "ALARM_LEVELS_M",
    "NORMAL",
    "TET_DATES",
    "AirQualityModel",
    "AirSample",
    "CropStatus",
    "LandUse",
    "LightSample",
    "PVModel",
    "RiceCropModel",
    "RiceSeason",
    "RiceStage",
    "RiverQualityModel",
    "RoadClass",
    "SalinityModel",
    "Scenario",
    "ScenarioName",
    "SensorFaults",
    "StreetFloodModel",
    "StreetlightModel",
    "TrafficModel",
    "TrafficSample",
    "WasteBinModel",
    "WaterLevelModel",
    "WaterSample",
    "WeatherModel",
    "WeatherSample",
    "WindTurbineModel",
    "alarm_level",
    "clear_sky_ghi",
    "clock_skew",
    "do_saturation",
    "dropouts",
    "epoch_s",
    "four_permille_line_km",
    "spikes",
    "stuck",
    "sun_elevation",
]
