"""Tests for GeoJSON validation and NGSI-LD geo-queries."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import shapely

from smartcity.core.context.errors import BadRequestData
from smartcity.core.context.geo import (
    GeoQuery,
    distance_m,
    geometry_bbox,
    haversine_m,
    parse_geoquery,
    validate_geojson,
)

WHARF = [105.7880, 10.0340]  # Ninh Kiều wharf
BRIDGE = [105.7580, 10.0295]  # Cần Thơ bridge
# Known WGS84-ellipsoid (Vincenty) distance wharf -> bridge, in metres.
WHARF_BRIDGE_M = 3326.31

NINH_KIEU = [[[105.77, 10.02], [105.80, 10.02], [105.80, 10.05], [105.77, 10.05], [105.77, 10.02]]]
CITY = [[[105.70, 9.95], [105.85, 9.95], [105.85, 10.10], [105.70, 10.10], [105.70, 9.95]]]
EAST = [[[105.79, 10.03], [105.82, 10.03], [105.82, 10.06], [105.79, 10.06], [105.79, 10.03]]]
INNER = [[[105.78, 10.03], [105.79, 10.03], [105.79, 10.04], [105.78, 10.04], [105.78, 10.03]]]


def point(coords: Any) -> dict[str, Any]:
    return {"type": "Point", "coordinates": coords}


def polygon(coords: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": coords}


def query(georel: str, geometry: str, coordinates: Any) -> GeoQuery:
    q = parse_geoquery(georel, geometry, str(coordinates), None)
    assert q is not None
    return q


# --------------------------------------------------------------------------- validation

GOOD = [
    point(WHARF),
    point([105.788, 10.034, 2.5]),
    point([180, -90]),
    {"type": "Point", "coordinates": (105, 10)},
    {"type": "LineString", "coordinates": [WHARF, BRIDGE]},
    polygon(NINH_KIEU),
    polygon([CITY[0], INNER[0]]),  # with a hole
    {"type": "MultiPoint", "coordinates": [WHARF, BRIDGE]},
    {"type": "MultiLineString", "coordinates": [[WHARF, BRIDGE], [[105.7, 10.0], [105.8, 10.1]]]},
    {
        "type": "MultiPolygon",
        "coordinates": [NINH_KIEU, [[[106, 10], [106.1, 10], [106, 10.1], [106, 10]]]],
    },
    {"type": "Point", "coordinates": WHARF, "bbox": [1, 2, 3, 4]},
]


@pytest.mark.parametrize("value", GOOD)
def test_validate_good(value: dict[str, Any]) -> None:
    geom = validate_geojson(value)
    assert geom.geom_type == value["type"]
    assert geom.is_valid


BOWTIE = [[[105.77, 10.02], [105.80, 10.05], [105.80, 10.02], [105.77, 10.05], [105.77, 10.02]]]

BAD = [
    ("not a dict", "expected an object"),
    (["Point"], "expected an object"),
    ({"coordinates": WHARF}, "unsupported type"),
    ({"type": "Circle", "coordinates": WHARF}, 'unsupported type "Circle"'),
    ({"type": "GeometryCollection", "geometries": []}, "unsupported type"),
    ({"type": "Point"}, "has no coordinates"),
    (point([[105.788, 10.034]]), "coordinates[0]: [105.788, 10.034] is not a number"),
    (point(105.788), "expected an array"),
    (point([105.788]), "2 or 3 numbers"),
    (point([1, 2, 3, 4]), "2 or 3 numbers"),
    (point(["105.788", 10.034]), 'coordinates[0]: "105.788" is not a number'),
    (point([True, 10.0]), "is not a number"),
    (point([None, 10.0]), "is not a number"),
    (point([float("nan"), 10.0]), "not a finite number"),
    (point([105.0, float("inf")]), "not a finite number"),
    (point([10**400, 10.0]), "not a finite number"),
    (point([180.5, 10.0]), "longitude 180.5 is outside [-180, 180]"),
    (point([105.0, -90.01]), "latitude -90.01 is outside [-90, 90]"),
    ({"type": "LineString", "coordinates": [WHARF]}, "at least 2 positions"),
    ({"type": "LineString", "coordinates": WHARF}, "coordinates[0]: expected an array"),
    ({"type": "LineString", "coordinates": [WHARF, WHARF]}, "Too few points"),
    (polygon([[WHARF, BRIDGE, [105.77, 10.05], [105.0, 10.0]]]), "coordinates[0]: linear ring"),
    (polygon([[WHARF, BRIDGE, WHARF]]), "at least 4 positions"),
    (polygon(NINH_KIEU[0]), "coordinates[0][0]: expected an array"),
    (polygon([]), "at least one linear ring"),
    (polygon(BOWTIE), "Self-intersection"),
    (polygon([NINH_KIEU[0], CITY[0]]), "Hole lies outside shell"),
    ({"type": "MultiPoint", "coordinates": []}, "needs at least one"),
    ({"type": "MultiPoint", "coordinates": [WHARF, [200, 0]]}, "coordinates[1]: longitude"),
    ({"type": "MultiLineString", "coordinates": [[WHARF]]}, "coordinates[0]: needs at least 2"),
    ({"type": "MultiPolygon", "coordinates": [CITY, NINH_KIEU]}, "Nested shells"),
    ({"type": "MultiPolygon", "coordinates": NINH_KIEU}, "coordinates[0][0][0]: expected an array"),
]


@pytest.mark.parametrize(("value", "detail"), BAD)
def test_validate_bad(value: Any, detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        validate_geojson(value)
    assert detail in info.value.detail
    assert info.value.detail.startswith("invalid GeoJSON geometry")


def test_geometry_bbox() -> None:
    assert geometry_bbox(point(WHARF)) == (105.788, 10.034, 105.788, 10.034)
    assert geometry_bbox(polygon(NINH_KIEU)) == (105.77, 10.02, 105.80, 10.05)
    line = {"type": "LineString", "coordinates": [WHARF, BRIDGE]}
    assert geometry_bbox(line) == (105.758, 10.0295, 105.788, 10.034)
    with pytest.raises(BadRequestData):
        geometry_bbox(point([500, 0]))


# --------------------------------------------------------------------------- distances


def test_haversine_known_values() -> None:
    d = haversine_m(*WHARF, *BRIDGE)
    assert d == pytest.approx(WHARF_BRIDGE_M, rel=0.005)
    assert 3200 < d < 3400
    assert haversine_m(0, 0, 0, 1) == pytest.approx(6_371_008.8 * math.pi / 180)
    assert haversine_m(*WHARF, *WHARF) == 0.0
    assert haversine_m(179.9, 0, -179.9, 0) == pytest.approx(haversine_m(0, 0, 0.2, 0))
    # Cần Thơ wharf -> Hồ Chí Minh City Bến Thành (Vincenty on WGS84: 129,401.7 m)
    assert haversine_m(105.7880, 10.0340, 106.7009, 10.7769) == pytest.approx(129_401.7, rel=0.005)


def test_distance_m_points_and_shapes() -> None:
    wharf, bridge = shapely.Point(WHARF), shapely.Point(BRIDGE)
    assert distance_m(wharf, bridge) == pytest.approx(WHARF_BRIDGE_M, rel=0.005)
    assert distance_m(validate_geojson(polygon(NINH_KIEU)), wharf) == 0.0
    # bridge is 0.012 degrees of longitude west of the Ninh Kiều box (at lat 10.0295)
    expected = haversine_m(105.77, 10.0295, *BRIDGE)
    poly = validate_geojson(polygon(NINH_KIEU))
    assert distance_m(poly, bridge) == pytest.approx(expected, rel=1e-6)
    assert distance_m(bridge, poly) == pytest.approx(expected, rel=1e-6)
    line = shapely.LineString([(105.78, 10.0), (105.78, 10.1)])
    assert distance_m(line, wharf) == pytest.approx(haversine_m(105.78, 10.034, *WHARF), rel=1e-6)


def test_distance_m_matches_haversine_for_multipoints() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a = (105.78 + rng.uniform(-0.2, 0.2), 10.03 + rng.uniform(-0.2, 0.2))
        b = (105.78 + rng.uniform(-0.2, 0.2), 10.03 + rng.uniform(-0.2, 0.2))
        multi = shapely.MultiPoint([a, (a[0] + 1.0, a[1])])
        exact = haversine_m(*a, *b)
        assert distance_m(multi, shapely.Point(b)) == pytest.approx(exact, rel=1e-9)


# --------------------------------------------------------------------------- relations


def test_within() -> None:
    q = query("within", "Polygon", NINH_KIEU)
    assert q.matches(point(WHARF))
    assert not q.matches(point(BRIDGE))
    assert q.matches(polygon(INNER))
    assert not q.matches(polygon(EAST))
    assert not q.matches(polygon(CITY))


def test_contains() -> None:
    q = query("contains", "Point", WHARF)
    assert q.matches(polygon(NINH_KIEU))
    assert q.matches(polygon(CITY))
    assert not q.matches(polygon(EAST))
    assert not q.matches(point(BRIDGE))
    assert query("contains", "Polygon", INNER).matches(polygon(NINH_KIEU))
    assert not query("contains", "Polygon", CITY).matches(polygon(NINH_KIEU))


def test_intersects() -> None:
    q = query("intersects", "Polygon", NINH_KIEU)
    assert q.matches({"type": "LineString", "coordinates": [BRIDGE, [105.79, 10.04]]})
    assert q.matches(polygon(EAST))
    assert q.matches(point(WHARF))
    assert not q.matches(point(BRIDGE))
    assert not q.matches({"type": "LineString", "coordinates": [BRIDGE, [105.76, 10.05]]})


def test_disjoint() -> None:
    q = query("disjoint", "Polygon", NINH_KIEU)
    assert q.matches(point(BRIDGE))
    assert not q.matches(point(WHARF))
    assert not q.matches(polygon(EAST))
    assert q.candidate_bbox() is None


def test_equals() -> None:
    q = query("equals", "Polygon", NINH_KIEU)
    ring = NINH_KIEU[0]
    rotated = [*ring[1:], ring[1]]
    assert q.matches(polygon([rotated]))
    assert q.matches(polygon([list(reversed(ring))]))
    assert not q.matches(polygon(EAST))
    assert query("equals", "Point", WHARF).matches(point(WHARF))
    assert not query("equals", "Point", WHARF).matches(point(BRIDGE))


def test_overlaps() -> None:
    q = query("overlaps", "Polygon", NINH_KIEU)
    assert q.matches(polygon(EAST))
    assert not q.matches(polygon(INNER))  # inside, not overlapping
    assert not q.matches(polygon(CITY))
    assert not q.matches(point(WHARF))  # different dimension


def test_near_max_distance() -> None:
    assert query("near;maxDistance==3400", "Point", WHARF).matches(point(BRIDGE))
    assert not query("near;maxDistance==3000", "Point", WHARF).matches(point(BRIDGE))
    assert query("near;maxDistance==0", "Point", WHARF).matches(point(WHARF))
    # distance from the bridge to the Ninh Kiều box is about 1.31 km
    assert query("near;maxDistance==1400", "Point", BRIDGE).matches(polygon(NINH_KIEU))
    assert not query("near;maxDistance==1200", "Point", BRIDGE).matches(polygon(NINH_KIEU))
    assert query("near;maxDistance==1400", "Polygon", NINH_KIEU).matches(point(BRIDGE))
    assert query("near;maxDistance==10", "Polygon", NINH_KIEU).matches(point(WHARF))


def test_near_min_distance() -> None:
    assert query("near;minDistance==3000", "Point", WHARF).matches(point(BRIDGE))
    assert not query("near;minDistance==3400", "Point", WHARF).matches(point(BRIDGE))
    assert not query("near;minDistance==1", "Polygon", NINH_KIEU).matches(point(WHARF))
    assert query("near;minDistance==1200", "Polygon", NINH_KIEU).matches(point(BRIDGE))
    assert query("near;minDistance==1000", "Point", WHARF).candidate_bbox() is None


def test_matches_rejects_unreadable_values() -> None:
    for q in (query("near;maxDistance==1e9", "Point", WHARF), query("disjoint", "Point", WHARF)):
        assert not q.matches({"type": "Point", "coordinates": "x"})
        assert not q.matches({"type": "Circle", "coordinates": WHARF})
        assert not q.matches({"type": "Polygon"})
        assert not q.matches(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- candidate_bbox


def inside(box: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def test_candidate_bbox_of_relations() -> None:
    for rel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert query(rel, "Polygon", NINH_KIEU).candidate_bbox() == (105.77, 10.02, 105.80, 10.05)
    box = query("near;maxDistance==3400", "Point", WHARF).candidate_bbox()
    assert box is not None and inside(box, *BRIDGE)


@pytest.mark.parametrize(
    ("geometry", "coordinates", "max_distance"),
    [
        ("Point", WHARF, 500),
        ("Point", WHARF, 3400),
        ("Point", WHARF, 50_000),
        ("Point", [105.0, 71.5], 20_000),
        ("Point", [-70.0, -55.0], 300_000),
        ("Polygon", NINH_KIEU, 2000),
        ("LineString", [WHARF, BRIDGE], 800),
    ],
)
def test_candidate_bbox_contains_every_match(
    geometry: str, coordinates: Any, max_distance: float
) -> None:
    q = query(f"near;maxDistance=={max_distance}", geometry, coordinates)
    box = q.candidate_bbox()
    assert box is not None
    minx, miny, maxx, maxy = q.shape.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    reach = 3 * max_distance / 111_000 / math.cos(math.radians(min(abs(cy) + 5, 89)))
    rng = random.Random(f"{geometry}{max_distance}")
    hits = 0
    for _ in range(3000):
        lon = max(-180.0, min(180.0, cx + rng.uniform(-reach, reach)))
        lat = max(-90.0, min(90.0, cy + rng.uniform(-reach, reach) / 2))
        if q.matches(point([lon, lat])):
            hits += 1
            assert inside(box, lon, lat), (lon, lat, box)
    assert hits > 50
    # the box is not absurdly generous either
    assert box[3] - box[1] < (maxy - miny) + 2.5 * max_distance / 111_000


def test_candidate_bbox_near_edges_of_the_box() -> None:
    q = query("near;maxDistance==1000", "Point", WHARF)
    box = q.candidate_bbox()
    assert box is not None
    for bearing in range(0, 360, 5):
        # a point about 999 m away along the bearing, by small-distance approximation
        dy = 999 * math.cos(math.radians(bearing)) / 111_195
        dx = 999 * math.sin(math.radians(bearing)) / (111_195 * math.cos(math.radians(WHARF[1])))
        lon, lat = WHARF[0] + dx, WHARF[1] + dy
        if q.matches(point([lon, lat])):
            assert inside(box, lon, lat)


def test_candidate_bbox_wraps_to_whole_longitude_range() -> None:
    box = query("near;maxDistance==100000", "Point", [179.5, 10]).candidate_bbox()
    assert box is not None and box[0] == -180.0 and box[2] == 180.0
    polar = query("near;maxDistance==300000", "Point", [20, 88]).candidate_bbox()
    assert polar is not None
    assert polar[0] == -180.0 and polar[2:] == (180.0, 90.0)
    assert polar[1] == pytest.approx(85.3, abs=0.05)


# --------------------------------------------------------------------------- parsing


def test_parse_absent_and_defaults() -> None:
    assert parse_geoquery(None, None, None, None) is None
    assert parse_geoquery(None, None, None, "position") is None
    q = parse_geoquery("near;maxDistance==2000", "Point", "[105.788,10.034]", None)
    assert q is not None
    assert (q.georel, q.geometry, q.coordinates) == ("near", "Point", WHARF)
    assert (q.max_distance, q.min_distance, q.geoproperty) == (2000.0, None, "location")
    assert q.georel_text == "near;maxDistance==2000"
    q2 = parse_geoquery("near;minDistance==12.5", "Point", WHARF, "position")
    assert q2 is not None and q2.geoproperty == "position" and q2.min_distance == 12.5
    assert q2.to_dict() == {
        "georel": "near;minDistance==12.5",
        "geometry": "Point",
        "coordinates": WHARF,
        "geoproperty": "position",
    }
    q3 = parse_geoquery(
        "within",
        "Polygon",
        " [[[105.77,10.02],[105.8,10.02],[105.8,10.05],[105.77,10.05],[105.77,10.02]]] ",
        "",
    )
    assert q3 is not None and q3.geoproperty == "location" and q3.georel_text == "within"
    assert q3 == query("within", "Polygon", NINH_KIEU)


PARSE_ERRORS = [
    (("within", None, None), "missing: geometry, coordinates"),
    ((None, "Point", None), "missing: georel, coordinates"),
    ((None, None, "[1,2]"), "missing: georel, geometry"),
    (("", "Point", "[1,2]"), "missing: georel"),
    (("close", "Point", "[1,2]"), "unknown georel 'close'"),
    (("Within", "Point", "[1,2]"), "unknown georel 'Within'"),
    (("near", "Point", "[1,2]"), "needs exactly one of maxDistance"),
    (("near;maxDistance==1;minDistance==2", "Point", "[1,2]"), "needs exactly one"),
    (("near;maxDistance=100", "Point", "[1,2]"), "expected maxDistance==<metres>"),
    (("near;maxDistance:100", "Point", "[1,2]"), "expected maxDistance==<metres>"),
    (("near;distance==100", "Point", "[1,2]"), "expected maxDistance==<metres>"),
    (("near;maxDistance==-5", "Point", "[1,2]"), "is negative"),
    (("near;minDistance==abc", "Point", "[1,2]"), "'abc' is not a number"),
    (("near;minDistance==", "Point", "[1,2]"), "is not a number"),
    (("near;maxDistance==nan", "Point", "[1,2]"), "is not a number"),
    (("near;maxDistance==1e999", "Point", "[1,2]"), "not a finite number"),
    (("within;maxDistance==5", "Point", "[1,2]"), "takes no modifiers"),
    (("within", "Point", "[1,2"), "coordinates is not a JSON array"),
    (("within", "Point", "105.78,10.03"), "coordinates is not a JSON array"),
    (("within", "Point", '{"a": 1}'), "coordinates must be a JSON array"),
    (("within", "Circle", "[1,2]"), 'unsupported type "Circle"'),
    (("within", "Point", "[200,2]"), "longitude 200.0 is outside"),
    (("within", "Point", "[NaN,2]"), "not a finite number"),
    (("within", "Polygon", "[1,2]"), "expected an array of positions"),
    (("within", "Polygon", str(BOWTIE)), "Self-intersection"),
]


@pytest.mark.parametrize(("args", "detail"), PARSE_ERRORS)
def test_parse_errors(args: tuple[str | None, str | None, str | None], detail: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geoquery(*args, None)
    assert detail in info.value.detail


def test_geoquery_direct_construction_is_checked() -> None:
    with pytest.raises(BadRequestData, match="needs maxDistance or minDistance"):
        GeoQuery("near", "Point", WHARF)
    with pytest.raises(BadRequestData, match="takes no distance"):
        GeoQuery("within", "Point", WHARF, max_distance=5.0)
    with pytest.raises(BadRequestData, match="must be a number >= 0"):
        GeoQuery("near", "Point", WHARF, min_distance=-1.0)
    with pytest.raises(BadRequestData, match="unknown georel"):
        GeoQuery("touches", "Point", WHARF)
    both = GeoQuery("near", "Point", WHARF, max_distance=3400.0, min_distance=3000.0)
    assert both.matches(point(BRIDGE))
    assert not both.matches(point(WHARF))
    assert both.georel_text == "near;maxDistance==3400;minDistance==3000"
