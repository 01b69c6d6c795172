"""GeoJSON validation and NGSI-LD geo-queries (ETSI GS CIM 009 v1.8, clause 4.10).

Coordinates are WGS84 ``[longitude, latitude(, altitude)]``; altitude is accepted and ignored.

* Spatial relations (``within``, ``contains``, ``intersects``, ``disjoint``, ``equals``,
  ``overlaps``) are evaluated by shapely on the planar lon/lat coordinates, as brokers do.
  The relation reads "stored geometry <rel> query geometry": ``within`` matches entities whose
  geometry lies within the query geometry, ``contains`` those whose geometry contains it.
* ``near`` distances are metres on the WGS84 mean sphere (R = 6,371,008.8 m). Point to point is
  haversine. Otherwise both geometries are mapped to an equirectangular plane centred on the
  query geometry's centroid (an affine map of lon/lat), shapely finds the closest pair of points
  there, and the distance reported is the haversine distance between that pair. That pair lies
  on both geometries, so the result is never below the true distance and, for city-scale
  distances, exceeds it by far less than 1 %.
* Geometries crossing the antimeridian are not supported (lon/lat are taken as planar).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import shapely
from shapely.affinity import affine_transform
from shapely.errors import GEOSException

from smartcity.core.context.errors import BadRequestData

EARTH_RADIUS_M: Final = 6_371_008.8
METRES_PER_DEGREE: Final = EARTH_RADIUS_M * math.pi / 180.0
DEFAULT_GEOPROPERTY: Final = "location"
GEOMETRY_TYPES: Final = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
)
RELATIONS: Final = ("near", "within", "contains", "intersects", "disjoint", "equals", "overlaps")
DISTANCES: Final = ("maxDistance", "minDistance")

BBox = tuple[float, float, float, float]
Position = tuple[float, float]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# Relative and absolute slack added to the near;maxDistance prefilter box (float rounding).
_BBOX_SLACK_REL: Final = 1e-3
_BBOX_SLACK_M: Final = 1.0

# "stored <rel> query", written with the (prepared) query geometry first.
_PREDICATES: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "within": shapely.contains,
    "contains": shapely.within,
    "intersects": shapely.intersects,
    "disjoint": shapely.disjoint,
    "equals": shapely.equals,
    "overlaps": shapely.overlaps,
}


# --------------------------------------------------------------------------- GeoJSON parsing


def _fail(path: str, message: str) -> BadRequestData:
    return BadRequestData(f"invalid GeoJSON geometry: {path}: {message}")


def _array(value: Any, path: str, what: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(path, f"expected an array of {what}, got {json.dumps(value, default=str)}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"{json.dumps(value, default=str)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _fail(path, f"{value} is not a finite number")
    return number


def _position(value: Any, path: str) -> Position:
    items = _array(value, path, "numbers")
    numbers = [_number(item, f"{path}[{i}]") for i, item in enumerate(items)]
    if not 2 <= len(numbers) <= 3:
        raise _fail(path, f"a position has 2 or 3 numbers [lon, lat(, alt)], got {len(items)}")
    lon, lat = numbers[0], numbers[1]
    if not -180.0 <= lon <= 180.0:
        raise _fail(path, f"longitude {lon} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise _fail(path, f"latitude {lat} is outside [-90, 90]")
    return lon, lat


def _positions(value: Any, path: str, minimum: int) -> list[Position]:
    items = _array(value, path, "positions")
    positions = [_position(item, f"{path}[{i}]") for i, item in enumerate(items)]
    if len(positions) < minimum:
        raise _fail(path, f"needs at least {minimum} positions, got {len(positions)}")
    return positions


def _ring(value: Any, path: str) -> list[Position]:
    ring = _positions(value, path, 4)
    if ring[0] != ring[-1]:
        raise _fail(path, "linear ring is not closed (first and last positions differ)")
    return ring


def _polygon(value: Any, path: str) -> Any:
    rings = _array(value, path, "linear rings")
    if not rings:
        raise _fail(path, "a polygon needs at least one linear ring")
    parsed = [_ring(ring, f"{path}[{i}]") for i, ring in enumerate(rings)]
    return shapely.Polygon(parsed[0], parsed[1:])


def _parts(value: Any, path: str, what: str) -> list[Any] | tuple[Any, ...]:
    parts = _array(value, path, what)
    if not parts:
        raise _fail(path, f"needs at least one of {what}")
    return parts


def _point(c: Any, p: str) -> Any:
    return shapely.Point(_position(c, p))


def _line_string(c: Any, p: str) -> Any:
    return shapely.LineString(_positions(c, p, 2))


def _multi_point(c: Any, p: str) -> Any:
    parts = _parts(c, p, "positions")
    return shapely.MultiPoint([_position(x, f"{p}[{i}]") for i, x in enumerate(parts)])


def _multi_line_string(c: Any, p: str) -> Any:
    parts = _parts(c, p, "line strings")
    return shapely.MultiLineString([_positions(x, f"{p}[{i}]", 2) for i, x in enumerate(parts)])


def _multi_polygon(c: Any, p: str) -> Any:
    parts = _parts(c, p, "polygons")
    return shapely.MultiPolygon([_polygon(x, f"{p}[{i}]") for i, x in enumerate(parts)])


_BUILDERS: Final[dict[str, Callable[[Any, str], Any]]] = {
    "Point": _point,
    "LineString": _line_string,
    "Polygon": _polygon,
    "MultiPoint": _multi_point,
    "MultiLineString": _multi_line_string,
    "MultiPolygon": _multi_polygon,
}


def _build(value: Any) -> Any:
    """Check the structure of a GeoJSON geometry and build it (no topological validity check)."""
    if not isinstance(value, dict):
        raise BadRequestData(
            "invalid GeoJSON geometry: expected an object with type and coordinates"
        )
    kind = value.get("type")
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        expected = ", ".join(GEOMETRY_TYPES)
        raise BadRequestData(
            f"invalid GeoJSON geometry: unsupported type {json.dumps(kind, default=str)}; "
            f"expected one of {expected}"
        )
    if "coordinates" not in value:
        raise BadRequestData(f"invalid GeoJSON geometry: {kind} has no coordinates")
    return builder(value["coordinates"], "coordinates")


def validate_geojson(value: Any) -> shapely.Geometry:
    """Validate a GeoJSON geometry object and return it as a shapely geometry."""
    geom = _build(value)
    reason = shapely.is_valid_reason(geom)
    if reason != "Valid Geometry":
        raise BadRequestData(f"invalid GeoJSON geometry: {value['type']}: {reason}")
    return geom


def geometry_bbox(value: dict[str, Any]) -> BBox:
    """Return (minx, miny, maxx, maxy) of a GeoJSON geometry."""
    if value.get("type") == "Point":
        # The common case, on every write of a located entity: no shapely object needed.
        x, y = _position(value.get("coordinates"), "coordinates")[:2]
        return x, y, x, y
    minx, miny, maxx, maxy = _build(value).bounds
    return float(minx), float(miny), float(maxx), float(maxy)


# --------------------------------------------------------------------------- distances


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two lon/lat points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class _LocalPlane:
    """Equirectangular plane in metres centred on (lon0, lat0): an affine map of lon/lat."""

    lon0: float
    lat0: float
    kx: float

    @classmethod
    def around(cls, geom: Any) -> _LocalPlane:
        """Return the plane centred on the centroid of geom."""
        centre = shapely.centroid(geom)
        cos_lat = max(math.cos(math.radians(centre.y)), 1e-9)
        return cls(float(centre.x), float(centre.y), METRES_PER_DEGREE * cos_lat)

    def forward(self, geom: Any) -> Any:
        """Map a lon/lat geometry to plane metres."""
        ky = METRES_PER_DEGREE
        return affine_transform(geom, [self.kx, 0, 0, ky, -self.kx * self.lon0, -ky * self.lat0])

    def inverse(self, x: float, y: float) -> Position:
        """Map a plane point back to lon/lat."""
        return self.lon0 + x / self.kx, self.lat0 + y / METRES_PER_DEGREE

    def distance(self, planar_a: Any, b: Any) -> float:
        """Haversine distance between the closest pair of points of planar_a and lon/lat b."""
        line = shapely.shortest_line(planar_a, self.forward(b))
        (x1, y1), (x2, y2) = shapely.get_coordinates(line)
        return haversine_m(*self.inverse(float(x1), float(y1)), *self.inverse(float(x2), float(y2)))


def distance_m(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Return the distance in metres between two lon/lat geometries (a is the reference)."""
    if a.geom_type == "Point" and b.geom_type == "Point":
        return haversine_m(a.x, a.y, b.x, b.y)
    plane = _LocalPlane.around(a)
    return plane.distance(plane.forward(a), b)


def _grow_bbox(bbox: BBox, metres: float) -> BBox:
    """Return a lon/lat box holding every point within metres of a point of bbox."""
    minx, miny, maxx, maxy = bbox
    angle = (metres * (1.0 + _BBOX_SLACK_REL) + _BBOX_SLACK_M) / EARTH_RADIUS_M
    dlat = math.degrees(angle)
    low, high = max(-90.0, miny - dlat), min(90.0, maxy + dlat)
    cos_phi = math.cos(math.radians(max(abs(miny), abs(maxy))))
    if angle >= math.pi / 2 or math.sin(angle) >= cos_phi:
        return -180.0, low, 180.0, high  # a pole is within reach
    dlon = math.degrees(math.asin(math.sin(angle) / cos_phi))
    if minx - dlon < -180.0 or maxx + dlon > 180.0:
        return -180.0, low, 180.0, high  # reaches over the antimeridian
    return minx - dlon, low, maxx + dlon, high


# --------------------------------------------------------------------------- geo-queries


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class GeoQuery:
    """A validated NGSI-LD geo-query; the query geometry is parsed and prepared once."""

    georel: str
    geometry: str
    coordinates: Any
    geoproperty: str = DEFAULT_GEOPROPERTY
    max_distance: float | None = None
    min_distance: float | None = None
    shape: shapely.Geometry = field(init=False, repr=False, compare=False)
    _plane: _LocalPlane = field(init=False, repr=False, compare=False)
    _planar_shape: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_relation()
        shape = validate_geojson({"type": self.geometry, "coordinates": self.coordinates})
        shapely.prepare(shape)
        plane = _LocalPlane.around(shape)
        planar = plane.forward(shape)
        shapely.prepare(planar)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_plane", plane)
        object.__setattr__(self, "_planar_shape", planar)

    def _check_relation(self) -> None:
        if self.georel not in RELATIONS:
            raise BadRequestData(
                f"unknown georel {self.georel!r}; expected one of {', '.join(RELATIONS)}"
            )
        distances = [d for d in (self.max_distance, self.min_distance) if d is not None]
        if self.georel != "near":
            if distances:
                raise BadRequestData(f"georel {self.georel!r} takes no distance")
            return
        if not distances:
            raise BadRequestData("georel 'near' needs maxDistance or minDistance")
        for d in distances:
            if not math.isfinite(d) or d < 0:
                raise BadRequestData(f"georel 'near': distance must be a number >= 0, got {d}")

    @property
    def georel_text(self) -> str:
        """Return the georel as written in a query, e.g. ``near;maxDistance==2000``."""
        text = self.georel
        if self.max_distance is not None:
            text += f";maxDistance=={_format_number(self.max_distance)}"
        if self.min_distance is not None:
            text += f";minDistance=={_format_number(self.min_distance)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the geoQ object form (georel, geometry, coordinates, geoproperty)."""
        return {
            "georel": self.georel_text,
            "geometry": self.geometry,
            "coordinates": self.coordinates,
            "geoproperty": self.geoproperty,
        }

    def candidate_bbox(self) -> BBox | None:
        """Return a lon/lat box that every matching geometry's bbox intersects, or None."""
        if self.georel == "disjoint":
            return None
        if self.georel == "near":
            if self.max_distance is None:
                return None
            return _grow_bbox(self._query_bbox(), self.max_distance)
        return self._query_bbox()

    def _query_bbox(self) -> BBox:
        minx, miny, maxx, maxy = self.shape.bounds
        return float(minx), float(miny), float(maxx), float(maxy)

    def distance_to(self, value: dict[str, Any]) -> float:
        """Return the distance in metres from the query geometry to a stored GeoJSON geometry."""
        if self.geometry == "Point" and value.get("type") == "Point":
            lon, lat = _position(value.get("coordinates"), "coordinates")
            return haversine_m(self.shape.x, self.shape.y, lon, lat)
        return self._plane.distance(self._planar_shape, _build(value))

    def matches(self, value: dict[str, Any]) -> bool:
        """Return whether a stored GeoJSON geometry satisfies the query (False if unreadable)."""
        if not isinstance(value, dict):
            return False
        try:
            if self.georel == "near":
                return self._near(self.distance_to(value))
            return bool(_PREDICATES[self.georel](self.shape, _build(value)))
        except (BadRequestData, GEOSException):
            return False

    def _near(self, distance: float) -> bool:
        if self.max_distance is not None and distance > self.max_distance:
            return False
        return self.min_distance is None or distance >= self.min_distance


def _parse_distance(text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise BadRequestData(f"georel 'near': distance {text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise BadRequestData(f"georel 'near': distance {text!r} is not a finite number")
    if value < 0:
        raise BadRequestData(f"georel 'near': distance {text!r} is negative")
    return value


def _parse_georel(text: str) -> tuple[str, float | None, float | None]:
    name, *modifiers = text.split(";")
    if name not in RELATIONS:
        raise BadRequestData(f"unknown georel {name!r}; expected one of {', '.join(RELATIONS)}")
    if name != "near":
        if modifiers:
            raise BadRequestData(f"georel {name!r} takes no modifiers, got {text!r}")
        return name, None, None
    if len(modifiers) != 1:
        raise BadRequestData(
            f"georel 'near' needs exactly one of maxDistance==<metres> or "
            f"minDistance==<metres>, got {text!r}"
        )
    key, sep, number = modifiers[0].partition("==")
    if not sep or key not in DISTANCES:
        raise BadRequestData(
            f"georel 'near': expected maxDistance==<metres> or minDistance==<metres>, "
            f"got {modifiers[0]!r}"
        )
    distance = _parse_distance(number)
    return (name, distance, None) if key == "maxDistance" else (name, None, distance)


def _parse_coordinates(coordinates: str | list[Any]) -> list[Any]:
    if isinstance(coordinates, str):
        try:
            parsed = json.loads(coordinates)
        except (ValueError, RecursionError) as exc:
            raise BadRequestData(f"coordinates is not a JSON array: {exc}") from None
    else:
        parsed = coordinates
    if not isinstance(parsed, list):
        raise BadRequestData(f"coordinates must be a JSON array, got {coordinates!r}")
    return parsed


def parse_geoquery(
    georel: str | None,
    geometry: str | None,
    coordinates: str | list[Any] | None,
    geoproperty: str | None = None,
) -> GeoQuery | None:
    """Parse the georel/geometry/coordinates/geoproperty parameters (None when absent)."""
    given = {"georel": georel, "geometry": geometry, "coordinates": coordinates}
    if all(value is None for value in given.values()):
        return None
    missing = [name for name, value in given.items() if value is None or value == ""]
    if missing:
        raise BadRequestData(
            f"a geo-query needs georel, geometry and coordinates; missing: {', '.join(missing)}"
        )
    assert georel is not None and geometry is not None and coordinates is not None
    name, max_distance, min_distance = _parse_georel(georel)
    coords = _parse_coordinates(coordinates)
    return GeoQuery(
        georel=name,
        geometry=geometry,
        coordinates=coords,
        geoproperty=geoproperty or DEFAULT_GEOPROPERTY,
        max_distance=max_distance,
        min_distance=min_distance,
    )
