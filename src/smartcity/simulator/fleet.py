"""The simulated device fleet of Cần Thơ: device groups, devices, and what each one reports.

A `Fleet` is pure data plus reading functions: which device groups exist (one per kind, each
with its apikey, entity type, attributes and commands, as provisioned on `/iot/services`),
which devices (id, entity, place, ward) and what a device measures at a simulated time under a
scenario. Nothing here does I/O; the runner sends the readings through the ingestion API.
The demo fleet has a few hundred devices on real Cần Thơ places; `scale` multiplies the
numerous kinds (lights, bins, air, parcels) for load tests up to 100,000 devices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from smartcity.simulator.assets import (
    LandUse,
    PVModel,
    StreetlightModel,
    WasteBinModel,
    WindTurbineModel,
)
from smartcity.simulator.crops import RiceCropModel, RiceSeason
from smartcity.simulator.environment import AirQualityModel, RiverQualityModel
from smartcity.simulator.geography import Ward, landmarks, nearest_ward, wards
from smartcity.simulator.publicorder import PlaceKind, PublicPlaceModel
from smartcity.simulator.roads import RoadSegment, cantho_core_network
from smartcity.simulator.salinity import SalinityModel
from smartcity.simulator.tide import StreetFloodModel, WaterLevelModel
from smartcity.simulator.timebase import Scenario, stream_key, uniform
from smartcity.simulator.traffic import TrafficModel
from smartcity.simulator.weather import WeatherModel

#: Device state a command can change (a lamp's dimming override, a gate's position).
DeviceState = dict[str, Any]
#: What a device measures at (epoch seconds, scenario, its state): payload key → value.
Reading = Callable[[float, Scenario, DeviceState], dict[str, Any]]

MINUTE = 60
HOUR = 3600


@dataclass(frozen=True)
class Attr:
    """One reported attribute: the NGSI-LD name, its IoT Agent type and UN/CEFACT unit."""

    name: str
    type: str = "Number"
    unit: str | None = None

    def provisioning(self) -> dict[str, Any]:
        """The attribute as `/iot/services` expects it."""
        out: dict[str, Any] = {"object_id": self.name, "name": self.name, "type": self.type}
        if self.unit:
            out["unitCode"] = self.unit
        return out


@dataclass(frozen=True)
class Group:
    """A kind of device: one IoT Agent service group with its apikey."""

    kind: str
    entity_type: str
    attributes: tuple[Attr, ...]
    #: Seconds of simulated time between two reports.
    interval_s: int
    #: Step of the history sent when backfilling (coarser than live for the slow kinds).
    backfill_step_s: int
    commands: tuple[str, ...] = ()

    @property
    def apikey(self) -> str:
        """The group's apikey (also an MQTT topic level)."""
        return "sim-" + self.kind

    def provisioning(self) -> dict[str, Any]:
        """The group as a `/iot/services` entry."""
        return {
            "apikey": self.apikey,
            "resource": "/iot/json",
            "entity_type": self.entity_type,
            "attributes": [a.provisioning() for a in self.attributes],
            "commands": [{"name": c, "type": "command"} for c in self.commands],
            "explicitAttrs": True,
            "expected_interval_s": self.interval_s,
        }


@dataclass
class Device:
    """One simulated device: where it is, the entity it feeds and how it reads."""

    device_id: str
    group: Group
    entity_id: str
    name: str
    lon: float
    lat: float
    ward: Ward
    reading: Reading
    state: DeviceState = field(default_factory=dict)
    static: dict[str, Any] = field(default_factory=dict)

    def measure(self, t: float, scenario: Scenario) -> dict[str, Any]:
        """The payload the device sends for epoch seconds t (without TimeInstant)."""
        return self.reading(t, scenario, self.state)

    def provisioning(self) -> dict[str, Any]:
        """The device as a `/iot/devices` entry."""
        statics = [{"name": "name", "type": "Text", "value": self.name}]
        statics.append({"name": "areaServed", "type": "Text", "value": self.ward.name})
        statics += [
            {"name": k, "type": _static_type(v), "value": v} for k, v in self.static.items()
        ]
        return {
            "device_id": self.device_id,
            "apikey": self.group.apikey,
            "entity_name": self.entity_id,
            "entity_type": self.group.entity_type,
            "protocol": "IoTA-JSON",
            "transport": "HTTP",
            "static_attributes": statics,
            "location": {"type": "Point", "coordinates": [round(self.lon, 6), round(self.lat, 6)]},
        }


def _static_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    return "Number" if isinstance(value, int | float) else "Text"


# --- the groups ---------------------------------------------------------------------------

M, MM_H, PCT, W, KW = "MTR", "H67", "P1", "WTT", "KWT"
UG_M3, MG_L, PPT, CEL = "GQ", "M1", "NX", "CEL"

RIVER_LEVEL = Group("river-level", "WaterObserved", (Attr("height", unit=M),), 5 * MINUTE, 900)
STREET_FLOOD = Group(
    "street-flood", "FloodMonitoring", (Attr("currentLevel", unit=M),), MINUTE, 900
)
SALINITY = Group(
    "salinity",
    "WaterQualityObserved",
    (Attr("salinity", unit=PPT), Attr("temperature", unit=CEL)),
    15 * MINUTE,
    HOUR,
)
RIVER_QUALITY = Group(
    "river-quality",
    "WaterQualityObserved",
    (
        Attr("pH"),
        Attr("O2", unit=MG_L),
        Attr("temperature", unit=CEL),
        Attr("BOD", unit=MG_L),
        Attr("COD", unit=MG_L),
        Attr("NH4", unit=MG_L),
        Attr("PO4", unit=MG_L),
        Attr("coliform"),
    ),
    HOUR,
    HOUR,
)
AIR = Group(
    "air",
    "AirQualityObserved",
    tuple(Attr(p, unit=UG_M3) for p in ("pm25", "pm10", "no2", "o3", "co", "so2")),
    15 * MINUTE,
    HOUR,
)
WEATHER = Group(
    "weather",
    "WeatherObserved",
    (
        Attr("temperature", unit=CEL),
        Attr("relativeHumidity"),
        Attr("precipitation", unit=MM_H),
        Attr("windSpeed", unit="MTS"),
        Attr("windDirection", unit="DD"),
        Attr("solarRadiation", unit="D54"),
    ),
    10 * MINUTE,
    HOUR,
)
TRAFFIC = Group(
    "traffic",
    "TrafficFlowObserved",
    (
        Attr("intensity"),
        Attr("averageVehicleSpeed", unit="KMH"),
        Attr("occupancy"),
        Attr("congested", "Boolean"),
    ),
    5 * MINUTE,
    HOUR,
)
STREETLIGHT = Group(
    "streetlight",
    "Streetlight",
    (
        Attr("powerState", "Text"),
        Attr("dimmingLevel", unit=PCT),
        Attr("powerConsumption", unit=W),
        Attr("status", "Text"),
    ),
    15 * MINUTE,
    HOUR,
    commands=("dim", "switch"),
)
CABINET = Group(
    "light-cabinet",
    "StreetlightControlCabinet",
    (Attr("activePower", unit=KW), Attr("lampsOn"), Attr("lampsFaulty")),
    15 * MINUTE,
    HOUR,
)
WASTE = Group(
    "waste-bin",
    "WasteContainer",
    (Attr("fillingLevel"), Attr("status", "Text")),
    30 * MINUTE,
    HOUR,
)
SOLAR = Group(
    "solar-pv",
    "PhotovoltaicMeasurement",
    (Attr("activePower", unit=KW), Attr("solarRadiation", unit="D54")),
    15 * MINUTE,
    HOUR,
)
WIND = Group(
    "wind",
    "WindTurbine",
    (Attr("activePower", unit=KW), Attr("windSpeed", unit="MTS")),
    10 * MINUTE,
    HOUR,
)
PARCEL = Group(
    "agri-parcel",
    "AgriParcel",
    (Attr("cropSeason", "Text"), Attr("cropStage", "Text"), Attr("daysAfterSowing")),
    24 * HOUR,
    24 * HOUR,
)
SLUICE = Group(
    "sluice-gate",
    "SluiceGate",
    (Attr("gateState", "Text"), Attr("upstreamSalinity", unit=PPT)),
    5 * MINUTE,
    HOUR,
    commands=("open", "close"),
)

PUBLIC_ORDER = Group(
    "public-order",
    "CrowdFlowObserved",
    (Attr("peopleCount"), Attr("congested", "Boolean"), Attr("publicOrderEvent", "Text")),
    5 * MINUTE,
    HOUR,
)

GROUPS: tuple[Group, ...] = (
    RIVER_LEVEL,
    STREET_FLOOD,
    SALINITY,
    RIVER_QUALITY,
    AIR,
    WEATHER,
    TRAFFIC,
    STREETLIGHT,
    CABINET,
    WASTE,
    SOLAR,
    WIND,
    PARCEL,
    SLUICE,
    PUBLIC_ORDER,
)


# --- places -------------------------------------------------------------------------------

# Hydrological stations on the Hậu river and its branches: (key, name, lon, lat, amplitude
# scale, lag h). Cần Thơ station is the reference; Châu Đốc side upstream (Thốt Nốt) has a
# smaller, later tide, Đại Ngãi downstream a larger, earlier one.
RIVER_STATIONS = (
    ("can-tho", "Trạm thủy văn Cần Thơ (sông Hậu)", 105.7905, 10.0395, 1.0, 0.0),
    ("o-mon", "Trạm Ô Môn", 105.6240, 10.1190, 0.85, 0.6),
    ("thot-not", "Trạm Thốt Nốt", 105.5360, 10.2690, 0.72, 1.2),
    ("dai-ngai", "Trạm Đại Ngãi (sông Hậu)", 106.0720, 9.7330, 1.15, -1.0),
)
# Low streets of Ninh Kiều that flood at high tide (city drainage reports, local press).
FLOOD_STREETS = (
    ("hai-ba-trung", "Hai Bà Trưng", 105.7876, 10.0337, 1.72),
    ("tran-van-kheo", "Trần Văn Khéo", 105.7843, 10.0441, 1.74),
    ("tam-vu", "Tầm Vu", 105.7660, 10.0190, 1.76),
    ("nguyen-van-cu", "Nguyễn Văn Cừ (nối dài)", 105.7450, 10.0290, 1.80),
    ("mau-than", "Mậu Thân", 105.7700, 10.0310, 1.78),
    ("3-thang-2", "Đường 3 Tháng 2", 105.7640, 10.0270, 1.82),
    ("cmt8", "Cách Mạng Tháng Tám", 105.7750, 10.0480, 1.79),
    ("tran-hung-dao", "Trần Hưng Đạo", 105.7770, 10.0300, 1.81),
)
# Salinity stations: (key, name, lon, lat, km from the Hậu river mouth).
SALINITY_STATIONS = (
    ("tran-de", "Cửa Trần Đề", 106.2050, 9.5130, 5.0),
    ("dai-ngai", "Đại Ngãi", 106.0720, 9.7330, 38.0),
    ("long-phu", "Long Phú", 106.1160, 9.6100, 25.0),
    ("nga-nam", "Ngã Năm (kênh Quản Lộ)", 105.5950, 9.5650, 60.0),
    ("cai-rang-intake", "Cửa lấy nước Cái Răng", 105.7800, 9.9990, 78.0),
    ("can-tho-intake", "Nhà máy nước Cần Thơ 1", 105.7905, 10.0410, 80.0),
)
# River quality stations: (key, name, lon, lat, pollution multiplier).
QUALITY_STATIONS = (
    ("hau-can-tho", "Sông Hậu – bến Ninh Kiều", 105.7900, 10.0360, 1.0),
    ("cai-khe", "Rạch Cái Khế", 105.7820, 10.0450, 3.0),
    ("xang-thoi", "Rạch Xáng Thổi", 105.7720, 10.0280, 3.5),
    ("cai-rang", "Sông Cần Thơ – Cái Răng", 105.7560, 9.9960, 1.8),
    ("binh-thuy", "Rạch Bình Thủy", 105.7410, 10.0700, 1.5),
    ("o-mon", "Sông Ô Môn", 105.6240, 10.1170, 1.2),
)
WEATHER_STATIONS = (
    ("can-tho", "Đài khí tượng Cần Thơ", 105.7680, 10.0330),
    ("airport", "Sân bay Cần Thơ", 105.7100, 10.0839),
    ("soc-trang", "Trạm Sóc Trăng", 105.9720, 9.6030),
    ("vi-thanh", "Trạm Vị Thanh", 105.4700, 9.7840),
)
# Wind sites on the former Sóc Trăng coast (Vĩnh Châu, Trần Đề) after the 2025 merger.
WIND_SITES = (
    ("vinh-chau-1", "Điện gió Vĩnh Châu – tuabin 1", 106.0100, 9.3300),
    ("tran-de-1", "Điện gió Trần Đề – tuabin 1", 106.1900, 9.5100),
)
# Cameras with people counting at busy public places (approximate positions from public maps).
PUBLIC_PLACES = (
    ("ben-ninh-kieu", "Camera Bến Ninh Kiều", 105.7882, 10.0338, PlaceKind.RIVERSIDE, 3000),
    ("pho-di-bo", "Camera phố đi bộ Hai Bà Trưng", 105.7872, 10.0330, PlaceKind.RIVERSIDE, 2000),
    ("cho-noi-cai-rang", "Camera chợ nổi Cái Răng", 105.7470, 10.0022, PlaceKind.MARKET, 1500),
    ("cho-tan-an", "Camera chợ Tân An", 105.7850, 10.0350, PlaceKind.MARKET, 800),
    ("ben-xe-trung-tam", "Camera bến xe trung tâm", 105.7580, 10.0060, PlaceKind.TRANSPORT, 1200),
    ("san-bay", "Camera sảnh Cảng hàng không Cần Thơ", 105.7100, 10.0839, PlaceKind.TRANSPORT, 900),
)
SLUICE_GATES = (
    ("cai-khe", "Cống Cái Khế", 105.7850, 10.0440, "can-tho-intake"),
    ("ba-lang", "Cống Ba Láng", 105.7480, 9.9850, "cai-rang-intake"),
    ("long-phu", "Cống Long Phú", 106.1160, 9.6120, "long-phu"),
)


def _jitter(seed: int, key: str, radius_deg: float) -> tuple[float, float]:
    """A fixed offset for a device around its ward centre (deterministic under the seed)."""
    skey = stream_key(seed, "place:" + key)
    angle = 2.0 * math.pi * uniform(skey, 0)
    r = radius_deg * math.sqrt(uniform(skey, 1))
    return r * math.cos(angle), r * math.sin(angle)


def _spread(ward: Ward, seed: int, key: str) -> tuple[float, float]:
    """A place inside a ward (inside the circle of its area) for device `key`."""
    radius_km = 0.6 * math.sqrt(ward.area_km2 / math.pi)
    dlon, dlat = _jitter(seed, key, radius_km / 111.0)
    return ward.lon + dlon / math.cos(math.radians(ward.lat)), ward.lat + dlat


@cache
def _urban_wards() -> tuple[Ward, ...]:
    """The phường of the city (where lights, bins and air stations concentrate)."""
    return tuple(w for w in wards() if w.kind == "phuong")


@cache
def _rural_wards() -> tuple[Ward, ...]:
    return tuple(w for w in wards() if w.kind == "xa")


def _r(value: float, digits: int = 2) -> float:
    return round(value, digits)


# --- readings -----------------------------------------------------------------------------


def _river_level(model: WaterLevelModel) -> Reading:
    return lambda t, sc, _s: {"height": _r(model.value_at(t, sc), 3)}


def _street_flood(model: StreetFloodModel) -> Reading:
    return lambda t, sc, _s: {"currentLevel": _r(model.value_at(t, sc), 3)}


def _salinity(model: SalinityModel, weather: WeatherModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        return {
            "salinity": _r(model.value_at(t, sc)),
            "temperature": _r(weather.sample_at(t).temperature_c),
        }

    return read


def _river_quality(model: RiverQualityModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        w = model.value_at(t, sc)
        return {
            "pH": _r(w.ph),
            "O2": _r(w.dissolved_oxygen_mg_l),
            "temperature": _r(w.temperature_c, 1),
            "BOD": _r(w.bod5_mg_l),
            "COD": _r(w.cod_mg_l),
            "NH4": _r(w.ammonium_mg_l, 3),
            "PO4": _r(w.phosphate_mg_l, 3),
            "coliform": round(w.coliform_mpn_100ml),
        }

    return read


def _air(model: AirQualityModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        a = model.value_at(t, sc)
        return {
            "pm25": _r(a.pm25, 1),
            "pm10": _r(a.pm10, 1),
            "no2": _r(a.no2, 1),
            "o3": _r(a.o3, 1),
            "co": _r(a.co, 0),
            "so2": _r(a.so2, 1),
        }

    return read


def _weather(model: WeatherModel) -> Reading:
    def read(t: float, _sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        w = model.sample_at(t)
        return {
            "temperature": _r(w.temperature_c, 1),
            "relativeHumidity": _r(w.relative_humidity_pct / 100.0),
            "precipitation": _r(w.rainfall_mm_h, 1),
            "windSpeed": _r(w.wind_speed_m_s, 1),
            "windDirection": round(w.wind_direction_deg),
            "solarRadiation": round(w.irradiance_w_m2),
        }

    return read


def _traffic(model: TrafficModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        s = model.value_at(t, sc)
        speed_limit = model.speed_limit_km_h or 60.0
        return {
            "intensity": round(s.flow_veh_h),
            "averageVehicleSpeed": _r(s.speed_km_h, 1),
            # FIWARE occupancy is a fraction; the model speaks percent.
            "occupancy": _r(s.occupancy_pct / 100.0, 3),
            "congested": s.speed_km_h < 0.4 * speed_limit,
        }

    return read


def _streetlight(model: StreetlightModel) -> Reading:
    def read(t: float, sc: Scenario, state: DeviceState) -> dict[str, Any]:
        s = model.value_at(t, sc)
        on, level, power = s.power_state, s.dimming_pct, s.power_w
        # An operator's command holds until switched back to "auto".
        if not s.faulty and state.get("switch") == "off":
            on, level, power = False, 0.0, 0.5
        elif not s.faulty and (state.get("switch") == "on" or "dim" in state):
            level = float(state.get("dim", level if on else 100.0))
            on = level > 0
            power = model.rated_power_w * level / 100.0 * 1.05 if on else 0.5
        return {
            "powerState": "on" if on else "off",
            "dimmingLevel": round(level),
            "powerConsumption": _r(power, 1),
            "status": "defectiveLamp" if s.faulty else "ok",
        }

    return read


def _cabinet(lamps: list[Device]) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        samples = [lamp.measure(t, sc) for lamp in lamps]
        return {
            "activePower": _r(sum(s["powerConsumption"] for s in samples) / 1000.0, 3),
            "lampsOn": sum(1 for s in samples if s["powerState"] == "on"),
            "lampsFaulty": sum(1 for s in samples if s["status"] != "ok"),
        }

    return read


def _waste(model: WasteBinModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        fill = model.value_at(t, sc)
        return {"fillingLevel": _r(fill / 100.0), "status": "full" if fill >= 90 else "ok"}

    return read


def _solar(model: PVModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        irradiance = model.weather.irradiance_at(t)
        return {"activePower": _r(model.value_at(t, sc), 2), "solarRadiation": round(irradiance)}

    return read


def _wind(model: WindTurbineModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        wind = model.weather.sample_at(t).wind_speed_m_s
        return {"activePower": _r(model.value_at(t, sc), 1), "windSpeed": _r(wind, 1)}

    return read


def _parcel(model: RiceCropModel) -> Reading:
    def read(t: float, _sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        c = model.value_at(t)
        return {
            "cropSeason": c.season.value if c.season else "none",
            "cropStage": c.stage.value,
            "daysAfterSowing": c.days_after_sowing if c.days_after_sowing is not None else 0,
        }

    return read


def _sluice(salinity: SalinityModel) -> Reading:
    def read(t: float, sc: Scenario, state: DeviceState) -> dict[str, Any]:
        outside = salinity.value_at(t, sc)
        closed = state.get("gate", "open") == "closed"
        return {"gateState": "closed" if closed else "open", "upstreamSalinity": _r(outside)}

    return read


def _public_place(model: PublicPlaceModel) -> Reading:
    def read(t: float, sc: Scenario, _s: DeviceState) -> dict[str, Any]:
        c = model.value_at(t, sc)
        return {
            "peopleCount": c.people,
            "congested": c.crowded,
            "publicOrderEvent": c.event or "none",
        }

    return read


# --- the fleet ----------------------------------------------------------------------------


@dataclass
class Fleet:
    """Every simulated device, by group."""

    seed: int
    devices: list[Device]

    @property
    def groups(self) -> list[Group]:
        """The groups that have at least one device, in a stable order."""
        present = {d.group.kind for d in self.devices}
        return [g for g in GROUPS if g.kind in present]

    def by_id(self) -> dict[str, Device]:
        """Devices by device id."""
        return {d.device_id: d for d in self.devices}

    def only(self, *kinds: str) -> Fleet:
        """The same fleet limited to some kinds of device (tests, focused demos)."""
        return Fleet(self.seed, [d for d in self.devices if d.group.kind in kinds])

    def count_by_kind(self) -> dict[str, int]:
        """How many devices of each kind."""
        counts: dict[str, int] = {}
        for d in self.devices:
            counts[d.group.kind] = counts.get(d.group.kind, 0) + 1
        return counts


def _device(
    group: Group, key: str, name: str, lon: float, lat: float, reading: Reading, **static: Any
) -> Device:
    device_id = f"{group.kind}-{key}"
    return Device(
        device_id=device_id,
        group=group,
        entity_id=f"urn:ngsi-ld:{group.entity_type}:{key}",
        name=name,
        lon=lon,
        lat=lat,
        ward=nearest_ward(lat, lon),
        reading=reading,
        static=dict(static),
    )


def build_fleet(seed: int = 0, scale: float = 1.0) -> Fleet:
    """The Cần Thơ fleet: a few hundred devices at scale 1, ~100,000 at scale ~250."""
    weather = WeatherModel(seed=seed)
    tide = WaterLevelModel(seed=seed)
    devices: list[Device] = []
    devices += _hydrology(seed, weather, tide)
    devices += [
        _device(WEATHER, k, n, lon, lat, _weather(WeatherModel(seed=seed, key=k)))
        for k, n, lon, lat in WEATHER_STATIONS
    ]
    segments = cantho_core_network().segments
    devices += _traffic_devices(seed, weather, segments)
    devices += _air_devices(seed, weather, segments, max(1, round(scale)))
    devices += _lighting(seed, max(1, round(160 * scale)))
    devices += _waste_bins(seed, max(1, round(100 * scale)))
    devices += _energy(seed, weather, max(1, round(20 * scale)))
    devices += _parcels(seed, max(1, round(90 * scale)))
    devices += [
        _device(PUBLIC_ORDER, k, n, lon, lat, _public_place(PublicPlaceModel(k, kind, peak, seed)))
        for k, n, lon, lat, kind, peak in PUBLIC_PLACES
    ]
    return Fleet(seed, devices)


def _hydrology(seed: int, weather: WeatherModel, tide: WaterLevelModel) -> list[Device]:
    out = []
    for key, name, lon, lat, amp, lag in RIVER_STATIONS:
        model = WaterLevelModel(seed=seed, key=key, amplitude_scale=amp, lag_h=lag)
        out.append(_device(RIVER_LEVEL, key, name, lon, lat, _river_level(model), river="Hậu"))
    for key, street, lon, lat, crown in FLOOD_STREETS:
        flood = StreetFloodModel(threshold_m=crown, tide=tide, weather=weather)
        name = f"Cảm biến ngập {street}"
        out.append(_device(STREET_FLOOD, key, name, lon, lat, _street_flood(flood), street=street))
    salinity: dict[str, SalinityModel] = {}
    for key, name, lon, lat, km in SALINITY_STATIONS:
        salinity[key] = SalinityModel(distance_km=km, seed=seed, key=key, tide=tide)
        read = _salinity(salinity[key], weather)
        out.append(_device(SALINITY, key, name, lon, lat, read, distanceFromSeaKm=km))
    for key, name, lon, lat, pollution in QUALITY_STATIONS:
        quality = RiverQualityModel(key=key, seed=seed, pollution=pollution, weather=weather)
        out.append(_device(RIVER_QUALITY, key, name, lon, lat, _river_quality(quality)))
    for key, name, lon, lat, station in SLUICE_GATES:
        out.append(_device(SLUICE, key, name, lon, lat, _sluice(salinity[station])))
    return out


def _traffic_devices(seed: int, weather: WeatherModel, segments: list[RoadSegment]) -> list[Device]:
    out = []
    for seg in segments:
        model = TrafficModel(
            key=seg.id,
            road_class=seg.road_class,
            lanes=seg.lanes,
            seed=seed,
            speed_limit_km_h=float(seg.speed_limit_kmh),
            weather=weather,
        )
        lon, lat = _midpoint(seg.geometry)
        name = f"Lưu lượng {seg.name}"
        refseg = f"urn:ngsi-ld:RoadSegment:{seg.id}"
        out.append(_device(TRAFFIC, seg.id, name, lon, lat, _traffic(model), refRoadSegment=refseg))
    return out


def _midpoint(geometry: list[tuple[float, float]]) -> tuple[float, float]:
    """The middle vertex (or the middle of the only edge) of a line."""
    if len(geometry) == 2:
        (x1, y1), (x2, y2) = geometry
        return (x1 + x2) / 2, (y1 + y2) / 2
    return geometry[len(geometry) // 2]


def _air_devices(
    seed: int, weather: WeatherModel, segments: list[RoadSegment], per_ward: int
) -> list[Device]:
    """A roadside station per urban ward (more per ward at scale), plus the landmarks."""
    out = []
    roads = {seg.id: seg for seg in segments}
    road_ids = sorted(roads)
    industrial = {lm.key for lm in landmarks() if "iz" in lm.key or "vsip" in lm.key}
    places = [(lm.key, lm.name_vi, lm.lon, lm.lat, lm.key in industrial) for lm in landmarks()]
    for ward in _urban_wards():
        for n in range(per_ward):
            key = f"{ward.code}-{n}"
            lon, lat = _spread(ward, seed, "air:" + key)
            places.append((key, f"Quan trắc không khí {ward.name}", lon, lat, False))
    for i, (key, name, lon, lat, is_industrial) in enumerate(places):
        seg = roads[road_ids[i % len(road_ids)]]
        road = TrafficModel(
            key=seg.id, road_class=seg.road_class, lanes=seg.lanes, seed=seed, weather=weather
        )
        exposure = 0.3 + 0.7 * uniform(stream_key(seed, "air:" + key), 0)
        model = AirQualityModel(
            key=key,
            seed=seed,
            traffic_exposure=exposure,
            industrial_so2=12.0 if is_industrial else 0.0,
            weather=weather,
            traffic=road,
        )
        out.append(_device(AIR, key, name, lon, lat, _air(model)))
    return out


def _lighting(seed: int, count: int) -> list[Device]:
    """Lamps spread over the urban wards, 25 to a control cabinet."""
    urban = _urban_wards()
    lamps: list[Device] = []
    for n in range(count):
        ward = urban[n % len(urban)]
        key = f"{n:06d}"
        lon, lat = _spread(ward, seed, "light:" + key)
        model = StreetlightModel(key=key, seed=seed, latitude=lat, longitude=lon)
        name = f"Đèn đường {ward.name} #{n // len(urban) + 1}"
        lamps.append(_device(STREETLIGHT, key, name, lon, lat, _streetlight(model)))
    cabinets: list[Device] = []
    for c in range(0, len(lamps), 25):
        served = lamps[c : c + 25]
        first = served[0]
        key = f"{c // 25:05d}"
        name = f"Tủ điện chiếu sáng {first.ward.name} #{c // 25 + 1}"
        cabinets.append(_device(CABINET, key, name, first.lon, first.lat, _cabinet(served)))
    return lamps + cabinets


def _waste_bins(seed: int, count: int) -> list[Device]:
    urban = _urban_wards()
    uses = (LandUse.RESIDENTIAL, LandUse.RESIDENTIAL, LandUse.COMMERCIAL, LandUse.MARKET)
    out = []
    for n in range(count):
        ward = urban[n % len(urban)]
        key = f"{n:06d}"
        use = uses[n % len(uses)]
        lon, lat = _spread(ward, seed, "bin:" + key)
        model = WasteBinModel(key=key, land_use=use, seed=seed)
        name = f"Thùng rác {ward.name} #{n // len(urban) + 1}"
        out.append(_device(WASTE, key, name, lon, lat, _waste(model), landUse=use.value))
    return out


def _energy(seed: int, weather: WeatherModel, rooftops: int) -> list[Device]:
    urban = _urban_wards()
    out = []
    for n in range(rooftops):
        ward = urban[(7 * n) % len(urban)]
        key = f"{n:05d}"
        capacity = (5.0, 10.0, 30.0, 100.0)[n % 4]
        lon, lat = _spread(ward, seed, "pv:" + key)
        model = PVModel(key=key, capacity_kw=capacity, weather=weather)
        name = f"Điện mặt trời mái nhà {ward.name} ({capacity:g} kWp)"
        out.append(_device(SOLAR, key, name, lon, lat, _solar(model), capacityKw=capacity))
    for key, name, lon, lat in WIND_SITES:
        turbine = WindTurbineModel(key=key, seed=seed)
        out.append(_device(WIND, key, name, lon, lat, _wind(turbine), ratedPowerKw=4200))
    return out


def _parcels(seed: int, count: int) -> list[Device]:
    rural = _rural_wards()
    out = []
    for n in range(count):
        ward = rural[n % len(rural)]
        key = f"{n:06d}"
        lon, lat = _spread(ward, seed, "parcel:" + key)
        two_crops = n % 3 == 0  # a third of parcels skip Thu Đông (flood-season fallow)
        seasons = (
            (RiceSeason.DONG_XUAN, RiceSeason.HE_THU)
            if two_crops
            else (RiceSeason.DONG_XUAN, RiceSeason.HE_THU, RiceSeason.THU_DONG)
        )
        model = RiceCropModel(key=key, seed=seed, seasons=seasons)
        name = f"Ruộng lúa {ward.name} #{n // len(rural) + 1}"
        out.append(_device(PARCEL, key, name, lon, lat, _parcel(model), crop="rice"))
    return out
