"""The environment domain's computations on the city's data, run on the leader.

From sensor readings (any source: devices, the simulator, an integrator writing NGSI-LD) it
keeps derived attributes on the same entities, with their history:

- AirQualityObserved: hourly `airQualityIndex` (VN_AQI or US AQI), `airQualityLevel` (with
  its colour), `responsiblePollutant`, and `airQualityIndexDaily` for each complete day.
- WaterQualityObserved with river parameters: `waterQualityIndex` (VN_WQI), `waterQualityClass`.
- WaterQualityObserved with salinity: the `SalinityFront` entity (reach of the 4‰ line).
- WaterObserved at Cần Thơ station: `alarmLevel` (BĐ I–III), the FloodRiskArea streets'
  expected depth; a periodic high-tide forecast (`nextHighWater`, `forecastAlarmLevel`).
- Every input reading is checked (quality.py); flagged readings are left out of the indices
  and the entity carries `dataQualityFlags` (a count, for the maintenance rule) and
  `dataQuality` (the reasons).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcity.core.context.errors import NgsiLdError
from smartcity.core.context.times import format_us, now_us
from smartcity.core.domainrun import DomainRuntime, PlatformServices, changed_attrs
from smartcity.core.events import Event
from smartcity.core.registry import Job

from . import aqi, quality, salinity, tides, wqi
from .gates import GateController, policy_from
from .streets import FLOOD_PRONE_STREETS

log = logging.getLogger(__name__)

HOUR_US = 3_600_000_000
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY_US = 24 * HOUR_US
#: Vietnam's days start at 17:00 UTC (UTC+7, no daylight saving).
VN_OFFSET_US = 7 * HOUR_US
#: How far back a first computation fills an index's history (the simulator backfills 7 days).
MAX_BACKFILL_US = 8 * DAY_US
#: River-quality parameters of VN_WQI the domain reads from WaterQualityObserved.
WQI_INPUTS = (
    "pH", "O2", "temperature", "BOD", "COD", "TOC", "NH4", "NO3", "NO2", "PO4",
    "coliform", "ecoli", "As", "Cd", "Pb", "Cr6", "Cu", "Zn", "Hg",
)  # fmt: skip
SALINITY_FRONT_ID = "urn:ngsi-ld:SalinityFront:hau-4ppt"
#: Attributes each kind of station is checked on (data quality).
CHECKED = {
    "AirQualityObserved": aqi.POLLUTANTS,
    "WaterObserved": ("height",),
    "FloodMonitoring": ("currentLevel",),
    "WaterQualityObserved": ("salinity", "pH", "O2", "BOD", "COD", "NH4", "PO4"),
}
#: History read for the stuck-sensor check.
QUALITY_WINDOW_US = 12 * HOUR_US


def floor_hour(us: int) -> int:
    """The start of the (UTC) hour containing `us`."""
    return us - us % HOUR_US


def vn_day_end(us: int) -> int:
    """The end (next midnight, Vietnam time) of the Vietnamese day containing `us`."""
    local = us + VN_OFFSET_US
    return local - local % DAY_US + DAY_US - VN_OFFSET_US


def _prop(value: Any, at_us: int | None = None, **sub: Any) -> dict[str, Any]:
    """An NGSI-LD Property (with observedAt and sub-properties when given)."""
    out: dict[str, Any] = {"type": "Property", "value": value}
    if at_us is not None:
        out["observedAt"] = format_us(at_us)
    for name, sub_value in sub.items():
        out[name] = {"type": "Property", "value": sub_value}
    return out


def numeric_samples(samples: Iterable[tuple[int, Any]]) -> list[tuple[int, float]]:
    """(µs, number) pairs, texts and non-finite values left out."""
    return [
        (at, float(v))
        for at, v in samples
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


def _seconds(samples: Sequence[tuple[int, float]]) -> list[tuple[float, float]]:
    return [(at / 1e6, v) for at, v in samples]


def _micros(samples: Sequence[tuple[float, float]]) -> list[tuple[int, float]]:
    return [(round(at * 1e6), v) for at, v in samples]


@dataclass
class EnvironmentService:
    """Derived environmental attributes, kept up to date from entity changes."""

    platform: PlatformServices
    _last_forecast: float = -math.inf

    @property
    def ctx(self) -> Any:
        """The in-process NGSI-LD client."""
        return self.platform.context

    @property
    def settings(self) -> Any:
        """Platform settings (the env_* ones)."""
        return self.platform.settings

    # --- change handlers -------------------------------------------------------------------

    def on_air(self, events: list[Event]) -> None:
        """New pollutant readings: hourly and daily AQI for the hours they completed."""
        for event in events:
            if changed_attrs(event) & set(aqi.POLLUTANTS):
                self._guard(self.update_air, event.subject)

    def on_water_quality(self, events: list[Event]) -> None:
        """New river or salinity readings: WQI, the 4‰ line."""
        fronts = False
        for event in events:
            changed = changed_attrs(event)
            if changed & set(WQI_INPUTS) - {"temperature"}:
                self._guard(self.update_wqi, event.subject)
            if "salinity" in changed:
                fronts = True
                self._guard(self.check_quality, event.subject, "WaterQualityObserved")
        if fronts:
            self._guard(self.update_salinity_front)

    def on_water_level(self, events: list[Event]) -> None:
        """New river-level or street-flood readings: alarm level, flood streets, quality."""
        for event in events:
            changed = changed_attrs(event)
            if "height" in changed:
                self._guard(self.check_quality, event.subject, "WaterObserved")
                if event.subject == self.settings.env_tide_station:
                    self._guard(self.update_alarm_level, event.subject)
                    if self._forecast_due():
                        self._guard(self.forecast_tides)
            if "currentLevel" in changed:
                self._guard(self.check_quality, event.subject, "FloodMonitoring")

    def _guard(self, work: Any, *args: Any) -> None:
        """Run one entity's computation; a failure is logged and the others go on."""
        try:
            work(*args)
        except NgsiLdError as error:
            log.warning("environment: %s on %s: %s", work.__name__, args, error)
        except Exception:
            log.exception("environment: %s failed on %s", work.__name__, args)

    # --- air quality -----------------------------------------------------------------------

    def update_air(self, entity_id: str) -> int:
        """Compute the AQI for each hour completed since the last one; how many hours."""
        latest = self.ctx.latest(entity_id)
        stamps = [at for name, (_, at) in latest.items() if name in aqi.POLLUTANTS and at]
        if not stamps:
            return 0
        last_hour = floor_hour(max(stamps))
        done = latest.get("airQualityIndex", (None, None))[1]
        first = done + HOUR_US if done else last_hour - MAX_BACKFILL_US
        first = max(first, last_hour - MAX_BACKFILL_US)
        if first > last_hour:
            return 0
        raw = self.ctx.series(entity_id, aqi.POLLUTANTS, first - 24 * HOUR_US, last_hour)
        clean = {p: self._usable(p, numeric_samples(raw[p])) for p in aqi.POLLUTANTS}
        hourly = [
            (end, result)
            for end in range(first, last_hour + 1, HOUR_US)
            if (result := self._hourly_index(clean, end)) is not None
        ]
        daily = [
            (end, result)
            for end in range(vn_day_end(first) - DAY_US, last_hour + 1, DAY_US)
            if first <= end and (result := self._daily_index(clean, end)) is not None
        ]
        self._write_air(entity_id, hourly, daily)
        return len(hourly)

    def _usable(self, attribute: str, samples: list[tuple[int, float]]) -> list[tuple[int, float]]:
        return _micros(quality.usable(_seconds(samples), attribute))

    def _hourly_index(
        self, clean: dict[str, list[tuple[int, float]]], end_us: int
    ) -> aqi.AqiResult | None:
        hourly = {p: aqi.hourly_means(samples, end_us, 12) for p, samples in clean.items()}
        if self.settings.env_aqi_standard == "us":
            now = {
                p: (aqi.nowcast(values) if p in ("pm25", "pm10") else values[0])
                for p, values in hourly.items()
            }
            return aqi.us_aqi({p: v for p, v in now.items() if v is not None})
        return aqi.vn_hourly_aqi(hourly)

    def _daily_index(
        self, clean: dict[str, list[tuple[int, float]]], end_us: int
    ) -> aqi.AqiResult | None:
        day = {p: list(reversed(aqi.hourly_means(s, end_us, 24))) for p, s in clean.items()}
        return aqi.vn_daily_aqi(day)

    def _write_air(
        self,
        entity_id: str,
        hourly: list[tuple[int, aqi.AqiResult]],
        daily: list[tuple[int, aqi.AqiResult]],
    ) -> None:
        if not hourly and not daily:
            return
        standard = "US EPA AQI 2024" if self.settings.env_aqi_standard == "us" else "VN_AQI"
        history: dict[str, list[dict[str, Any]]] = {
            "airQualityIndex": [],
            "airQualityLevel": [],
            "responsiblePollutant": [],
            "airQualityIndexDaily": [],
        }
        for end, result in hourly:
            history["airQualityIndex"].append(_prop(result.index, end, standard=standard))
            history["airQualityLevel"].append(
                _prop(result.level.name_vi, end, code=result.level.key, color=result.level.color)
            )
            history["responsiblePollutant"].append(_prop(result.dominant or "", end))
        for end, result in daily:
            history["airQualityIndexDaily"].append(
                _prop(result.index, end, code=result.level.key, color=result.level.color)
            )
        self._write_with_history(entity_id, "AirQualityObserved", history)

    def _write_with_history(
        self, entity_id: str, entity_type: str, history: dict[str, list[dict[str, Any]]]
    ) -> None:
        """The newest instance of each attribute as its value, the older ones as history."""
        older = {name: items[:-1] for name, items in history.items() if len(items) > 1}
        if older:
            self.ctx.append_history(entity_id, entity_type, older)
        current = {name: items[-1] for name, items in history.items() if items}
        if current:
            self.ctx.upsert([{"id": entity_id, "type": entity_type, **current}])

    # --- water quality ---------------------------------------------------------------------

    def update_wqi(self, entity_id: str) -> int | None:
        """VN_WQI from the station's current river parameters (None: not enough data)."""
        latest = self.ctx.latest(entity_id)
        values = {
            name: float(value)
            for name, (value, _) in latest.items()
            if name in WQI_INPUTS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and quality.check_range(name, float(value)) is None
        }
        stamps = [at for name, (_, at) in latest.items() if name in WQI_INPUTS and at]
        try:
            result = wqi.vn_wqi(values)
        except wqi.NotEnoughData as missing:
            log.debug("no VN_WQI for %s: %s", entity_id, missing)
            return None
        at = max(stamps) if stamps else None
        cls = result.wqi_class
        body = {
            "id": entity_id,
            "type": "WaterQualityObserved",
            "waterQualityIndex": _prop(result.index, at, standard="VN_WQI"),
            "waterQualityClass": _prop(cls.name_vi, at, code=cls.key, color=cls.color),
        }
        self.ctx.upsert([body])
        return result.index

    # --- salinity --------------------------------------------------------------------------

    def salinity_stations(self) -> list[dict[str, Any]]:
        """Stations that measure salinity, with their distance from the river mouth."""
        stations = self.ctx.query("WaterQualityObserved", q="salinity", limit=1000)
        return [
            s
            for s in stations
            if isinstance(s.get("salinity"), int | float)
            and isinstance(s.get("distanceFromSeaKm"), int | float)
        ]

    def update_salinity_front(self) -> salinity.LineEstimate | None:
        """Re-estimate where the 4‰ line stands along the Hậu and store it as an entity."""
        stations = self.salinity_stations()
        readings = [
            (float(s["distanceFromSeaKm"]), float(s["salinity"]))
            for s in stations
            if quality.check_range("salinity", float(s["salinity"])) is None
        ]
        if not readings:
            return None
        estimate = salinity.line_reach_km(readings, threshold_ppt=4.0)
        body: dict[str, Any] = {
            "id": SALINITY_FRONT_ID,
            "type": "SalinityFront",
            "name": _prop("Ranh mặn 4‰ sông Hậu"),
            "thresholdPpt": _prop(4.0),
            "status": _prop(estimate.status),
            "stationsUsed": _prop(len(readings)),
        }
        if estimate.reach_km is not None:
            body["reachKm"] = _prop(round(estimate.reach_km, 1), now_us())
            point = _point_at_km(stations, estimate.reach_km)
            if point is not None:
                body["location"] = {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": list(point)},
                }
        self.ctx.upsert([body])
        return estimate

    # --- tidal flooding --------------------------------------------------------------------

    def alarm_level(self, height_m: float) -> int:
        """0 below BĐ I … 3 at or above BĐ III."""
        return sum(1 for level in self.settings.env_alarm_levels_m if height_m >= level)

    def update_alarm_level(self, station_id: str) -> int | None:
        """The station's alarm level and the flood-prone streets' expected depth."""
        latest = self.ctx.latest(station_id)
        value, at = latest.get("height", (None, None))
        if not isinstance(value, int | float) or quality.check_range("height", value):
            return None
        level = self.alarm_level(float(value))
        if latest.get("alarmLevel", (None, None))[0] != level:
            body = {"id": station_id, "type": "WaterObserved", "alarmLevel": _prop(level, at)}
            self.ctx.upsert([body])
        self.update_streets(float(value), at)
        return level

    def update_streets(self, station_level_m: float, at_us: int | None) -> None:
        """Each flood-prone street's expected depth at the station's current level."""
        bodies = [
            {
                "id": street.entity_id,
                "type": "FloodRiskArea",
                "name": _prop(street.name),
                "ward": _prop(street.ward),
                "onsetLevel": {"type": "Property", "value": street.onset_m, "unitCode": "MTR"},
                "expectedDepth": _prop(street.expected_depth(station_level_m), at_us),
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "LineString", "coordinates": [list(p) for p in street.line]},
                },
            }
            for street in FLOOD_PRONE_STREETS
        ]
        self.ctx.upsert(bodies)

    def _forecast_due(self) -> bool:
        """No forecast yet, or the last one is older than the forecast interval.

        The job alone would leave a freshly started platform without a forecast for one
        interval after its history arrived (the simulator's backfill, an import).
        """
        age = time.monotonic() - self._last_forecast
        return age >= float(self.settings.env_tide_forecast_every_s)

    def forecast_tides(self, now: int | None = None) -> list[tides.HighWater]:
        """Fit the station's history, forecast its high waters, store the forecast."""
        station = self.settings.env_tide_station
        end = now if now is not None else now_us()
        start = end - int(self.settings.env_tide_fit_days * DAY_US)
        samples = numeric_samples(self.ctx.series(station, ["height"], start, end + 1)["height"])
        clean = self._usable("height", samples)
        if len(clean) < 48:
            return []
        times = [at / 1e6 for at, _ in clean]
        heights = [v for _, v in clean]
        horizon_s = self.settings.env_tide_horizon_h * 3600.0
        try:
            forecast = tides.forecast_high_waters(times, heights, horizon_s, now_s=times[-1])
        except ValueError as error:
            log.info("no tide forecast for %s: %s", station, error)
            return []
        self._write_forecast(station, forecast, clean[-1][0])
        self._last_forecast = time.monotonic()
        return forecast

    def _write_forecast(self, station: str, forecast: list[tides.HighWater], at: int) -> None:
        if not forecast:
            return
        day_ahead = [hw for hw in forecast if hw.at_s * 1e6 <= at + DAY_US]
        alarm = max((self.alarm_level(hw.height_m) for hw in day_ahead), default=0)
        top = self.settings.env_alarm_levels_m[-1]
        crossing = next((hw for hw in forecast if hw.height_m >= top), None)
        nxt = forecast[0]
        body: dict[str, Any] = {
            "id": station,
            "type": "WaterObserved",
            "nextHighWater": _prop(
                round(nxt.height_m, 2), at, expectedAt=format_us(round(nxt.at_s * 1e6))
            ),
            "forecastHighWaters": {
                "type": "Property",
                "value": [
                    {"at": format_us(round(hw.at_s * 1e6)), "height": round(hw.height_m, 2)}
                    for hw in forecast
                ],
                "observedAt": format_us(at),
            },
            "forecastAlarmLevel": _prop(alarm, at),
            "forecastCrossingAt": _prop(
                format_us(round(crossing.at_s * 1e6)) if crossing else "", at
            ),
        }
        self.ctx.upsert([body])

    # --- data quality ----------------------------------------------------------------------

    def check_quality(self, entity_id: str, entity_type: str) -> list[quality.QualityFlag]:
        """Flag the newest readings of a station; store the flags on the entity."""
        attrs = CHECKED[entity_type]
        latest = self.ctx.latest(entity_id)
        stamps = [at for name, (_, at) in latest.items() if name in attrs and at]
        if not stamps:
            return []
        end = max(stamps)
        raw = self.ctx.series(entity_id, attrs, end - QUALITY_WINDOW_US, end + 1)
        flags = [
            flag
            for name in attrs
            if (series := _seconds(numeric_samples(raw.get(name, []))))
            for flag in quality.assess(name, series)
        ]
        previous = latest.get("dataQualityFlags", (None, None))[0]
        if previous == len(flags) and not flags:
            return flags
        reasons = "; ".join(f"{f.attribute}: {f.reason}" for f in flags) or "ok"
        body = {
            "id": entity_id,
            "type": entity_type,
            "dataQualityFlags": _prop(len(flags), end),
            "dataQuality": _prop(reasons, end, codes=sorted({f.code for f in flags})),
        }
        self.ctx.upsert([body])
        return flags

    def check_air_quality(self, events: list[Event]) -> None:
        """Data-quality flags of air stations (their own handler: it reads 12 h of history)."""
        for event in events:
            if changed_attrs(event) & set(aqi.POLLUTANTS):
                self._guard(self.check_quality, event.subject, "AirQualityObserved")


def _point_at_km(stations: list[dict[str, Any]], km: float) -> tuple[float, float] | None:
    """A point on the river at `km` from the mouth, between the stations bracketing it."""
    located = sorted(
        (float(s["distanceFromSeaKm"]), tuple(s["location"]["coordinates"][:2]))
        for s in stations
        if isinstance(s.get("location"), dict) and s["location"].get("type") == "Point"
    )
    if not located:
        return None
    if km <= located[0][0]:
        return located[0][1]
    for (k0, p0), (k1, p1) in itertools.pairwise(located):
        if k0 <= km <= k1 and k1 > k0:
            share = (km - k0) / (k1 - k0)
            return (p0[0] + share * (p1[0] - p0[0]), p0[1] + share * (p1[1] - p0[1]))
    return located[-1][1]


@dataclass
class EnvironmentRuntime:
    """What the domain's routes use: the computations and the gate controller."""

    service: EnvironmentService
    gates: GateController

    def salinity_report(self) -> dict[str, Any]:
        """Stations with their advisories by use, and the 4‰ line."""
        limit = self.service.settings.env_intake_salinity_limit_ppt
        stations = [
            {
                "id": s["id"],
                "name": s.get("name"),
                "distanceFromSeaKm": s["distanceFromSeaKm"],
                "salinity": s["salinity"],
                "advisories": [
                    asdict(advice)
                    for advice in salinity.advisories(float(s["salinity"]), intake_limit_ppt=limit)
                ],
            }
            for s in sorted(self.service.salinity_stations(), key=lambda s: s["distanceFromSeaKm"])
        ]
        try:
            front: dict[str, Any] | None = self.service.ctx.get(SALINITY_FRONT_ID)
        except NgsiLdError:
            front = None
        return {"intakeLimitPpt": limit, "stations": stations, "front": front}

    def tide_report(self) -> dict[str, Any]:
        """The station now, its alarm levels, the forecast and the flood-prone streets."""
        settings = self.service.settings
        try:
            station: dict[str, Any] | None = self.service.ctx.get(settings.env_tide_station)
        except NgsiLdError:
            station = None
        forecast = (station or {}).get("forecastHighWaters") or []
        peak = max((hw["height"] for hw in forecast[:2]), default=None)
        streets = [
            {
                "id": street.entity_id,
                "name": street.name,
                "ward": street.ward,
                "onsetLevel": street.onset_m,
                "expectedDepth": street.expected_depth(float(station["height"]))
                if station and isinstance(station.get("height"), int | float)
                else None,
                "forecastDepth": street.expected_depth(peak) if peak is not None else None,
            }
            for street in FLOOD_PRONE_STREETS
        ]
        levels = dict(zip(("BĐ I", "BĐ II", "BĐ III"), settings.env_alarm_levels_m, strict=False))
        return {
            "station": station,
            "alarmLevels": levels,
            "forecast": forecast,
            "warning": public_warning(forecast, settings.env_alarm_levels_m),
            "streets": streets,
        }


def public_warning(forecast: list[dict[str, Any]], levels: list[float]) -> dict[str, Any] | None:
    """A warning for the public when a forecast high water reaches an alarm level (or None)."""
    reached = [
        (hw, sum(1 for level in levels if hw["height"] >= level))
        for hw in forecast
        if hw["height"] >= levels[0]
    ]
    if not reached:
        return None
    high, level = max(reached, key=lambda pair: (pair[1], pair[0]["height"]))
    at = datetime.fromisoformat(str(high["at"]).replace("Z", "+00:00")).astimezone(VN_TZ)
    when_vi = at.strftime("%H:%M ngày %d/%m")
    when_en = at.strftime("%H:%M on %d %b")
    height_vi = f"{high['height']:.2f}".replace(".", ",")
    roman = "I" * level if level < 4 else str(level)
    return {
        "level": level,
        "at": high["at"],
        "height": high["height"],
        "message_vi": (
            f"Dự báo triều cường tại trạm Cần Thơ đạt {height_vi} m lúc {when_vi}, "
            f"vượt báo động {roman}. Hạn chế đi qua các tuyến đường hay ngập."
        ),
        "message_en": (
            f"High tide at Cần Thơ station forecast at {high['height']:.2f} m around {when_en}, "
            f"above alarm level {roman}. Avoid streets that flood."
        ),
    }


def setup(platform: PlatformServices) -> DomainRuntime:
    """The environment domain's runtime: change handlers, the tide forecast job, routes' service."""
    service = EnvironmentService(platform)
    gates = GateController(platform, policy_from(platform.settings))
    platform.events.subscribe("device.command", gates.on_command)
    every = timedelta(seconds=platform.settings.env_tide_forecast_every_s)
    return DomainRuntime(
        service=EnvironmentRuntime(service, gates),
        on_changes=(
            (("AirQualityObserved",), service.on_air),
            (("AirQualityObserved",), service.check_air_quality),
            (("WaterQualityObserved",), service.on_water_quality),
            (("WaterObserved", "FloodMonitoring"), service.on_water_level),
            (("SluiceGate",), gates.on_gate),
        ),
        jobs=(Job("environment-tide-forecast", every, service.forecast_tides),),
    )
