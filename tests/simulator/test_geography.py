"""Cần Thơ's geography: the 103 wards, landmarks, and their NGSI-LD entities."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point, shape

from smartcity.core.context.jsonld import ContextResolver
from smartcity.core.context.model import LOCATION_IRI, parse_entity
from smartcity.core.context.times import now_us
from smartcity.simulator import geography
from smartcity.simulator.geography import (
    CITY_AREA_KM2,
    CITY_ID,
    Ward,
    boundary_updates,
    city_entity,
    landmarks,
    nearest_ward,
    ward_by_code,
    ward_entity,
    ward_id,
    wards,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cantho"


def shared_file(name: str) -> Path:
    """A file of the shared Cần Thơ data, or a loud skip when ../shared is absent."""
    path = SHARED / name
    if not path.is_file():
        message = f"shared data {path} is absent: test skipped"
        print(message)
        pytest.skip(message)
    return path


def load_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared_file(name).read_text(encoding="utf-8"))
    return data


def csv_rows() -> dict[str, dict[str, str]]:
    with shared_file("wards-2025.csv").open(encoding="utf-8", newline="") as handle:
        return {row["wardCode"]: row for row in csv.DictReader(handle)}


def test_103_wards_31_phuong_72_xa_unique_codes() -> None:
    all_wards = wards()
    assert len(all_wards) == 103
    assert sum(w.kind == "phuong" for w in all_wards) == 31
    assert sum(w.kind == "xa" for w in all_wards) == 72
    assert len({w.code for w in all_wards}) == 103
    assert wards() is all_wards  # cached


def test_names_match_kind() -> None:
    for ward in wards():
        prefix = "Phường " if ward.kind == "phuong" else "Xã "
        assert ward.name == prefix + ward.short_name


def test_kind_follows_the_official_name_where_the_dataset_type_is_swapped() -> None:
    # vietnamadminunits 1.0.4 types these two the other way round; the VPD boundaries agree
    # with the names.
    assert ward_by_code("31213").kind == "phuong"
    assert ward_by_code("31299").kind == "xa"
    collection = load_json("wards-old-cantho.geojson")
    full_names = {
        f["properties"]["code"]: f["properties"]["fullName"] for f in collection["features"]
    }
    assert full_names["31213"] == ward_by_code("31213").name
    assert full_names["31299"] == ward_by_code("31299").name


def test_every_centre_inside_the_province_polygon() -> None:
    province = load_json("province.geojson")
    (feature,) = province["features"]
    assert feature["properties"]["code"] == "92"
    polygon = shape(feature["geometry"])
    outside = [w.code for w in wards() if not polygon.contains(Point(w.lon, w.lat))]
    assert outside == []


def test_city_area_matches_the_province_file() -> None:
    province = load_json("province.geojson")
    assert province["features"][0]["properties"]["areaKm2"] == pytest.approx(CITY_AREA_KM2)


def test_ninh_kieu_matches_the_csv() -> None:
    row = csv_rows()["31135"]
    ninh_kieu = ward_by_code("31135")
    assert ninh_kieu == Ward(
        code="31135",
        name="Phường Ninh Kiều",
        short_name="Ninh Kiều",
        kind="phuong",
        lat=float(row["wardLat"]),
        lon=float(row["wardLon"]),
        area_km2=float(row["wardAreaKm2"]),
    )


def test_every_ward_matches_the_csv() -> None:
    rows = csv_rows()
    assert set(rows) == {w.code for w in wards()}
    for ward in wards():
        row = rows[ward.code]
        assert (ward.name, ward.short_name) == (row["ward"], row["wardShort"])
        assert (ward.lat, ward.lon) == (float(row["wardLat"]), float(row["wardLon"]))
        assert ward.area_km2 == float(row["wardAreaKm2"])


def test_landmarks_lie_in_plausible_wards() -> None:
    by_key = {landmark.key: landmark for landmark in landmarks()}
    expected = {
        "ninh-kieu-wharf": {"Ninh Kiều", "Cái Khế"},
        "cai-rang-floating-market": {"Cái Răng", "Hưng Phú"},
        "can-tho-airport": {"Thới An Đông", "Long Tuyền", "Bình Thủy"},
        "tra-noc-1-iz": {"Thới An Đông", "Bình Thủy"},
        "tra-noc-2-iz": {"Phước Thới"},
        "vsip-can-tho": {"Vĩnh Trinh", "Vĩnh Thạnh"},
        "can-tho-bridge": {"Hưng Phú", "Cái Răng"},
    }
    assert set(by_key) == set(expected)
    for key, names in expected.items():
        landmark = by_key[key]
        assert landmark.ward_code is not None
        assert ward_by_code(landmark.ward_code).short_name in names, key
        # Within a few kilometres of that ward's centre: no coordinate is wildly off.
        ward = ward_by_code(landmark.ward_code)
        assert geography.distance_km(landmark.lat, landmark.lon, ward.lat, ward.lon) < 10, key


def test_landmarks_inside_their_ward_boundary() -> None:
    collection = load_json("wards-old-cantho.geojson")
    polygons = {f["properties"]["code"]: shape(f["geometry"]) for f in collection["features"]}
    for landmark in landmarks():
        assert landmark.ward_code in polygons, landmark.key
        assert polygons[landmark.ward_code].contains(Point(landmark.lon, landmark.lat)), (
            landmark.key
        )


def test_nearest_ward_of_each_centre_is_itself() -> None:
    for ward in wards():
        assert nearest_ward(ward.lat, ward.lon) == ward


def test_nearest_ward_of_a_point_near_ninh_kieu() -> None:
    assert nearest_ward(10.0340, 105.7790).short_name == "Ninh Kiều"


def _parse(entity: dict[str, Any]) -> Any:
    return parse_entity(entity, ContextResolver().resolve(None), now_us())


def test_ward_entity_round_trips_through_the_ngsi_ld_parser() -> None:
    ward = ward_by_code("31135")
    entity = ward_entity(ward)
    assert entity["id"] == "urn:ngsi-ld:AdministrativeArea:VN-92-31135"
    parsed = _parse(entity)
    assert parsed.id == entity["id"]
    assert parsed.type.endswith("AdministrativeArea")
    values = {iri.rsplit("/", 1)[-1]: instances[0] for iri, instances in parsed.attrs.items()}
    assert values["name"]["value"] == "Phường Ninh Kiều"
    assert values["alternateName"]["value"] == "Ninh Kiều"
    assert values["areaType"]["value"] == "phuong"
    assert values["areaKm2"]["value"] == ward.area_km2
    assert values["code"]["value"] == "31135"
    assert values["containedInPlace"] == {
        **values["containedInPlace"],
        "type": "Relationship",
        "object": CITY_ID,
    }
    location = parsed.attrs[LOCATION_IRI][0]
    assert location["type"] == "GeoProperty"
    assert location["value"] == {"type": "Point", "coordinates": [ward.lon, ward.lat]}


def test_every_ward_entity_parses() -> None:
    ids = {_parse(ward_entity(ward)).id for ward in wards()}
    assert len(ids) == 103


def test_city_entity_parses() -> None:
    entity = city_entity()
    parsed = _parse(entity)
    assert parsed.id == CITY_ID
    assert entity["areaKm2"]["value"] == CITY_AREA_KM2
    assert entity["code"]["value"] == "92"
    assert entity["name"]["value"] == "Thành phố Cần Thơ"


def test_boundary_updates_for_the_32_wards() -> None:
    updates, problems = boundary_updates(load_json("wards-old-cantho.geojson"))
    assert problems == []
    assert len(updates) == 32
    assert {u["id"] for u in updates} <= {ward_id(w.code) for w in wards()}
    for update in updates:
        assert update["location"]["value"]["type"] in ("Polygon", "MultiPolygon")
        # The fragment is a valid NGSI-LD entity: the broker would accept it as it is.
        assert _parse(update).id == update["id"]


def test_boundary_updates_for_the_province() -> None:
    updates, problems = boundary_updates(load_json("province.geojson"))
    assert problems == []
    assert [u["id"] for u in updates] == [CITY_ID]
    assert updates[0]["location"]["value"]["type"] == "MultiPolygon"


SQUARE = [[[105.77, 10.03], [105.78, 10.03], [105.78, 10.04], [105.77, 10.04], [105.77, 10.03]]]
BOWTIE = [[[105.77, 10.03], [105.78, 10.04], [105.78, 10.03], [105.77, 10.04], [105.77, 10.03]]]


def _feature(code: Any, geometry: Any) -> dict[str, Any]:
    properties = {} if code is None else {"code": code}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def test_bad_features_become_problems_not_exceptions() -> None:
    polygon = {"type": "Polygon", "coordinates": SQUARE}
    collection = {
        "type": "FeatureCollection",
        "features": [
            _feature("31135", polygon),
            _feature(None, polygon),
            _feature("99999", polygon),
            _feature("31120", {"type": "Point", "coordinates": [105.78, 10.05]}),
            _feature("31147", {"type": "Polygon"}),
            _feature("31150", {"type": "Polygon", "coordinates": [[[105.7, "x"]]]}),
            _feature("31153", {"type": "Polygon", "coordinates": BOWTIE}),
            _feature("31162", None),
            _feature("31135", polygon),
            "not a feature",
        ],
    }
    updates, problems = boundary_updates(collection)
    assert [u["id"] for u in updates] == [ward_id("31135")]
    assert len(problems) == 9
    text = "\n".join(problems)
    assert "feature 1: no properties.code" in text
    assert "'99999' is not Cần Thơ" in text
    assert "'Point' is not Polygon or MultiPolygon" in text
    assert "'31147': geometry has no coordinates" in text
    assert "'31150': invalid GeoJSON geometry" in text
    assert "'31153': invalid GeoJSON geometry" in text  # self-intersection
    assert "'31162': no geometry" in text
    assert "feature 8: code '31135' appears more than once" in text
    assert "feature 9: not a GeoJSON Feature" in text


def test_not_a_feature_collection_is_a_problem() -> None:
    updates, problems = boundary_updates({"type": "Feature"})
    assert updates == []
    assert problems == ["not a GeoJSON FeatureCollection with a list of features"]
