"""Pure payload mapping: IoT Agent JSON and UltraLight 2.0 to typed measures, and MQTT topics."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from smartcity.core.context.times import format_us, parse_datetime_us
from smartcity.core.ingest.mapping import (
    JSON_PROTOCOL,
    UL_PROTOCOL,
    AttrSpec,
    DeviceProfile,
    Measure,
    Rejected,
    command_failed,
    command_payload,
    parse_command_result,
    parse_json_payload,
    parse_payload,
    parse_ultralight,
    to_measures,
)
from smartcity.core.ingest.mqtt import TopicParts, parse_topic

RECEIVED_AT = "2026-03-01T12:00:00.000Z"
RECEIVED_US = parse_datetime_us(RECEIVED_AT)
MAX_FUTURE_US = 60 * 1_000_000
ENTITY = "urn:ngsi-ld:AirQualityObserved:station-1"


def profile(*specs: AttrSpec, explicit_attrs: bool = False) -> DeviceProfile:
    return DeviceProfile(
        device_id="station-1",
        apikey="k",
        entity_id=ENTITY,
        entity_type="AirQualityObserved",
        attrs={spec.object_id: spec for spec in specs},
        explicit_attrs=explicit_attrs,
    )


def measures(
    groups: list[dict[str, Any]], *specs: AttrSpec, explicit_attrs: bool = False
) -> list[Measure]:
    return to_measures(
        profile(*specs, explicit_attrs=explicit_attrs), groups, RECEIVED_US, MAX_FUTURE_US
    )


def one(spec_type: str, raw: Any) -> Measure:
    """The single measure of value `raw` for an attribute `x` declared as `spec_type`."""
    (measure,) = measures([{"x": raw}], AttrSpec("x", "x", spec_type))
    return measure


def rejected(spec_type: str, raw: Any) -> str:
    with pytest.raises(Rejected) as caught:
        one(spec_type, raw)
    return caught.value.reason


def by_name(items: list[Measure]) -> dict[str, Measure]:
    return {item.name: item for item in items}


# --- parse_json_payload ------------------------------------------------------------------


def test_json_object_is_one_group() -> None:
    assert parse_json_payload(b'{"t": 25.3, "h": 61}') == [{"t": 25.3, "h": 61}]


def test_json_array_is_several_groups() -> None:
    payload = b'[{"t": 25.3, "TimeInstant": "2026-03-01T11:00:00Z"}, {"t": 25.1}]'
    assert parse_json_payload(payload) == [
        {"t": 25.3, "TimeInstant": "2026-03-01T11:00:00Z"},
        {"t": 25.1},
    ]


@pytest.mark.parametrize(
    "payload",
    [b"[]", b'[{"t": 1}, 2]', b'["t"]', b"[null]", b"42", b'"text"', b"null", b"true"],
    ids=[
        "empty-array",
        "array-with-number",
        "array-of-strings",
        "array-of-null",
        "number",
        "string",
        "null",
        "boolean",
    ],
)
def test_json_payload_must_be_object_or_non_empty_array_of_objects(payload: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        parse_json_payload(payload)
    assert caught.value.reason == "payload must be a JSON object or a non-empty array of objects"


@pytest.mark.parametrize(
    "payload",
    [b"", b"{", b'{"t": 25.3,}', b"{'t': 1}", b'{"t": NaN}', b"\xff\xfe", b'{"t": 1e400}'],
    ids=["empty", "truncated", "trailing-comma", "single-quotes", "nan", "not-utf8", "inf"],
)
def test_malformed_json_is_rejected_with_reason(payload: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        parse_json_payload(payload)
    assert caught.value.reason.startswith("malformed JSON: ")
    assert str(caught.value) == caught.value.reason


def test_parse_payload_dispatches_on_protocol() -> None:
    assert parse_payload(UL_PROTOCOL, b"t|25") == [{"t": "25"}]
    assert parse_payload(JSON_PROTOCOL, b'{"t": 25}') == [{"t": 25}]
    assert parse_payload("anything-else", b'{"t": 25}') == [{"t": 25}]
    with pytest.raises(Rejected):
        parse_payload(JSON_PROTOCOL, b"t|25")


# --- parse_ultralight --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "groups"),
    [
        (b"t|25.3|h|61", [{"t": "25.3", "h": "61"}]),
        (b"t|25.3#h|61", [{"t": "25.3"}, {"h": "61"}]),
        (b"t|1#t|2#t|3", [{"t": "1"}, {"t": "2"}, {"t": "3"}]),
        (
            b"2026-03-01T11:00:00Z|t|25.3|h|61#t|25.1",
            [{"TimeInstant": "2026-03-01T11:00:00Z", "t": "25.3", "h": "61"}, {"t": "25.1"}],
        ),
        (b" t | 25.3 | s | ok \n", [{"t": "25.3", "s": "ok"}]),
        (b"t|25.3##h|61#", [{"t": "25.3"}, {"h": "61"}]),
        (b"s|open|c|A12", [{"s": "open", "c": "A12"}]),
        (
            b"a|-1.5|b|+2|c|.5|d|1e3|e|2.5E-2|f|3.",
            [{"a": "-1.5", "b": "+2", "c": ".5", "d": "1e3", "e": "2.5E-2", "f": "3."}],
        ),
        (
            b"a|nan|b|inf|c|1,5|d|1_000|e|0x10",
            [{"a": "nan", "b": "inf", "c": "1,5", "d": "1_000", "e": "0x10"}],
        ),
        (b"n|Ninh Ki\xe1\xbb\x81u|v|", [{"n": "Ninh Kiều", "v": ""}]),
    ],
    ids=[
        "pairs",
        "two-groups",
        "three-groups",
        "leading-timestamp",
        "whitespace",
        "empty-groups",
        "text",
        "number-forms",
        "not-numbers",
        "utf8-and-empty-value",
    ],
)
def test_parse_ultralight(payload: bytes, groups: list[dict[str, Any]]) -> None:
    assert parse_ultralight(payload) == groups


def test_ultralight_values_stay_text_until_their_type_is_known() -> None:
    (group,) = parse_ultralight(b"h|61|s|open")
    assert group == {"h": "61", "s": "open"}
    (h, s) = measures([group])
    assert (h.instance["value"], h.number) == (61, 61.0)
    assert s.instance["value"] == "open"


@pytest.mark.parametrize("payload", [b"", b"   ", b"\n\t"])
def test_empty_ultralight_payload_is_rejected(payload: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        parse_ultralight(payload)
    assert caught.value.reason == "empty UltraLight payload"


def test_non_utf8_ultralight_payload_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        parse_ultralight(b"t|\xff\xfe")
    assert caught.value.reason == "UltraLight payload is not UTF-8 text"


@pytest.mark.parametrize("payload", [b"|25.3", b"t|25.3||61", b"t|1# |2"])
def test_ultralight_empty_key_is_rejected(payload: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        parse_ultralight(payload)
    assert "empty key" in caught.value.reason


def test_ultralight_only_separators_gives_no_group_and_no_measure() -> None:
    assert parse_ultralight(b"#") == []
    with pytest.raises(Rejected) as caught:
        measures(parse_ultralight(b"##"))
    assert caught.value.reason == "no attribute values in the payload"


# --- to_measures: mapping ----------------------------------------------------------------


def test_object_id_maps_to_name_with_unit_code() -> None:
    result = measures(
        [{"t": 25.3, "h": 61}],
        AttrSpec("t", "temperature", "Number", "CEL"),
        AttrSpec("h", "relativeHumidity", "Number", "P1"),
    )
    assert result == [
        Measure(
            name="temperature",
            instance={
                "type": "Property",
                "value": 25.3,
                "observedAt": RECEIVED_AT,
                "unitCode": "CEL",
            },
            observed_us=RECEIVED_US,
            number=25.3,
        ),
        Measure(
            name="relativeHumidity",
            instance={"type": "Property", "value": 61, "observedAt": RECEIVED_AT, "unitCode": "P1"},
            observed_us=RECEIVED_US,
            number=61.0,
        ),
    ]


def test_instance_without_unit_code_has_no_unit_code_member() -> None:
    measure = one("Number", 25.3)
    assert measure.instance == {"type": "Property", "value": 25.3, "observedAt": RECEIVED_AT}


def test_unmapped_keys_pass_through_with_inferred_types() -> None:
    group = {
        "t": 25.3,
        "count": 7,
        "on": True,
        "label": "north gate",
        "extra": {"a": [1, 2]},
        "list": [1, 2],
    }
    result = by_name(measures([group], AttrSpec("t", "temperature")))
    assert set(result) == {"temperature", "count", "on", "label", "extra", "list"}
    assert result["count"].instance["value"] == 7
    assert result["count"].number == 7.0
    assert result["on"].instance["value"] is True
    assert result["on"].number is None
    assert result["label"].instance["value"] == "north gate"
    assert result["label"].number is None
    assert result["extra"].instance == {
        "type": "Property",
        "value": {"a": [1, 2]},
        "observedAt": RECEIVED_AT,
    }
    assert result["list"].instance["value"] == [1, 2]
    assert all("unitCode" not in item.instance for item in result.values())


def test_explicit_attrs_drops_unmapped_keys() -> None:
    result = measures(
        [{"t": 25.3, "debug": "x", "rssi": -71}],
        AttrSpec("t", "temperature", unit_code="CEL"),
        explicit_attrs=True,
    )
    assert [item.name for item in result] == ["temperature"]


def test_explicit_attrs_with_no_mapped_key_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"debug": "x"}], AttrSpec("t", "temperature"), explicit_attrs=True)
    assert caught.value.reason == "no attribute values in the payload"


def test_groups_keep_their_order() -> None:
    result = measures([{"t": 1}, {"t": 2}], AttrSpec("t", "temperature"))
    assert [item.instance["value"] for item in result] == [1, 2]


# --- to_measures: time -------------------------------------------------------------------


def test_time_instant_applies_to_its_group_only_and_is_not_an_attribute() -> None:
    stamp = "2026-03-01T11:30:00Z"
    result = measures(
        [{"t": 25.3, "TimeInstant": stamp}, {"t": 25.1}], AttrSpec("t", "temperature")
    )
    assert [item.name for item in result] == ["temperature", "temperature"]
    first, second = result
    assert first.observed_us == parse_datetime_us(stamp)
    assert first.instance["observedAt"] == "2026-03-01T11:30:00.000Z"
    assert second.observed_us == RECEIVED_US
    assert second.instance["observedAt"] == RECEIVED_AT


@pytest.mark.parametrize("key", ["TimeInstant", "timeInstant", "observedAt"])
def test_timestamp_keys_set_the_time_and_are_not_stored(key: str) -> None:
    (measure,) = measures([{key: "2026-03-01T11:00:00+07:00", "t": 1}])
    assert measure.name == "t"
    assert measure.instance["observedAt"] == "2026-03-01T04:00:00.000Z"
    assert measure.observed_us == parse_datetime_us("2026-03-01T04:00:00Z")


def test_receive_time_is_used_without_time_instant() -> None:
    (measure,) = measures([{"t": 1}])
    assert measure.observed_us == RECEIVED_US
    assert measure.instance["observedAt"] == format_us(RECEIVED_US)


def test_ultralight_leading_timestamp_becomes_observed_at() -> None:
    groups = parse_ultralight(b"2026-03-01T11:00:00Z|t|25.3#t|25.1")
    first, second = measures(groups, AttrSpec("t", "temperature", "Number"))
    assert first.instance["observedAt"] == "2026-03-01T11:00:00.000Z"
    assert second.instance["observedAt"] == RECEIVED_AT


def test_null_time_instant_means_receive_time() -> None:
    (measure,) = measures([{"t": 1, "TimeInstant": None}])
    assert measure.name == "t"
    assert measure.observed_us == RECEIVED_US


def test_time_instant_within_max_future_is_accepted() -> None:
    stamp = format_us(RECEIVED_US + MAX_FUTURE_US)
    (measure,) = measures([{"t": 1, "TimeInstant": stamp}])
    assert measure.observed_us == RECEIVED_US + MAX_FUTURE_US


def test_time_instant_beyond_max_future_is_rejected() -> None:
    stamp = format_us(RECEIVED_US + MAX_FUTURE_US + 3_600 * 1_000_000)
    with pytest.raises(Rejected) as caught:
        measures([{"t": 1}, {"t": 1, "TimeInstant": stamp}])
    assert "future" in caught.value.reason
    assert stamp in caught.value.reason


@pytest.mark.parametrize(
    "stamp", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01T25:00:00Z", "", 1767225600]
)
def test_invalid_time_instant_is_rejected(stamp: Any) -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"t": 1, "TimeInstant": stamp}])
    assert "TimeInstant" in caught.value.reason
    assert "ISO 8601" in caught.value.reason


def test_payload_with_only_time_instant_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"TimeInstant": "2026-03-01T11:00:00Z"}], AttrSpec("t", "temperature"))
    assert caught.value.reason == "no attribute values in the payload"


def test_empty_group_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        measures([{}])
    assert caught.value.reason == "no attribute values in the payload"


# --- to_measures: type checks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_type", "raw", "value"),
    [
        ("Number", 35.5, 35.5),
        ("Number", 35, 35),
        ("Number", "35.5", 35.5),
        ("Number", "35,5", 35.5),
        ("Number", " 35.5 ", 35.5),
        ("Number", "-2", -2),
        ("Number", "-.5", -0.5),
        ("Float", "1.25", 1.25),
        ("Double", 1e-3, 1e-3),
        ("number", 0, 0),
        ("Integer", 42, 42),
        ("Integer", "42", 42),
        ("Integer", 61.0, 61),
        ("Integer", "2.0", 2),
        ("integer", -3, -3),
    ],
)
def test_number_types_accept(spec_type: str, raw: Any, value: float) -> None:
    measure = one(spec_type, raw)
    assert measure.instance["type"] == "Property"
    assert measure.instance["value"] == value
    assert type(measure.instance["value"]) is type(value)
    assert measure.number == float(value)
    assert type(measure.number) is float


@pytest.mark.parametrize(
    ("spec_type", "raw"),
    [
        ("Integer", 1.5),
        ("Integer", "1.5"),
        ("Integer", "1,5"),
        ("Number", "abc"),
        ("Number", ""),
        ("Number", "1.2.3"),
        ("Number", "1,234.5"),
        ("Number", True),
        ("Number", False),
        ("Integer", True),
        ("Number", None),
        ("Number", [1]),
        ("Number", {"value": 1}),
        ("Number", math.nan),
        ("Number", math.inf),
        ("Number", -math.inf),
        ("Number", "nan"),
        ("Number", "NaN"),
        ("Number", "inf"),
        ("Number", "-Infinity"),
        ("Number", "nan,"),
        ("Integer", math.nan),
    ],
)
def test_number_types_reject(spec_type: str, raw: Any) -> None:
    reason = rejected(spec_type, raw)
    # A numeric string that parses but is no Integer is shown parsed ("1,5" as 1.5).
    assert reason.startswith(f"attribute x: expected {spec_type}, got ")
    if not isinstance(raw, str) or spec_type == "Number":
        assert reason == f"attribute x: expected {spec_type}, got {raw!r}"


@pytest.mark.parametrize(
    "raw",
    [
        "1e3",
        "2.5E-2",
        "-1.5e+2",
    ],
)
def test_number_accepts_exponent_strings(raw: str) -> None:
    assert one("Number", raw).instance["value"] == float(raw)


@pytest.mark.parametrize("raw", ["1_000", "1_000.5", "١٢"])
def test_number_rejects_python_only_number_strings(raw: str) -> None:
    rejected("Number", raw)


def test_rejection_reason_is_truncated() -> None:
    reason = rejected("Number", "x" * 500)
    assert reason.startswith("attribute x: expected Number, got 'xxx")
    assert len(reason) == len("attribute x: expected Number, got ") + 80


def test_rejection_reason_names_the_object_id() -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"t": "warm"}], AttrSpec("t", "temperature", "Number"))
    assert caught.value.reason == "attribute t: expected Number, got 'warm'"


def test_one_bad_value_rejects_the_whole_payload() -> None:
    with pytest.raises(Rejected):
        measures([{"t": 25.3}, {"t": "warm"}], AttrSpec("t", "temperature"))


@pytest.mark.parametrize(
    ("spec_type", "raw", "value"),
    [
        ("Boolean", True, True),
        ("Boolean", False, False),
        ("Boolean", "true", True),
        ("Boolean", "TRUE", True),
        ("boolean", "False", False),
        ("Bool", 1, True),
        ("Boolean", 0, False),
        ("Boolean", 1.0, True),
    ],
)
def test_boolean_accepts(spec_type: str, raw: Any, value: bool) -> None:
    measure = one(spec_type, raw)
    assert measure.instance["value"] is value
    assert measure.number is None


@pytest.mark.parametrize("raw", ["yes", "1", "on", "", 2, -1, 0.5, None, [True], {"v": True}])
def test_boolean_rejects(raw: Any) -> None:
    assert rejected("Boolean", raw).startswith("attribute x: expected Boolean, got ")


@pytest.mark.parametrize(
    ("spec_type", "raw", "value"),
    [
        ("Text", "north gate", "north gate"),
        ("Text", "", ""),
        ("Text", 12, "12"),
        ("Text", 12.0, "12.0"),
        ("Text", 12.5, "12.5"),
        ("String", -3, "-3"),
        ("string", "Ninh Kiều", "Ninh Kiều"),
        ("text", "A12", "A12"),
    ],
)
def test_text_accepts(spec_type: str, raw: Any, value: str) -> None:
    measure = one(spec_type, raw)
    assert measure.instance["value"] == value
    assert measure.number is None


@pytest.mark.parametrize("raw", [{"a": 1}, [1, 2], None])
def test_text_rejects_structured_values_and_null(raw: Any) -> None:
    assert rejected("Text", raw) == f"attribute x: expected Text, got {raw!r}"


def test_ultralight_number_declared_text_keeps_its_digits() -> None:
    result = measures(parse_ultralight(b"c|12|s|A12"), AttrSpec("c", "code", "Text"))
    assert [item.instance["value"] for item in result] == ["12", "A12"]


def test_ultralight_text_keeps_leading_zeros_and_trailing_decimals() -> None:
    result = measures(
        parse_ultralight(b"c|007|v|1.50"),
        AttrSpec("c", "code", "Text"),
        AttrSpec("v", "version", "Text"),
    )
    assert [item.instance["value"] for item in result] == ["007", "1.50"]


def test_text_from_boolean_uses_json_spelling() -> None:
    assert one("Text", True).instance["value"] == "true"


@pytest.mark.parametrize(
    ("raw", "coordinates"),
    [
        ("10.03, 105.78", [105.78, 10.03]),
        ("10.03,105.78", [105.78, 10.03]),
        (" -33.9 , 151.2 ", [151.2, -33.9]),
        ("90, 180", [180.0, 90.0]),
        ("-90, -180", [-180.0, -90.0]),
        ("0,0", [0.0, 0.0]),
    ],
)
def test_geo_point_lat_lon_text_becomes_geojson_point_lon_lat(
    raw: str, coordinates: list[float]
) -> None:
    measure = one("geo:point", raw)
    assert measure.instance == {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": coordinates},
        "observedAt": RECEIVED_AT,
    }
    assert measure.number is None


def test_geo_point_accepts_geojson_point() -> None:
    point = {"type": "Point", "coordinates": [105.78, 10.03]}
    assert one("geo:point", point).instance["value"] == point


@pytest.mark.parametrize(
    "raw",
    [
        "90.1, 0",
        "-90.1, 0",
        "0, 180.5",
        "0, -181",
        "nan, nan",
        "inf, 0",
        "10.03",
        "10.03, 105.78, 3",
        "north, east",
        "",
        10.03,
        [10.03, 105.78],
        {"type": "Polygon", "coordinates": []},
        None,
    ],
)
def test_geo_point_rejects(raw: Any) -> None:
    assert rejected("geo:point", raw).startswith("attribute x: expected geo:point, got ")


@pytest.mark.parametrize(
    "raw",
    [{"type": "Point"}, {"type": "Point", "coordinates": [200, 95]}, {"type": "Point", "x": 1}],
)
def test_geo_point_rejects_invalid_geojson_point(raw: dict[str, Any]) -> None:
    rejected("geo:point", raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "Point", "coordinates": [105.78, 10.03]},
        {"type": "LineString", "coordinates": [[105.78, 10.03], [105.79, 10.04]]},
    ],
)
def test_geo_json_accepts_geometry(raw: dict[str, Any]) -> None:
    measure = one("geo:json", raw)
    assert measure.instance["type"] == "GeoProperty"
    assert measure.instance["value"] == raw


@pytest.mark.parametrize(
    "raw",
    [
        {"coordinates": [1, 2]},
        {"type": "Point"},
        {"type": 1, "coordinates": [1, 2]},
        "10.03, 105.78",
        [105.78, 10.03],
    ],
)
def test_geo_json_rejects(raw: Any) -> None:
    assert rejected("geo:json", raw).startswith("attribute x: expected geo:json, got ")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("2026-03-01T11:00:00Z", "2026-03-01T11:00:00.000Z"),
        ("2026-03-01T18:00:00.25+07:00", "2026-03-01T11:00:00.250Z"),
        ("2026-03-01T11:00:00", "2026-03-01T11:00:00.000Z"),
    ],
)
def test_datetime_is_normalized(raw: str, normalized: str) -> None:
    measure = one("DateTime", raw)
    assert measure.instance["type"] == "Property"
    assert measure.instance["value"] == {"@type": "DateTime", "@value": normalized}
    assert measure.number is None


@pytest.mark.parametrize("raw", ["soon", "2026-02-30T00:00:00Z", 1767225600, None])
def test_datetime_rejects(raw: Any) -> None:
    assert rejected("DateTime", raw).startswith("attribute x: expected DateTime, got ")


def test_relationship_uses_object_member() -> None:
    target = "urn:ngsi-ld:Building:b1"
    measure = one("Relationship", target)
    assert measure.instance == {
        "type": "Relationship",
        "object": target,
        "observedAt": RECEIVED_AT,
    }
    assert measure.number is None


@pytest.mark.parametrize("raw", ["b1", "not a uri", "", 12, None, {"object": "urn:x:y"}])
def test_relationship_needs_a_uri(raw: Any) -> None:
    assert rejected("Relationship", raw).startswith("attribute x: expected Relationship, got ")


@pytest.mark.parametrize(
    ("spec_type", "raw"),
    [("StructuredValue", {"a": [1]}), ("Json", [1, "two"]), ("MyCustomType", "anything")],
)
def test_other_declared_types_pass_the_value_through(spec_type: str, raw: Any) -> None:
    measure = one(spec_type, raw)
    assert measure.instance["type"] == "Property"
    assert measure.instance["value"] == raw
    assert measure.number is None


@pytest.mark.parametrize(
    "name", ["air temp", "a=b", "a;b", "a(b)", "a[0]", "a&b", "a?b", "a|b", "a,b", "a*", "'a'"]
)
def test_forbidden_attribute_name_is_rejected(name: str) -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"t": 1}], AttrSpec("t", name))
    assert caught.value.reason == f"attribute name {name!r} is not allowed in NGSI-LD"


def test_forbidden_unmapped_key_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        measures([{"bad key": 1}])
    assert "not allowed in NGSI-LD" in caught.value.reason


def test_forbidden_unmapped_key_is_ignored_with_explicit_attrs() -> None:
    result = measures([{"t": 1, "bad key": 1}], AttrSpec("t", "temperature"), explicit_attrs=True)
    assert [item.name for item in result] == ["temperature"]


# --- commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        ("on", b'{"reboot":"on"}'),
        (5, b'{"reboot":5}'),
        ({"delay": 5}, b'{"reboot":{"delay":5}}'),
        (None, b'{"reboot":null}'),
    ],
)
def test_json_command_payload(value: Any, payload: bytes) -> None:
    out = command_payload(JSON_PROTOCOL, "station-1", "reboot", value)
    assert out == payload
    assert orjson.loads(out) == {"reboot": value}


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        ("on", b"station-1@reboot|on"),
        ("", b"station-1@reboot|"),
        (5, b"station-1@reboot|5"),
        (True, b"station-1@reboot|true"),
        ({"delay": 5}, b'station-1@reboot|{"delay":5}'),
        ("Ninh Kiều", "station-1@reboot|Ninh Kiều".encode()),
    ],
)
def test_ultralight_command_payload(value: Any, payload: bytes) -> None:
    assert command_payload(UL_PROTOCOL, "station-1", "reboot", value) == payload


@pytest.mark.parametrize(
    ("payload", "result"),
    [
        (b'{"reboot": "OK"}', {"reboot": "OK"}),
        (b'[{"reboot": {"error": "busy"}}]', {"reboot": {"error": "busy"}}),
    ],
)
def test_json_command_result(payload: bytes, result: dict[str, Any]) -> None:
    assert parse_command_result(JSON_PROTOCOL, payload) == result


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'[{"a": 1}, {"b": 2}]', "a command result must be one JSON object"),
        (b"[]", "payload must be a JSON object or a non-empty array of objects"),
        (b'"OK"', "payload must be a JSON object or a non-empty array of objects"),
    ],
)
def test_json_command_result_must_be_one_object(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_command_result(JSON_PROTOCOL, payload)
    assert caught.value.reason == reason


def test_malformed_json_command_result_is_rejected() -> None:
    with pytest.raises(Rejected) as caught:
        parse_command_result(JSON_PROTOCOL, b"reboot|OK")
    assert caught.value.reason.startswith("malformed JSON: ")


@pytest.mark.parametrize(
    ("payload", "result"),
    [
        (b"station-1@reboot|OK", {"reboot": "OK"}),
        (b"  station-1@reboot|ERROR: busy \n", {"reboot": "ERROR: busy"}),
        (b"station-1@set|a|b", {"set": "a|b"}),
        (b"station-1@reboot|", {"reboot": ""}),
        (b"station-1@reboot", {"reboot": ""}),
    ],
)
def test_ultralight_command_result(payload: bytes, result: dict[str, Any]) -> None:
    assert parse_command_result(UL_PROTOCOL, payload) == result


@pytest.mark.parametrize(
    "payload", [b"reboot|OK", b"station-1@|OK", b"", b"OK", b'{"reboot": "OK"}']
)
def test_malformed_ultralight_command_result_is_rejected(payload: bytes) -> None:
    with pytest.raises(Rejected) as caught:
        parse_command_result(UL_PROTOCOL, payload)
    assert "is not dev@command|result" in caught.value.reason


def test_non_utf8_ultralight_command_result_is_decoded_with_replacement() -> None:
    assert parse_command_result(UL_PROTOCOL, b"d@c|\xff") == {"c": "\ufffd"}


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        ({"error": "busy"}, True),
        ({"error": None}, True),
        ({"status": "OK"}, False),
        ({}, False),
        ("ERROR", True),
        ("ERROR: busy", True),
        ("error: busy", True),
        ("Error", True),
        ("OK", False),
        ("", False),
        ("no ERROR", False),
        (None, False),
        (0, False),
        (["ERROR"], False),
    ],
)
def test_command_failed(result: Any, failed: bool) -> None:
    assert command_failed(result) is failed


# --- parse_topic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "parts"),
    [
        ("/json/k/d/attrs", TopicParts("k", "d", "attrs", JSON_PROTOCOL)),
        ("/ul/k/d/attrs", TopicParts("k", "d", "attrs", UL_PROTOCOL)),
        ("/k/d/attrs", TopicParts("k", "d", "attrs", None)),
        ("/k/d/cmdexe", TopicParts("k", "d", "cmdexe", None)),
        ("/json/k/d/cmdexe", TopicParts("k", "d", "cmdexe", JSON_PROTOCOL)),
        ("/ul/k/d/cmdexe", TopicParts("k", "d", "cmdexe", UL_PROTOCOL)),
        ("/json/d/attrs", TopicParts("json", "d", "attrs", None)),
    ],
)
def test_parse_topic(topic: str, parts: TopicParts) -> None:
    assert parse_topic(topic) == parts


@pytest.mark.parametrize(
    "topic",
    [
        "/k/d/other",
        "/k/d/cmd",
        "/json/k/d/cmd",
        "/k/d/ATTRS",
        "k/d/attrs",
        "json/k/d/attrs",
        "/a/b/c/d/e/f",
        "/xml/k/d/attrs",
        "/k/d/attrs/",
        "/k/d",
        "",
        "/",
        "//d/attrs",
        "/k//attrs",
        "/k/d/",
        "/json//d/attrs",
        "/ul/k//attrs",
        "///",
        "////",
    ],
)
def test_parse_topic_rejects_other_topics(topic: str) -> None:
    assert parse_topic(topic) is None
