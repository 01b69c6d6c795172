"""The road network: junctions and segments with lengths, lanes, speed limits and road classes.

Two sources: `cantho_core_network()`, a small built-in network of Cần Thơ's urban core, and
`load_osm()`, a real network read from an OpenStreetMap extract (XML 0.6, `.osm` or `.osm.bz2`,
through pyosmium). Both give a `RoadNetwork`: junctions joined by segments, routable by
free-flow travel time, and each segment an NGSI-LD `RoadSegment` entity (`segment_entity`).

Conventions, for both sources:
* a two-way road is one segment with ``oneway=False``, drivable start→end and end→start; a
  one-way segment (``oneway=True``) is drivable start→end only, its geometry in that direction;
* ``lanes`` counts the lanes of both directions together, as OSM's ``lanes`` tag and the Smart
  Data Model's ``totalLaneNumber`` do;
* coordinates are WGS84 (lon, lat) and every length is the great-circle length of the geometry.
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from smartcity.core.context.jsonld import CORE_CONTEXT_URL
from smartcity.simulator.geography import Ward, distance_km, nearest_ward
from smartcity.simulator.traffic import ROAD_CLASSES, RoadClass

if TYPE_CHECKING:
    import osmium.osm

ENTITY_TYPE: Final = "RoadSegment"
# UN/CEFACT common codes: metre, kilometre per hour.
METRE_UNIT: Final = "MTR"
KMH_UNIT: Final = "KMH"
# A segment further than this from every ward centre is not in Cần Thơ (an imported foreign
# extract, or across a provincial border): it gets no address rather than a wrong one.
_WARD_RADIUS_KM: Final = 25.0

Point = tuple[float, float]
"""A WGS84 position as (lon, lat)."""


@dataclass(frozen=True)
class Junction:
    """A node of the network: an intersection, a road end or a named point on a road."""

    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class RoadSegment:
    """A stretch of road between two junctions, with no junction inside it."""

    id: str
    name: str
    road_class: RoadClass
    start: str
    end: str
    length_m: float
    lanes: int
    speed_limit_kmh: int
    oneway: bool
    # (lon, lat) from start to end. Left out of the hash, which a list cannot take part in.
    geometry: list[Point] = field(hash=False)
    # The road number ("QL1", OSM's `ref`), when the road has one.
    ref: str | None = None

    @property
    def free_flow_time_s(self) -> float:
        """Seconds to drive the whole segment at its speed limit."""
        return self.length_m * 3.6 / self.speed_limit_kmh


@dataclass(frozen=True)
class Route:
    """A path through the network: junctions visited and segments driven, in order."""

    junctions: tuple[str, ...]
    segments: tuple[str, ...]
    length_m: float
    travel_time_s: float


class RoadNetwork:
    """Junctions and the segments between them, with routing by free-flow travel time.

    `junctions` and `segments` are lists in the order given; `junction()` and `segment()`
    look one up by id.
    """

    def __init__(
        self,
        junctions: Iterable[Junction],
        segments: Iterable[RoadSegment],
        problems: Iterable[str] = (),
    ) -> None:
        self.junctions: list[Junction] = list(junctions)
        self.segments: list[RoadSegment] = list(segments)
        self._junctions = _by_id(self.junctions, "junction")
        self._segments = _by_id(self.segments, "segment")
        # What an import left out or could not read; empty for a clean source.
        self.problems: list[str] = list(problems)
        self._out: dict[str, list[tuple[RoadSegment, str]]] = {j: [] for j in self._junctions}
        for segment in self.segments:
            self._link(segment)

    def _link(self, segment: RoadSegment) -> None:
        for end in (segment.start, segment.end):
            if end not in self._junctions:
                raise ValueError(f"segment {segment.id}: unknown junction {end!r}")
        if len(segment.geometry) < 2:
            raise ValueError(f"segment {segment.id}: a geometry needs at least 2 points")
        if segment.speed_limit_kmh <= 0:  # routing divides by it
            raise ValueError(f"segment {segment.id}: speed limit must be positive")
        self._out[segment.start].append((segment, segment.end))
        if not segment.oneway:
            self._out[segment.end].append((segment, segment.start))

    def junction(self, junction_id: str) -> Junction:
        """The junction with this id; KeyError when there is none."""
        return self._junctions[junction_id]

    def segment(self, segment_id: str) -> RoadSegment:
        """The segment with this id; KeyError when there is none."""
        return self._segments[segment_id]

    def neighbours(self, junction_id: str) -> list[tuple[RoadSegment, str]]:
        """The segments one may drive out of a junction, each with the junction it leads to."""
        return list(self._out[junction_id])

    def shortest_path(self, a: str, b: str) -> Route | None:
        """The fastest route from a to b at the speed limits; None when b cannot be reached."""
        for end in (a, b):
            self.junction(end)  # KeyError for an unknown junction, not a silent None
        best: dict[str, float] = {a: 0.0}
        came_by: dict[str, tuple[str, RoadSegment]] = {}
        heap: list[tuple[float, str]] = [(0.0, a)]
        done: set[str] = set()
        while heap:
            time_s, here = heapq.heappop(heap)
            if here == b:
                return _route(a, b, came_by)
            if here in done:
                continue
            done.add(here)
            for segment, there in self._out[here]:
                arrival = time_s + segment.free_flow_time_s
                if arrival < best.get(there, math.inf):
                    best[there] = arrival
                    came_by[there] = (here, segment)
                    heapq.heappush(heap, (arrival, there))
        return None

    def total_length_km(self) -> float:
        """The length of all segments in km, a two-way road counted once."""
        return sum(segment.length_m for segment in self.segments) / 1000.0

    def bbox(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the junctions and segment geometries."""
        points = [(j.lon, j.lat) for j in self.junctions]
        points += [p for segment in self.segments for p in segment.geometry]
        if not points:
            raise ValueError("an empty network has no bounding box")
        lons, lats = zip(*points, strict=True)
        return min(lons), min(lats), max(lons), max(lats)


_Item = TypeVar("_Item", Junction, RoadSegment)


def _by_id(items: Iterable[_Item], kind: str) -> dict[str, _Item]:
    result: dict[str, _Item] = {}
    for item in items:
        if item.id in result:
            raise ValueError(f"duplicate {kind} id {item.id!r}")
        result[item.id] = item
    return result


def _route(a: str, b: str, came_by: Mapping[str, tuple[str, RoadSegment]]) -> Route:
    junctions, segments = [b], []
    while junctions[-1] != a:
        previous, segment = came_by[junctions[-1]]
        junctions.append(previous)
        segments.append(segment)
    segments.reverse()
    return Route(
        junctions=tuple(reversed(junctions)),
        segments=tuple(s.id for s in segments),
        length_m=sum(s.length_m for s in segments),
        travel_time_s=sum(s.free_flow_time_s for s in segments),
    )


def polyline_length_m(points: Sequence[Point]) -> float:
    """The great-circle length of a (lon, lat) polyline in metres."""
    return 1000.0 * sum(
        distance_km(lat1, lon1, lat2, lon2)
        for (lon1, lat1), (lon2, lat2) in itertools.pairwise(points)
    )


# --- The built-in network of the urban core ---------------------------------------------------
#
# Hand-placed, not surveyed: every coordinate below was put by hand from memory of public maps
# and is approximate, to roughly 0.5–1 km; the shapes are simplified to a few points, one
# junction stands for each major crossing and minor streets are left out. The names, the
# order of the junctions along each road and the overall shape (the Hậu river to the north-east,
# the Cần Thơ river between Ninh Kiều and Cái Răng) are meant to be right; where the exact
# course matters, import a real extract with `load_osm`. Two anchors are shared with
# `geography.landmarks()`: Ninh Kiều wharf, and the bridge's Cần Thơ end in Hưng Phú.
#
# Lanes (both directions) and limits are plausible values, not readings of signs: per Circular
# 38/2024/TT-BGTVT (which replaced 31/2019), 60 km/h on divided urban roads, 50 undivided,
# 40 on our local streets, and 80 on the bridge, its approaches and national roads outside
# the dense areas.

_JUNCTIONS: Final[tuple[tuple[str, str, float, float], ...]] = (
    # Ninh Kiều
    ("ninh-kieu-wharf", "Bến Ninh Kiều", 105.7885, 10.0335),
    ("hai-ba-trung-x-hoa-binh", "Hai Bà Trưng × Hòa Bình", 105.7866, 10.0362),
    ("hai-ba-trung-x-30-4", "Hai Bà Trưng × Đường 30/4", 105.7858, 10.0305),
    ("hoa-binh-x-nguyen-trai", "Hòa Bình × Nguyễn Trãi × Trần Hưng Đạo", 105.7790, 10.0355),
    ("cai-khe", "Cái Khế (Nguyễn Trãi × Cách Mạng Tháng Tám × Trần Phú)", 105.7775, 10.0455),
    ("30-4-x-quang-trung", "Đường 30/4 × cầu Quang Trung", 105.7800, 10.0290),
    ("xuan-khanh", "Đường 30/4 × Mậu Thân × Đường 3/2 (Xuân Khánh)", 105.7740, 10.0265),
    ("mau-than-x-tran-hung-dao", "Mậu Thân × Trần Hưng Đạo × Nguyễn Văn Cừ", 105.7700, 10.0370),
    ("can-tho-university", "Đường 3/2 – Đại học Cần Thơ", 105.7685, 10.0295),
    ("30-4-x-nguyen-van-linh", "Đường 30/4 × Nguyễn Văn Linh (Hưng Lợi)", 105.7670, 10.0215),
    ("can-tho-bus-station", "Nguyễn Văn Linh – Bến xe khách Cần Thơ", 105.7645, 10.0240),
    ("nguyen-van-linh-x-3-2", "Nguyễn Văn Linh × Đường 3/2", 105.7610, 10.0265),
    ("nguyen-van-linh-x-nguyen-van-cu", "Nguyễn Văn Linh × Nguyễn Văn Cừ", 105.7560, 10.0330),
    ("nguyen-van-cu-west", "Nguyễn Văn Cừ nối dài, toward Phong Điền", 105.7300, 10.0250),
    # Bình Thủy, the airport and Trà Nóc
    ("cmt8-x-mau-than", "Cách Mạng Tháng Tám × Mậu Thân × Võ Văn Kiệt", 105.7710, 10.0500),
    ("cmt8-x-tran-phu", "Cách Mạng Tháng Tám × Trần Phú", 105.7640, 10.0585),
    ("binh-thuy", "Cách Mạng Tháng Tám – Lê Hồng Phong (Bình Thủy)", 105.7560, 10.0660),
    ("vo-van-kiet-x-nguyen-van-linh", "Võ Văn Kiệt × Nguyễn Văn Linh", 105.7470, 10.0600),
    ("ql91-x-ql91b", "Lê Hồng Phong (QL91) × Nguyễn Văn Linh (QL91B)", 105.7440, 10.0790),
    ("can-tho-airport", "Cảng hàng không quốc tế Cần Thơ", 105.7160, 10.0815),
    ("tra-noc", "Quốc lộ 91 – KCN Trà Nóc 1", 105.7300, 10.0950),
    ("ql91-west", "Quốc lộ 91, toward Ô Môn (Trà Nóc 2)", 105.7050, 10.1150),
    # Cái Răng and the bridge
    ("hung-loi-bridge-south", "Cầu Hưng Lợi – Cái Răng end", 105.7715, 10.0160),
    ("quang-trung-bridge-south", "Cầu Quang Trung – Cái Răng end", 105.7835, 10.0245),
    ("ql1-binh-minh", "Quốc lộ 1 – Bình Minh (Vĩnh Long)", 105.8470, 10.0450),
    ("bridge-north", "Cầu Cần Thơ – Vĩnh Long end", 105.8330, 10.0290),
    ("bridge-south", "Cầu Cần Thơ – Cần Thơ end (Hưng Phú)", 105.8190, 10.0100),
    ("ql1-x-quang-trung", "Quốc lộ 1 × Quang Trung", 105.8070, 10.0020),
    ("ql1-x-nam-song-hau", "Quốc lộ 1 × Nam Sông Hậu", 105.7950, 9.9960),
    ("ql1-x-ql91b", "Quốc lộ 1 × Quốc lộ 91B (Cái Răng)", 105.7800, 9.9930),
    ("ba-lang", "Quốc lộ 1 – Ba Láng", 105.7500, 9.9800),
    ("ql1-south", "Quốc lộ 1, toward Cái Tắc (Hậu Giang)", 105.7300, 9.9650),
    ("cai-cui-port", "Nam Sông Hậu – cảng Cái Cui", 105.8300, 9.9950),
    ("nam-song-hau-east", "Nam Sông Hậu, toward Sóc Trăng", 105.8600, 9.9700),
)


class _Road(NamedTuple):
    key: str
    name: str
    ref: str | None
    road_class: RoadClass
    lanes: int
    speed_limit_kmh: int
    # Junction ids, with (lon, lat) shape points between them; a segment per pair of junctions.
    course: tuple[str | Point, ...]


_N, _A, _C, _L = RoadClass.NATIONAL, RoadClass.ARTERIAL, RoadClass.COLLECTOR, RoadClass.LOCAL

_ROADS: Final[tuple[_Road, ...]] = (
    _Road("ql1-vinh-long", "Quốc lộ 1 (đường dẫn cầu Cần Thơ)", "QL1", _N, 4, 80,
          ("ql1-binh-minh", "bridge-north")),
    _Road("can-tho-bridge", "Cầu Cần Thơ", "QL1", _N, 4, 80,
          ("bridge-north", (105.8260, 10.0195), "bridge-south")),
    _Road("ql1-approach", "Quốc lộ 1 (đường dẫn cầu Cần Thơ)", "QL1", _N, 4, 80,
          ("bridge-south", "ql1-x-quang-trung", "ql1-x-nam-song-hau")),
    _Road("ql1-cai-rang", "Quốc lộ 1", "QL1", _N, 4, 60,
          ("ql1-x-nam-song-hau", "ql1-x-ql91b", (105.7650, 9.9870), "ba-lang", "ql1-south")),
    _Road("nam-song-hau", "Nam Sông Hậu", "Nam Sông Hậu", _N, 2, 60,
          ("ql1-x-nam-song-hau", (105.8150, 9.9990), "cai-cui-port")),
    _Road("nam-song-hau-outer", "Nam Sông Hậu", "Nam Sông Hậu", _N, 2, 80,
          ("cai-cui-port", "nam-song-hau-east")),
    _Road("ql91b-cai-rang", "Quốc lộ 91B", "QL91B", _N, 4, 60,
          ("ql1-x-ql91b", (105.7760, 10.0040), "hung-loi-bridge-south")),
    _Road("hung-loi-bridge", "Cầu Hưng Lợi", "QL91B", _N, 4, 60,
          ("hung-loi-bridge-south", "30-4-x-nguyen-van-linh")),
    _Road("nguyen-van-linh", "Nguyễn Văn Linh", "QL91B", _N, 4, 60,
          ("30-4-x-nguyen-van-linh", "can-tho-bus-station", "nguyen-van-linh-x-3-2",
           "nguyen-van-linh-x-nguyen-van-cu", (105.7500, 10.0460),
           "vo-van-kiet-x-nguyen-van-linh", "ql91-x-ql91b")),
    _Road("cach-mang-thang-tam", "Cách Mạng Tháng Tám", "QL91", _N, 4, 60,
          ("cai-khe", "cmt8-x-mau-than", "cmt8-x-tran-phu", "binh-thuy")),
    _Road("le-hong-phong", "Lê Hồng Phong", "QL91", _N, 4, 60,
          ("binh-thuy", "ql91-x-ql91b", "tra-noc")),
    _Road("ql91", "Quốc lộ 91", "QL91", _N, 4, 80, ("tra-noc", "ql91-west")),
    _Road("vo-van-kiet", "Võ Văn Kiệt", None, _A, 4, 60,
          ("cmt8-x-mau-than", "vo-van-kiet-x-nguyen-van-linh", (105.7300, 10.0700),
           "can-tho-airport")),
    _Road("hoa-binh", "Đại lộ Hòa Bình", None, _A, 6, 60,
          ("hai-ba-trung-x-hoa-binh", "hoa-binh-x-nguyen-trai")),
    _Road("nguyen-trai", "Nguyễn Trãi", None, _A, 4, 50,
          ("hoa-binh-x-nguyen-trai", (105.7795, 10.0405), "cai-khe")),
    _Road("tran-hung-dao", "Trần Hưng Đạo", None, _A, 4, 50,
          ("hoa-binh-x-nguyen-trai", "mau-than-x-tran-hung-dao")),
    _Road("duong-30-4", "Đường 30/4", None, _A, 4, 60,
          ("hai-ba-trung-x-30-4", "30-4-x-quang-trung", "xuan-khanh",
           "30-4-x-nguyen-van-linh")),
    _Road("mau-than", "Mậu Thân", None, _A, 4, 60,
          ("xuan-khanh", "mau-than-x-tran-hung-dao", "cmt8-x-mau-than")),
    _Road("duong-3-2", "Đường 3/2", None, _A, 4, 60,
          ("xuan-khanh", "can-tho-university", "nguyen-van-linh-x-3-2")),
    _Road("nguyen-van-cu", "Nguyễn Văn Cừ", None, _A, 4, 60,
          ("mau-than-x-tran-hung-dao", "nguyen-van-linh-x-nguyen-van-cu",
           "nguyen-van-cu-west")),
    _Road("tran-phu", "Trần Phú", None, _C, 2, 50,
          ("cai-khe", (105.7745, 10.0515), (105.7695, 10.0560), "cmt8-x-tran-phu")),
    _Road("quang-trung-bridge", "Cầu Quang Trung", None, _A, 4, 50,
          ("30-4-x-quang-trung", "quang-trung-bridge-south")),
    _Road("quang-trung", "Quang Trung", None, _A, 4, 60,
          ("quang-trung-bridge-south", (105.7950, 10.0140), "ql1-x-quang-trung")),
    _Road("hai-ba-trung", "Hai Bà Trưng", None, _L, 2, 40,
          ("hai-ba-trung-x-hoa-binh", "ninh-kieu-wharf", "hai-ba-trung-x-30-4")),
)  # fmt: skip


def _road_segments(road: _Road, junctions: Mapping[str, Junction]) -> list[RoadSegment]:
    segments: list[RoadSegment] = []
    start: str | None = None
    points: list[Point] = []
    for item in road.course:
        if isinstance(item, tuple):
            points.append(item)
            continue
        here = junctions[item]
        points.append((here.lon, here.lat))
        if start is not None:
            segments.append(_road_segment(road, len(segments) + 1, start, item, points))
        start, points = item, [points[-1]]
    return segments


def _road_segment(road: _Road, n: int, start: str, end: str, points: list[Point]) -> RoadSegment:
    return RoadSegment(
        id=f"{road.key}-{n}",
        name=road.name,
        road_class=road.road_class,
        start=start,
        end=end,
        length_m=polyline_length_m(points),
        lanes=road.lanes,
        speed_limit_kmh=road.speed_limit_kmh,
        oneway=False,  # every road of the built-in network is two-way
        geometry=list(points),
        ref=road.ref,
    )


def cantho_core_network() -> RoadNetwork:
    """The built-in road network of Cần Thơ's urban core (approximate, hand-placed)."""
    junctions = {key: Junction(key, name, lon, lat) for key, name, lon, lat in _JUNCTIONS}
    segments = [s for road in _ROADS for s in _road_segments(road, junctions)]
    return RoadNetwork(junctions.values(), segments)


# --- NGSI-LD ----------------------------------------------------------------------------------


def segment_id(segment_key: str) -> str:
    """The NGSI-LD entity id of the segment with this id."""
    return f"urn:ngsi-ld:{ENTITY_TYPE}:{segment_key}"


def _property(value: Any, **meta: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **meta}


def _point_along(points: Sequence[Point], fraction: float) -> Point:
    """The point at a fraction of the polyline's length (linear between its vertices)."""
    remaining = fraction * polyline_length_m(points)
    for a, b in itertools.pairwise(points):
        step = polyline_length_m((a, b))
        if step >= remaining and step > 0:
            t = remaining / step
            return a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        remaining -= step
    return points[-1]


def _ward_near(lon: float, lat: float) -> Ward | None:
    ward = nearest_ward(lat, lon)
    return ward if distance_km(lat, lon, ward.lat, ward.lon) <= _WARD_RADIUS_KM else None


def _road_ref_id(ref: str) -> str:
    # Road numbers may hold spaces or ';' ("CA 24;I 580"): keep the id a plain URN.
    return "urn:ngsi-ld:Road:" + re.sub(r"[^A-Za-z0-9._-]+", "-", ref).strip("-")


def segment_entity(segment: RoadSegment) -> dict[str, Any]:
    """The segment as a normalized NGSI-LD RoadSegment entity (Smart Data Model, core @context)."""
    entity: dict[str, Any] = {
        "id": segment_id(segment.id),
        "type": ENTITY_TYPE,
        "name": _property(segment.name),
        "roadClass": _property(segment.road_class.value),
        "totalLaneNumber": _property(segment.lanes),
        "maximumAllowedSpeed": _property(segment.speed_limit_kmh, unitCode=KMH_UNIT),
        "length": _property(round(segment.length_m, 1), unitCode=METRE_UNIT),
        "location": {
            "type": "GeoProperty",
            "value": {"type": "LineString", "coordinates": [list(p) for p in segment.geometry]},
        },
    }
    if segment.oneway:
        entity["category"] = _property(["oneway"])
    if segment.ref:
        entity["refRoad"] = {"type": "Relationship", "object": _road_ref_id(segment.ref)}
    # The ward whose centre is nearest the segment's middle: a coarse guess near ward borders,
    # and the bridge's Vĩnh Long end still gets a Cần Thơ ward.
    ward = _ward_near(*_point_along(segment.geometry, 0.5))
    if ward is not None:
        address = {
            "addressLocality": ward.name,
            "addressRegion": "Thành phố Cần Thơ",
            "addressCountry": "VN",
        }
        entity["address"] = _property(address)
    entity["@context"] = CORE_CONTEXT_URL
    return entity


# --- OpenStreetMap ----------------------------------------------------------------------------


class OsmImportError(ValueError):
    """An OpenStreetMap file that cannot be read."""


# OSM highway values kept, by road class. In Vietnam OSM tags the quốc lộ (national roads) as
# trunk; primary and secondary are the arterials, tertiary the collectors, and the rest local.
# A `_link` (ramp, slip road) has the class of its road. Paths, tracks, footways, cycleways,
# pedestrian areas and roads under construction carry no motor traffic and are left out;
# `service` (driveways, parking aisles) only on request.
HIGHWAY_CLASSES: Final[Mapping[str, RoadClass]] = {
    "motorway": RoadClass.NATIONAL,
    "trunk": RoadClass.NATIONAL,
    "primary": RoadClass.ARTERIAL,
    "secondary": RoadClass.ARTERIAL,
    "tertiary": RoadClass.COLLECTOR,
    "unclassified": RoadClass.LOCAL,
    "residential": RoadClass.LOCAL,
    "living_street": RoadClass.LOCAL,
}
_LINKED: Final = frozenset({"motorway", "trunk", "primary", "secondary", "tertiary"})
_YES: Final = frozenset({"yes", "1", "true"})
_REVERSE: Final = frozenset({"-1", "reverse"})
# OSM implies oneway=yes on these when the tag is absent.
_IMPLIED_ONEWAY_HIGHWAYS: Final = frozenset({"motorway", "motorway_link"})
_IMPLIED_ONEWAY_JUNCTIONS: Final = frozenset({"roundabout", "circular"})
_SPEED = re.compile(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", re.IGNORECASE)
_KMH_PER_MPH: Final = 1.609344
# A living street is walking pace by law in most countries; 20 km/h rather than the class's 40.
_LIVING_STREET_KMH: Final = 20
_MAX_REPORTED_IDS: Final = 10


def highway_class(highway: str | None, include_service: bool = False) -> RoadClass | None:
    """The road class of an OSM highway value, or None when such a way is not kept."""
    if highway is None:
        return None
    if highway == "service":
        return RoadClass.LOCAL if include_service else None
    base = highway.removesuffix("_link")
    if base != highway and base not in _LINKED:
        return None
    return HIGHWAY_CLASSES.get(base)


def parse_maxspeed(value: str | None, default: int) -> int:
    """km/h from an OSM maxspeed ("50", "30 mph", "50;70": the first); default when unusable."""
    match = _SPEED.fullmatch(value.split(";")[0].strip()) if value else None
    if match is None:  # absent, or "none", "signals", "walk", "VN:urban" …
        return default
    speed = float(match.group(1))
    if (match.group(2) or "").lower() == "mph":
        speed *= _KMH_PER_MPH
    return round(speed) if speed >= 1 else default


def parse_oneway(tags: Mapping[str, str]) -> tuple[bool, bool]:
    """(one-way?, drawn against the direction of travel?) from a way's OSM tags."""
    value = tags.get("oneway", "").strip().lower()
    if value in _YES:
        return True, False
    if value in _REVERSE:
        return True, True
    implied = (
        tags.get("highway") in _IMPLIED_ONEWAY_HIGHWAYS
        or tags.get("junction") in _IMPLIED_ONEWAY_JUNCTIONS
    )
    # "no", and "reversible"/"alternating" (one direction at a time, both in a day): two-way.
    return (not value and implied), False


def _lanes(value: str | None, road_class: RoadClass, oneway: bool, link: bool) -> int:
    try:
        lanes = int(value.split(";")[0]) if value else 0
    except ValueError:
        lanes = 0
    if lanes > 0:
        return lanes
    # Untagged: one lane each way, two on national roads; a ramp has one.
    per_direction = 2 if road_class is RoadClass.NATIONAL and not link else 1
    return per_direction if oneway else 2 * per_direction


@dataclass(frozen=True)
class _OsmWay:
    id: int
    name: str
    ref: str | None
    road_class: RoadClass
    lanes: int
    speed_limit_kmh: int
    oneway: bool
    # (node id, lon, lat) in the direction of travel for a one-way road.
    nodes: tuple[tuple[int, float, float], ...]


def _osm_way(
    way_id: int,
    tags: Mapping[str, str],
    road_class: RoadClass,
    nodes: list[tuple[int, float, float]],
) -> _OsmWay:
    oneway, reverse = parse_oneway(tags)
    highway = tags.get("highway", "")
    default_kmh = int(ROAD_CLASSES[road_class].speed_limit_km_h)
    if highway == "living_street":
        default_kmh = _LIVING_STREET_KMH
    ref = tags.get("ref") or None
    return _OsmWay(
        id=way_id,
        name=tags.get("name") or ref or f"way {way_id}",
        ref=ref,
        road_class=road_class,
        lanes=_lanes(tags.get("lanes"), road_class, oneway, highway.endswith("_link")),
        speed_limit_kmh=parse_maxspeed(tags.get("maxspeed"), default_kmh),
        oneway=oneway,
        nodes=tuple(reversed(nodes) if reverse else nodes),
    )


def _located_nodes(way: osmium.osm.Way) -> tuple[list[tuple[int, float, float]], int]:
    """The way's nodes that have a location (repeats in a row dropped), and how many had none."""
    nodes: list[tuple[int, float, float]] = []
    missing = 0
    for node in way.nodes:
        if not node.location.valid():
            missing += 1
        elif not nodes or nodes[-1][0] != node.ref:
            nodes.append((node.ref, node.location.lon, node.location.lat))
    return nodes, missing


@dataclass
class _OsmRead:
    ways: list[_OsmWay] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    missing_nodes: int = 0

    def add(self, way: osmium.osm.Way, include_service: bool) -> None:
        """Keep one OSM way if it is a road with at least two located nodes."""
        tags = {tag.k: tag.v for tag in way.tags}
        road_class = highway_class(tags.get("highway"), include_service)
        if road_class is None or tags.get("area") == "yes":
            return
        nodes, missing = _located_nodes(way)
        self.missing_nodes += missing
        if len(nodes) < 2:
            self.skipped.append(way.id)
        else:
            self.ways.append(_osm_way(way.id, tags, road_class, nodes))

    def problems(self) -> list[str]:
        """What was left out, in words."""
        problems = []
        if self.skipped:
            ids = ", ".join(str(i) for i in self.skipped[:_MAX_REPORTED_IDS])
            more = " …" if len(self.skipped) > _MAX_REPORTED_IDS else ""
            problems.append(
                f"skipped {len(self.skipped)} highway ways with fewer than 2 nodes"
                f" of known location: {ids}{more}"
            )
        if self.missing_nodes:
            problems.append(
                f"{self.missing_nodes} node references had no location in the file"
                " and were left out of their ways"
            )
        return problems


def _read_ways(path: Path, include_service: bool) -> _OsmRead:
    # Imported here: only an import needs the C extension, not the simulator's other users.
    import osmium

    processor = (
        osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()  # applied before the filter, so untagged nodes still give locations
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    read = _OsmRead()
    try:
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                read.add(obj, include_service)
    except (RuntimeError, ValueError) as exc:  # libosmium's XML, format and I/O errors
        raise OsmImportError(f"{path}: not a readable OpenStreetMap file: {exc}") from exc
    return read


def _cuts(way: _OsmWay, uses: Counter[int]) -> list[int]:
    """Indexes of the way's nodes that end a segment: its ends and every shared node."""
    last = len(way.nodes) - 1
    return [i for i, (ref, _, _) in enumerate(way.nodes) if i in (0, last) or uses[ref] > 1]


def _osm_segment(way: _OsmWay, n: int, nodes: Sequence[tuple[int, float, float]]) -> RoadSegment:
    geometry = [(lon, lat) for _, lon, lat in nodes]
    return RoadSegment(
        id=f"osm-{way.id}-{n}",
        name=way.name,
        road_class=way.road_class,
        start=f"osm-{nodes[0][0]}",
        end=f"osm-{nodes[-1][0]}",
        length_m=polyline_length_m(geometry),
        lanes=way.lanes,
        speed_limit_kmh=way.speed_limit_kmh,
        oneway=way.oneway,
        geometry=geometry,
        ref=way.ref,
    )


def _split(ways: Sequence[_OsmWay]) -> tuple[list[Junction], list[RoadSegment]]:
    """Segments between intersections (nodes on more than one kept way, or twice on one)."""
    uses = Counter(ref for way in ways for ref, _, _ in way.nodes)
    ends: dict[int, Point] = {}
    names: defaultdict[int, set[str]] = defaultdict(set)
    segments: list[RoadSegment] = []
    for way in ways:
        for n, (i, j) in enumerate(itertools.pairwise(_cuts(way, uses))):
            nodes = way.nodes[i : j + 1]
            segments.append(_osm_segment(way, n, nodes))
            for ref, lon, lat in (nodes[0], nodes[-1]):
                ends[ref] = (lon, lat)
                names[ref].add(way.name)
    junctions = [
        Junction(f"osm-{ref}", " / ".join(sorted(names[ref])), lon, lat)
        for ref, (lon, lat) in ends.items()
    ]
    return junctions, segments


def load_osm(path: Path, *, include_service: bool = False) -> RoadNetwork:
    """The road network of an OpenStreetMap file (XML 0.6, `.osm` or `.osm.bz2`)."""
    if not path.is_file():
        raise FileNotFoundError(f"no OpenStreetMap file at {path}")
    read = _read_ways(path, include_service)
    junctions, segments = _split(read.ways)
    return RoadNetwork(junctions, segments, read.problems())
