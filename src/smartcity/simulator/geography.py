"""The merged Cần Thơ (since 1 July 2025): its 103 wards and communes, landmarks, NGSI-LD entities.

Ward facts (code, name, type, centre, area) come at run time from the `vietnamadminunits`
package (MIT, © 2025 Tran Ngoc Minh Hieu), table ``admin_units`` of its bundled SQLite
dataset: the same rows as its ``data/processed/2025_34-province-3221-ward_with_location.csv``.
Codes are the General Statistics Office's. Pure module: reading that dataset is its only I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal

from smartcity.core.context.errors import BadRequestData
from smartcity.core.context.geo import haversine_m, validate_geojson
from smartcity.core.context.jsonld import CORE_CONTEXT_URL

WardKind = Literal["phuong", "xa"]

PROVINCE_CODE: Final = "92"
ENTITY_TYPE: Final = "AdministrativeArea"
CITY_ID: Final = f"urn:ngsi-ld:{ENTITY_TYPE}:VN-{PROVINCE_CODE}"
# vietnamadminunits has no province area. 6,360.83 km² is `areaKm2` of code 92 in
# thanglequoc/vietnamese-provinces-database (92_can_tho.geojson, MIT), taken from the national
# administrative reference map (sapnhap.bando.com.vn); the 103 ward areas sum to 6,316 km².
CITY_AREA_KM2: Final = 6360.83
# UN/CEFACT common code for the square kilometre.
KM2_UNIT: Final = "KMK"

_KINDS: Final[dict[str, WardKind]] = {"Phường": "phuong", "Xã": "xa"}
_BOUNDARY_TYPES: Final = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Ward:
    """One post-2025 ward (phường) or commune (xã) of Cần Thơ."""

    code: str
    name: str
    short_name: str
    kind: WardKind
    lat: float
    lon: float
    area_km2: float


@dataclass(frozen=True)
class Landmark:
    """A named place the simulator puts devices and scenarios at."""

    key: str
    name_vi: str
    name_en: str
    lat: float
    lon: float
    ward_code: str | None


@dataclass(frozen=True)
class _City:
    name: str
    short_name: str
    lat: float
    lon: float


@cache
def _dataset_rows() -> tuple[Mapping[str, Any], ...]:
    # Imported here, not at module level: importing the package loads its address-parser
    # tables (about half a second), which only a caller that needs the wards should pay for.
    from vietnamadminunits.database import query

    rows: list[dict[str, Any]] = query(
        "SELECT province, provinceShort, provinceLat, provinceLon, ward, wardShort,"
        " wardCode, wardLat, wardLon, wardAreaKm2 FROM admin_units"
        f" WHERE provinceCode = '{PROVINCE_CODE}' ORDER BY wardCode"
    )
    if not rows:
        raise RuntimeError(f"vietnamadminunits has no wards for province {PROVINCE_CODE}")
    return tuple(rows)


def _kind(name: str, code: str) -> WardKind:
    # From the official name's prefix, not the dataset's wardType column: in vietnamadminunits
    # 1.0.4 that column is swapped for 31213 "Phường Tân Lộc" and 31299 "Xã Phong Điền", while
    # the names agree with the VPD boundary data (31 phường and 72 xã either way).
    for prefix, kind in _KINDS.items():
        if name.startswith(prefix + " "):
            return kind
    # A new unit type would change what the platform shows; fail rather than guess.
    raise ValueError(f"ward {code}: {name!r} is neither a phường nor a xã")


def _ward_from_row(row: Mapping[str, Any]) -> Ward:
    code, name = str(row["wardCode"]), str(row["ward"])
    return Ward(
        code=code,
        name=name,
        short_name=str(row["wardShort"]),
        kind=_kind(name, code),
        lat=float(row["wardLat"]),
        lon=float(row["wardLon"]),
        area_km2=float(row["wardAreaKm2"]),
    )


@cache
def wards() -> tuple[Ward, ...]:
    """The 103 wards and communes of Cần Thơ (31 phường, 72 xã), ordered by code."""
    return tuple(_ward_from_row(row) for row in _dataset_rows())


@cache
def _wards_by_code() -> dict[str, Ward]:
    return {ward.code: ward for ward in wards()}


@cache
def _city() -> _City:
    row = _dataset_rows()[0]
    return _City(
        name=str(row["province"]),
        short_name=str(row["provinceShort"]),
        lat=float(row["provinceLat"]),
        lon=float(row["provinceLon"]),
    )


def ward_by_code(code: str) -> Ward:
    """The ward with this GSO code; KeyError when Cần Thơ has none."""
    return _wards_by_code()[code]


def ward_id(code: str) -> str:
    """The NGSI-LD entity id of the ward with this code."""
    return f"urn:ngsi-ld:{ENTITY_TYPE}:VN-{PROVINCE_CODE}-{code}"


def nearest_ward(lat: float, lon: float) -> Ward:
    """The ward whose centre is nearest (great-circle distance) to the point."""
    return min(wards(), key=lambda ward: haversine_m(lon, lat, ward.lon, ward.lat))


# (key, Vietnamese name, English name, lat, lon, ward code or None for the nearest centre).
# Coordinates are WGS84, 4 decimals. Sources, and how far to trust them:
# * airport: the aerodrome reference point 10°05'02"N 105°42'36"E in Vietnam's AIP, AD 2 VVCT;
# * Ninh Kiều wharf (at the mouth of the Cần Thơ river) and Cái Răng floating market (by Cái
#   Răng bridge): their commonly published map positions, to a few hundred metres;
# * the rest are estimates (to about 1 km) placed where public sources say the site is, each
#   checked to fall inside its ward's 2025 boundary (VPD data): Trà Nóc 1 in the former phường
#   Trà Nóc, now part of Thới An Đông; Trà Nóc 2 in phường Phước Thới (CIPCO listing on
#   vieclamcantho.net.vn); VSIP Cần Thơ in xã Vĩnh Trinh (cantho.gov.vn, 11 Sep 2023); the
#   bridge's Cần Thơ (south-west) end on the Hậu river bank in Hưng Phú.
_LANDMARKS: Final[tuple[tuple[str, str, str, float, float, str | None], ...]] = (
    ("ninh-kieu-wharf", "Bến Ninh Kiều", "Ninh Kiều wharf", 10.0337, 105.7880, "31135"),
    (
        "cai-rang-floating-market",
        "Chợ nổi Cái Răng",
        "Cái Răng floating market",
        10.0022,
        105.7470,
        "31186",
    ),
    (
        "can-tho-airport",
        "Cảng hàng không quốc tế Cần Thơ",
        "Cần Thơ International Airport",
        10.0839,
        105.7100,
        None,
    ),
    (
        "tra-noc-1-iz",
        "Khu công nghiệp Trà Nóc 1",
        "Trà Nóc 1 Industrial Zone",
        10.0960,
        105.7290,
        "31174",
    ),
    (
        "tra-noc-2-iz",
        "Khu công nghiệp Trà Nóc 2",
        "Trà Nóc 2 Industrial Zone",
        10.1130,
        105.6970,
        "31162",
    ),
    (
        "vsip-can-tho",
        "Khu công nghiệp VSIP Cần Thơ (Vĩnh Thạnh)",
        "VSIP Cần Thơ Industrial Park (Vĩnh Thạnh)",
        10.2600,
        105.4850,
        "31237",
    ),
    ("can-tho-bridge", "Cầu Cần Thơ", "Cần Thơ bridge", 10.0100, 105.8190, "31201"),
)


@cache
def landmarks() -> tuple[Landmark, ...]:
    """Well-known Cần Thơ places, each with the ward it lies in."""
    return tuple(
        Landmark(key, name_vi, name_en, lat, lon, code or nearest_ward(lat, lon).code)
        for key, name_vi, name_en, lat, lon, code in _LANDMARKS
    )


def _property(value: Any, **meta: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **meta}


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def ward_entity(ward: Ward) -> dict[str, Any]:
    """The ward as a normalized NGSI-LD AdministrativeArea entity (core @context)."""
    return {
        "id": ward_id(ward.code),
        "type": ENTITY_TYPE,
        "name": _property(ward.name),
        "alternateName": _property(ward.short_name),
        "areaType": _property(ward.kind),
        "areaKm2": _property(ward.area_km2, unitCode=KM2_UNIT),
        "code": _property(ward.code),
        "location": _point(ward.lat, ward.lon),
        "containedInPlace": {"type": "Relationship", "object": CITY_ID},
        "@context": CORE_CONTEXT_URL,
    }


def city_entity() -> dict[str, Any]:
    """Cần Thơ itself (province-level code 92) as a normalized NGSI-LD entity."""
    city = _city()
    return {
        "id": CITY_ID,
        "type": ENTITY_TYPE,
        "name": _property(city.name),
        "alternateName": _property(city.short_name),
        "areaType": _property("thanh_pho"),
        "areaKm2": _property(CITY_AREA_KM2, unitCode=KM2_UNIT),
        "code": _property(PROVINCE_CODE),
        # The dataset's point for the merged province; a boundary update replaces it.
        "location": _point(city.lat, city.lon),
        "@context": CORE_CONTEXT_URL,
    }


def _feature_code(feature: Mapping[str, Any]) -> str | None:
    properties = feature.get("properties")
    code = properties.get("code") if isinstance(properties, Mapping) else None
    # Codes are strings in the boundary files; tolerate a number, never a bool or blank.
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    text = str(code).strip()
    return text or None


def _boundary_problem(geometry: Any) -> str | None:
    """Why `geometry` cannot be an area's location, or None when it can."""
    if not isinstance(geometry, Mapping):
        return "no geometry"
    kind = geometry.get("type")
    if kind not in _BOUNDARY_TYPES:
        return f"geometry type {kind!r} is not Polygon or MultiPolygon"
    if not geometry.get("coordinates"):
        return "geometry has no coordinates"
    try:
        # The broker's own check, so that an update that passes here is one it accepts.
        validate_geojson(dict(geometry))
    except BadRequestData as exc:
        return str(exc)
    return None


def _entity_id_for(code: str) -> str | None:
    if code == PROVINCE_CODE:
        return CITY_ID
    return ward_id(code) if code in _wards_by_code() else None


def boundary_updates(geojson: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """NGSI-LD fragments (id, type, location) from a FeatureCollection of boundaries, and problems.

    Features are keyed by ``properties.code``: a ward code, or "92" for the city. A bad
    feature is reported in the problems and skipped; it never raises.
    """
    features = geojson.get("features")
    if geojson.get("type") != "FeatureCollection" or not isinstance(features, list):
        return [], ["not a GeoJSON FeatureCollection with a list of features"]
    updates: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        update, problem = _boundary_update(feature, seen)
        if problem is not None:
            problems.append(f"feature {index}: {problem}")
        elif update is not None:
            updates.append(update)
    return updates, problems


def _boundary_update(feature: Any, seen: set[str]) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(feature, Mapping):
        return None, "not a GeoJSON Feature"
    code = _feature_code(feature)
    if code is None:
        return None, "no properties.code"
    entity_id = _entity_id_for(code)
    if entity_id is None:
        return None, f"code {code!r} is not Cần Thơ or one of its wards"
    if entity_id in seen:
        return None, f"code {code!r} appears more than once"
    geometry = feature.get("geometry")
    problem = _boundary_problem(geometry)
    if problem is not None:
        return None, f"code {code!r}: {problem}"
    assert isinstance(geometry, Mapping)  # _boundary_problem checked it
    seen.add(entity_id)
    # Only type and coordinates: a GeoProperty's value is a bare geometry (no bbox, no crs).
    value = {"type": geometry["type"], "coordinates": geometry["coordinates"]}
    fragment = {
        "id": entity_id,
        "type": ENTITY_TYPE,
        "location": {"type": "GeoProperty", "value": value},
        "@context": CORE_CONTEXT_URL,
    }
    return fragment, None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two WGS84 points."""
    return haversine_m(lon1, lat1, lon2, lat2) / 1000.0


__all__ = [
    "CITY_AREA_KM2",
    "CITY_ID",
    "ENTITY_TYPE",
    "PROVINCE_CODE",
    "Landmark",
    "Ward",
    "boundary_updates",
    "city_entity",
    "distance_km",
    "landmarks",
    "nearest_ward",
    "ward_by_code",
    "ward_entity",
    "ward_id",
    "wards",
]
