"""The road network: the built-in urban core of Cần Thơ, routing, NGSI-LD, and OSM import."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from smartcity.core.context.geo import haversine_m
from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.model import LOCATION_IRI, parse_entity
from smartcity.core.context.times import now_us
from smartcity.simulator.geography import landmarks
from smartcity.simulator.roads import (
    Junction,
    OsmImportError,
    RoadNetwork,
    RoadSegment,
    cantho_core_network,
    highway_class,
    load_osm,
    parse_maxspeed,
    parse_oneway,
    segment_entity,
)
from smartcity.simulator.traffic import RoadClass

SHARED_OSM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "osm"
WHARF = "ninh-kieu-wharf"
AIRPORT = "can-tho-airport"


def shared_osm(name: str) -> Path:
    """A file of the shared OSM extracts, or a loud skip when ../shared is absent."""
    path = SHARED_OSM / name
    if not path.is_file():
        message = f"shared data {path} is absent: test skipped"
        print(message)
        pytest.skip(message)
    return path


def undirected_reach(network: RoadNetwork, start: str) -> set[str]:
    """The junctions reachable from start when every segment is driven both ways."""
    links: defaultdict[str, set[str]] = defaultdict(set)
    for segment in network.segments:
        links[segment.start].add(segment.end)
        links[segment.end].add(segment.start)
    seen, todo = {start}, [start]
    while todo:
        for there in links[todo.pop()] - seen:
            seen.add(there)
            todo.append(there)
    return seen


def geometry_length_m(segment: RoadSegment) -> float:
    points = segment.geometry
    return sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))


def landmark_point(key: str) -> tuple[float, float]:
    landmark = next(lm for lm in landmarks() if lm.key == key)
    return landmark.lon, landmark.lat


# --- The built-in network ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def core() -> RoadNetwork:
    return cantho_core_network()


def test_core_network_has_the_size_of_an_urban_core(core: RoadNetwork) -> None:
    assert 30 <= len(core.junctions) <= 60
    assert 40 <= len(core.segments) <= 90
    assert core.problems == []
    assert 40 < core.total_length_km() < 150


def test_every_junction_is_reachable_from_the_wharf_ignoring_one_way(core: RoadNetwork) -> None:
    assert undirected_reach(core, WHARF) == {j.id for j in core.junctions}


def test_every_junction_is_used_by_a_segment(core: RoadNetwork) -> None:
    used = {end for s in core.segments for end in (s.start, s.end)}
    assert used == {j.id for j in core.junctions}


def test_contains_the_bridge_and_the_national_roads(core: RoadNetwork) -> None:
    bridge = next(s for s in core.segments if s.name == "Cầu Cần Thơ")
    assert bridge.ref == "QL1"
    assert bridge.road_class is RoadClass.NATIONAL
    assert bridge.speed_limit_kmh == 80
    # It crosses the Hậu river: about 2.75 km with its approach spans.
    assert 2000 < bridge.length_m < 3500
    refs = {s.ref for s in core.segments if s.road_class is RoadClass.NATIONAL}
    assert {"QL1", "QL91", "QL91B", "Nam Sông Hậu"} <= refs


@pytest.mark.parametrize(
    "street",
    [
        "Đường 30/4",
        "Hòa Bình",
        "Nguyễn Trãi",
        "Trần Hưng Đạo",
        "Mậu Thân",
        "Đường 3/2",
        "Nguyễn Văn Cừ",
        "Nguyễn Văn Linh",
        "Võ Văn Kiệt",
        "Trần Phú",
        "Cách Mạng Tháng Tám",
        "Hai Bà Trưng",
        "Nam Sông Hậu",
        "Quốc lộ 1",
        "Quốc lộ 91",
    ],
)
def test_contains_the_named_street(core: RoadNetwork, street: str) -> None:
    assert any(street in s.name for s in core.segments)


def test_anchors_agree_with_the_geography_landmarks(core: RoadNetwork) -> None:
    wharf = core.junction(WHARF)
    assert haversine_m(wharf.lon, wharf.lat, *landmark_point("ninh-kieu-wharf")) < 200
    south = core.junction("bridge-south")
    assert haversine_m(south.lon, south.lat, *landmark_point("can-tho-bridge")) < 500
    airport = core.junction(AIRPORT)
    assert haversine_m(airport.lon, airport.lat, *landmark_point("can-tho-airport")) < 1500


def test_segment_lengths_come_from_their_geometry(core: RoadNetwork) -> None:
    for segment in core.segments:
        expected = geometry_length_m(segment)
        assert segment.length_m > 0
        assert segment.length_m == pytest.approx(expected, rel=0.05), segment.id


def test_segment_geometry_runs_from_start_to_end_junction(core: RoadNetwork) -> None:
    for segment in core.segments:
        start, end = core.junction(segment.start), core.junction(segment.end)
        assert len(segment.geometry) >= 2
        assert segment.geometry[0] == (start.lon, start.lat)
        assert segment.geometry[-1] == (end.lon, end.lat)


def test_speed_limits_and_lanes_are_plausible(core: RoadNetwork) -> None:
    for segment in core.segments:
        assert 1 <= segment.lanes <= 8, segment.id
        assert not segment.oneway  # the built-in roads are all two-way: lanes both ways
        assert segment.lanes % 2 == 0, segment.id
        if segment.road_class is RoadClass.NATIONAL:
            assert 60 <= segment.speed_limit_kmh <= 80, segment.id
        else:
            assert 40 <= segment.speed_limit_kmh <= 60, segment.id


def test_two_way_segments_are_neighbours_from_both_ends(core: RoadNetwork) -> None:
    bridge = core.segment("can-tho-bridge-1")
    assert (bridge, bridge.end) in core.neighbours(bridge.start)
    assert (bridge, bridge.start) in core.neighbours(bridge.end)


def test_wharf_to_airport_is_a_connected_route_under_20_km(core: RoadNetwork) -> None:
    route = core.shortest_path(WHARF, AIRPORT)
    assert route is not None
    wharf, airport = core.junction(WHARF), core.junction(AIRPORT)
    crow_m = haversine_m(wharf.lon, wharf.lat, airport.lon, airport.lat)
    assert crow_m < route.length_m < 20_000
    assert route.junctions[0] == WHARF and route.junctions[-1] == AIRPORT
    assert len(route.segments) == len(route.junctions) - 1
    for segment_id, a, b in zip(route.segments, route.junctions, route.junctions[1:], strict=False):
        assert {core.segment(segment_id).start, core.segment(segment_id).end} == {a, b}
    segments = [core.segment(s) for s in route.segments]
    assert route.length_m == pytest.approx(sum(s.length_m for s in segments))
    assert route.travel_time_s == pytest.approx(sum(s.free_flow_time_s for s in segments))


def test_the_bridge_is_on_the_way_to_vinh_long(core: RoadNetwork) -> None:
    route = core.shortest_path(WHARF, "ql1-binh-minh")
    assert route is not None
    assert "can-tho-bridge-1" in route.segments


def test_shortest_path_is_by_time_not_distance() -> None:
    # A short slow street and a longer fast road between the same two junctions.
    junctions = [Junction("a", "A", 0.0, 0.0), Junction("b", "B", 0.01, 0.0)]
    slow = _segment("slow", "a", "b", [(0.0, 0.0), (0.01, 0.0)], speed=10)
    fast = _segment("fast", "a", "b", [(0.0, 0.0), (0.005, 0.002), (0.01, 0.0)], speed=80)
    route = RoadNetwork(junctions, [slow, fast]).shortest_path("a", "b")
    assert route is not None and route.segments == ("fast",)


def test_shortest_path_to_itself_and_unknown_junctions(core: RoadNetwork) -> None:
    route = core.shortest_path(WHARF, WHARF)
    assert route is not None and route.segments == () and route.length_m == 0
    with pytest.raises(KeyError):
        core.shortest_path(WHARF, "nowhere")
    with pytest.raises(KeyError):
        core.neighbours("nowhere")


def test_bbox_holds_every_junction(core: RoadNetwork) -> None:
    min_lon, min_lat, max_lon, max_lat = core.bbox()
    assert 105.6 < min_lon < max_lon < 105.95
    assert 9.9 < min_lat < max_lat < 10.2
    for j in core.junctions:
        assert min_lon <= j.lon <= max_lon and min_lat <= j.lat <= max_lat


def test_network_rejects_unknown_junctions_and_duplicates() -> None:
    a = Junction("a", "A", 105.78, 10.03)
    loose = _segment("s", "a", "b", [(105.78, 10.03), (105.79, 10.03)])
    with pytest.raises(ValueError, match="unknown junction 'b'"):
        RoadNetwork([a], [loose])
    with pytest.raises(ValueError, match="duplicate junction"):
        RoadNetwork([a, a], [])
    with pytest.raises(ValueError, match="empty network"):
        RoadNetwork([], []).bbox()


def _segment(
    segment_id: str,
    start: str,
    end: str,
    points: list[tuple[float, float]],
    speed: int = 50,
) -> RoadSegment:
    length = sum(haversine_m(*a, *b) for a, b in itertools.pairwise(points))
    return RoadSegment(
        segment_id, segment_id, RoadClass.LOCAL, start, end, length, 2, speed, False, list(points)
    )


# --- NGSI-LD ----------------------------------------------------------------------------------


def _parse(entity: dict[str, Any]) -> Any:
    return parse_entity(entity, ContextResolver().resolve(None), now_us())


def test_segment_entity_has_the_road_segment_shape(core: RoadNetwork) -> None:
    segment = core.segment("hai-ba-trung-1")
    entity = segment_entity(segment)
    assert entity["id"] == "urn:ngsi-ld:RoadSegment:hai-ba-trung-1"
    assert entity["type"] == "RoadSegment"
    assert entity["name"] == {"type": "Property", "value": "Hai Bà Trưng"}
    assert entity["roadClass"]["value"] == "local"
    assert entity["totalLaneNumber"]["value"] == 2
    assert entity["maximumAllowedSpeed"] == {"type": "Property", "value": 40, "unitCode": "KMH"}
    assert entity["length"]["unitCode"] == "MTR"
    assert entity["length"]["value"] == pytest.approx(segment.length_m, abs=0.1)
    location = entity["location"]
    assert location["type"] == "GeoProperty"
    assert location["value"]["type"] == "LineString"
    assert len(location["value"]["coordinates"]) >= 2
    assert entity["address"]["value"]["addressLocality"] == "Phường Ninh Kiều"
    assert "refRoad" not in entity and "category" not in entity


def test_segment_entity_refers_to_its_road(core: RoadNetwork) -> None:
    entity = segment_entity(core.segment("can-tho-bridge-1"))
    assert entity["refRoad"] == {"type": "Relationship", "object": "urn:ngsi-ld:Road:QL1"}


def test_every_segment_entity_parses_as_ngsi_ld(core: RoadNetwork) -> None:
    for segment in core.segments:
        parsed = _parse(segment_entity(segment))
        assert parsed.id == f"urn:ngsi-ld:RoadSegment:{segment.id}"
        location = parsed.attrs[LOCATION_IRI][0]
        assert location["value"]["coordinates"] == [list(p) for p in segment.geometry]


# --- OpenStreetMap ----------------------------------------------------------------------------


def way_count(network: RoadNetwork) -> int:
    """How many OSM ways the segments came from (their ids are osm-<way>-<n>)."""
    return len({segment.id.rsplit("-", 1)[0] for segment in network.segments})


def assert_well_formed(network: RoadNetwork) -> None:
    for segment in network.segments:
        assert segment.id.startswith("osm-") and segment.start.startswith("osm-")
        start, end = network.junction(segment.start), network.junction(segment.end)
        assert segment.geometry[0] == (start.lon, start.lat)
        assert segment.geometry[-1] == (end.lon, end.lat)
        assert segment.length_m == pytest.approx(geometry_length_m(segment), rel=0.05)
        assert segment.lanes >= 1 and segment.speed_limit_kmh > 0


def test_load_small_munich() -> None:
    network = load_osm(shared_osm("small-munich.osm"))
    assert_well_formed(network)
    # Four residential streets with located nodes, split at their crossings; two one-node
    # ways in the extract are reported, not kept.
    assert way_count(network) == 4
    assert len(network.segments) > way_count(network)
    assert len(network.junctions) >= 5
    assert any("skipped 2 highway ways" in problem for problem in network.problems)
    limits = {s.name: s.speed_limit_kmh for s in network.segments}
    assert limits["Goethestraße"] == 30  # maxspeed=30
    assert limits["way 628913513"] == 40  # no maxspeed, no name: the local default, the id
    min_lon, min_lat, max_lon, max_lat = network.bbox()
    assert 10.0 < min_lon < max_lon < 10.1 and 48.1 < min_lat < max_lat < 48.2  # Munich
    # Outside Cần Thơ: no ward address rather than a wrong one.
    assert "address" not in segment_entity(network.segments[0])


def test_service_roads_only_on_request() -> None:
    path = shared_osm("small-munich.osm")
    plain, with_service = load_osm(path), load_osm(path, include_service=True)
    assert way_count(with_service) > way_count(plain)
    assert len(with_service.segments) > len(plain.segments)
    assert_well_formed(with_service)


def test_load_west_oakland() -> None:
    network = load_osm(shared_osm("West-Oakland.osm.bz2"))
    assert_well_formed(network)
    assert network.problems == []
    assert way_count(network) >= 15
    assert len(network.segments) > way_count(network)
    assert 20 <= len(network.junctions) <= len(network.segments) + 20
    assert 3 < network.total_length_km() < 15
    classes = {s.road_class for s in network.segments}
    assert {RoadClass.ARTERIAL, RoadClass.LOCAL} <= classes  # secondary, residential


def test_west_oakland_one_way_streets_are_driven_forward_only() -> None:
    network = load_osm(shared_osm("West-Oakland.osm.bz2"))
    oneways = [s for s in network.segments if s.oneway]
    assert len(oneways) >= 5
    for segment in oneways:
        assert (segment, segment.end) in network.neighbours(segment.start)
        assert all(s.id != segment.id for s, _ in network.neighbours(segment.end))
        forward = network.shortest_path(segment.start, segment.end)
        assert forward is not None
        backward = network.shortest_path(segment.end, segment.start)
        assert backward is None or segment.id not in backward.segments


SMALL_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="10.0300" lon="105.7800"/>
  <node id="2" lat="10.0310" lon="105.7810"/>
  <node id="3" lat="10.0320" lon="105.7820"/>
  <node id="4" lat="10.0330" lon="105.7810"/>
  <node id="5" lat="10.0330" lon="105.7830"/>
  <node id="6" lat="10.0340" lon="105.7840"/>
  <way id="11">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="A Street"/>
    <tag k="maxspeed" v="25 mph"/><tag k="lanes" v="3"/>
  </way>
  <way id="12">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="primary"/><tag k="name" v="B Street"/><tag k="oneway" v="yes"/>
  </way>
  <way id="13">
    <nd ref="3"/><nd ref="5"/>
    <tag k="highway" v="trunk"/><tag k="ref" v="QL1"/><tag k="oneway" v="-1"/>
  </way>
  <way id="14">
    <nd ref="1"/><nd ref="5"/>
    <tag k="highway" v="footway"/>
  </way>
  <way id="15">
    <nd ref="6"/><nd ref="99"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="16">
    <nd ref="5"/><nd ref="5"/><nd ref="6"/>
    <tag k="highway" v="tertiary_link"/>
  </way>
</osm>
"""


@pytest.fixture
def small(tmp_path: Path) -> RoadNetwork:
    path = tmp_path / "small.osm"
    path.write_text(SMALL_OSM, encoding="utf-8")
    return load_osm(path)


def test_ways_split_at_shared_nodes_with_osm_ids(small: RoadNetwork) -> None:
    assert [s.id for s in small.segments] == [
        "osm-11-0",
        "osm-11-1",
        "osm-12-0",
        "osm-13-0",
        "osm-16-0",
    ]
    assert {j.id for j in small.junctions} == {"osm-1", "osm-2", "osm-3", "osm-4", "osm-5", "osm-6"}
    first = small.segment("osm-11-0")
    assert (first.start, first.end) == ("osm-1", "osm-2")
    assert small.junction("osm-2").name == "A Street / B Street"


def test_tags_become_lanes_limits_classes_and_names(small: RoadNetwork) -> None:
    a = small.segment("osm-11-1")
    assert (a.name, a.road_class, a.lanes, a.speed_limit_kmh) == (
        "A Street",
        RoadClass.LOCAL,
        3,
        40,  # 25 mph
    )
    b = small.segment("osm-12-0")
    assert (b.road_class, b.lanes, b.speed_limit_kmh) == (RoadClass.ARTERIAL, 1, 60)
    ql1 = small.segment("osm-13-0")
    assert (ql1.name, ql1.ref, ql1.road_class) == ("QL1", "QL1", RoadClass.NATIONAL)
    link = small.segment("osm-16-0")
    assert (link.name, link.road_class, link.lanes) == ("way 16", RoadClass.COLLECTOR, 2)
    assert len(link.geometry) == 2  # the repeated node is dropped


def test_one_way_and_reversed_one_way(small: RoadNetwork) -> None:
    b = small.segment("osm-12-0")
    assert b.oneway and (b.start, b.end) == ("osm-2", "osm-4")
    assert small.shortest_path("osm-2", "osm-4") is not None
    assert small.shortest_path("osm-4", "osm-2") is None  # osm-4 is only reached by B Street
    ql1 = small.segment("osm-13-0")
    # oneway=-1: drawn 3→5, driven 5→3.
    assert ql1.oneway and (ql1.start, ql1.end) == ("osm-5", "osm-3")
    assert ql1.geometry[0] == (105.783, 10.033)
    route = small.shortest_path("osm-5", "osm-1")
    assert route is not None and route.segments == ("osm-13-0", "osm-11-1", "osm-11-0")
    back = small.shortest_path("osm-1", "osm-5")
    assert back is None


def test_ways_without_two_located_nodes_are_reported(small: RoadNetwork) -> None:
    assert small.problems == [
        "skipped 1 highway ways with fewer than 2 nodes of known location: 15",
        "1 node references had no location in the file and were left out of their ways",
    ]


@pytest.mark.parametrize(
    "content",
    [
        "<osm version='0.6'><node id='1' lat='10.0' lon='105.0'></osm",
        "<html><body>not a map</body></html>",
        "",
    ],
)
def test_a_malformed_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.osm"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(OsmImportError, match=r"bad\.osm: not a readable OpenStreetMap file"):
        load_osm(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_osm(tmp_path / "absent.osm")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50),
        ("30 mph", 48),
        ("25mph", 40),
        ("60 km/h", 60),
        ("50;70", 50),
        ("none", 40),
        ("VN:urban", 40),
        ("walk", 40),
        ("0", 40),
        (None, 40),
    ],
)
def test_parse_maxspeed(value: str | None, expected: int) -> None:
    assert parse_maxspeed(value, 40) == expected


@pytest.mark.parametrize(
    ("highway", "expected"),
    [
        ("motorway", RoadClass.NATIONAL),
        ("trunk_link", RoadClass.NATIONAL),
        ("primary", RoadClass.ARTERIAL),
        ("secondary_link", RoadClass.ARTERIAL),
        ("tertiary", RoadClass.COLLECTOR),
        ("residential", RoadClass.LOCAL),
        ("living_street", RoadClass.LOCAL),
        ("unclassified", RoadClass.LOCAL),
        ("service", None),
        ("footway", None),
        ("residential_link", None),
        (None, None),
    ],
)
def test_highway_class(highway: str | None, expected: RoadClass | None) -> None:
    assert highway_class(highway) is expected


def test_highway_class_keeps_service_on_request() -> None:
    assert highway_class("service", include_service=True) is RoadClass.LOCAL


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"oneway": "yes"}, (True, False)),
        ({"oneway": "1"}, (True, False)),
        ({"oneway": "true"}, (True, False)),
        ({"oneway": "-1"}, (True, True)),
        ({"oneway": "no"}, (False, False)),
        ({"oneway": "reversible"}, (False, False)),
        ({}, (False, False)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway", "oneway": "no"}, (False, False)),
        ({"junction": "roundabout"}, (True, False)),
    ],
)
def test_parse_oneway(tags: dict[str, str], expected: tuple[bool, bool]) -> None:
    assert parse_oneway(tags) == expected
