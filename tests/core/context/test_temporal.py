"""Temporal API service: history, timerel, lastN, temporalValues and aggregations.

Runs on SQLite and PostgreSQL through the shared `database` fixture (tests/conftest.py).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from smartcity.core.context import model
from smartcity.core.context.errors import BadRequestData, ResourceNotFound, TooManyResults
from smartcity.core.context.model import Attrs
from smartcity.core.context.service import ContextBroker
from smartcity.core.context.temporal import (
    INSTANCE_ID_PREFIX,
    TemporalQuery,
    TemporalService,
    parse_temporal_params,
)
from smartcity.core.context.times import format_us, now_us, parse_datetime_us
from smartcity.core.db import Database

BASE = "https://uri.etsi.org/ngsi-ld/default-context/"
HOUR = 3_600_000_000
T0 = parse_datetime_us("2024-01-30T00:00:00Z")
SENSOR = "urn:ngsi-ld:Sensor:1"


class Ctx:
    """A minimal term mapper: the default context's vocabulary only."""

    def expand(self, term: str) -> str:
        """Prefix a short name with the default-context base."""
        return term if ":" in term else BASE + term

    def compact(self, iri: str) -> str:
        """Strip the default-context base."""
        return iri.removeprefix(BASE)


CTX = Ctx()


def at(value: int) -> int:
    """The instant of value `value` in the 1..10 series: one every 12 hours from T0."""
    return T0 + (value - 1) * 12 * HOUR


def iso(us: int) -> str:
    """Canonical text of an instant."""
    return format_us(us)


def prop(value: Any, observed: int | None = None) -> dict[str, Any]:
    """A Property payload, with observedAt when given."""
    body: dict[str, Any] = {"type": "Property", "value": value}
    if observed is not None:
        body["observedAt"] = iso(observed)
    return body


def series(name: str, points: list[tuple[Any, int]], kind: str = "Property") -> Attrs:
    """Stored instances of one attribute, one per (value, instant)."""
    key = model.VALUE_KEYS[kind]
    return {
        CTX.expand(name): [
            model.parse_instance(name, {"type": kind, key: v, "observedAt": iso(t)}, CTX, now_us())
            for v, t in points
        ]
    }


def tq(**kwargs: Any) -> TemporalQuery:
    """A TemporalQuery with everything defaulted to 'no restriction'."""
    base: dict[str, Any] = {"timerel": None, "time_at_us": None, "end_time_at_us": None}
    base["last_n"] = None
    base.update(kwargs)
    return TemporalQuery(**base)


def params(**kwargs: Any) -> TemporalQuery:
    """parse_temporal_params with keyword arguments (all default to absent)."""
    names = ("timerel", "timeAt", "endTimeAt", "lastN", "aggrMethods", "aggrPeriodDuration")
    args = [kwargs.get(name) for name in names]
    return parse_temporal_params(*args, kwargs.get("options"))


def create_sensor(broker: ContextBroker, values: range, entity_id: str = SENSOR) -> None:
    """Create an entity, then update its temperature once per further value."""
    first, *rest = values
    body = {"id": entity_id, "type": "Sensor", "temperature": prop(first, at(first))}
    broker.create(model.parse_entity(body, CTX, now_us()))
    for value in rest:
        fragment = {"temperature": prop(value, at(value))}
        broker.append_attrs(
            entity_id, model.parse_fragment(fragment, CTX, now_us(), allow_null=False)
        )


@pytest.fixture
def temporal(database: Database) -> TemporalService:
    """A temporal service over the test database."""
    return TemporalService(database)


@pytest.fixture
def sensor(database: Database) -> str:
    """An entity whose temperature took the values 1..10, one every 12 hours from T0."""
    create_sensor(ContextBroker(database), range(1, 11))
    return SENSOR


def values_of(entity: dict[str, Any], name: str = "temperature") -> list[Any]:
    """The values of an attribute's instances in a normalized temporal entity."""
    return [instance["value"] for instance in entity.get(name, [])]


def aggregated(temporal: TemporalService, name: str = "temperature", **kwargs: Any) -> Any:
    """The aggregated representation of one attribute of the sensor."""
    methods = kwargs.pop("methods", ["avg"])
    query = tq(mode="aggregatedValues", aggr_methods=methods, **kwargs)
    return temporal.entity(SENSOR, query, CTX).get(name)


def triples(starts: list[str], period_us: int, numbers: list[Any]) -> list[list[Any]]:
    """[value, start, end] triples of fixed-length periods."""
    return [
        [number, start, iso(parse_datetime_us(start) + period_us)]
        for number, start in zip(numbers, starts, strict=True)
    ]


DAYS = [f"2024-01-{d}T00:00:00.000Z" for d in (30, 31)] + [
    f"2024-02-0{d}T00:00:00.000Z" for d in (1, 2, 3)
]
DAY = 24 * HOUR


# --- normalized history ---------------------------------------------------------------------


def test_normalized_history_after_updates(temporal: TemporalService, database: Database) -> None:
    create_sensor(ContextBroker(database), range(1, 5))
    entity = temporal.entity(SENSOR, tq(), CTX)
    assert entity["id"] == SENSOR
    assert entity["type"] == "Sensor"
    assert values_of(entity) == [1, 2, 3, 4]
    instances = entity["temperature"]
    assert [i["observedAt"] for i in instances] == [iso(at(v)) for v in range(1, 5)]
    assert all(i["type"] == "Property" and "createdAt" not in i for i in instances)
    ids = [i["instanceId"] for i in instances]
    assert all(i.startswith(INSTANCE_ID_PREFIX) for i in ids) and len(set(ids)) == 4


def test_sys_attrs_show_created_at(temporal: TemporalService, sensor: str) -> None:
    entity = temporal.entity(sensor, tq(), CTX, sys_attrs=True)
    assert all("createdAt" in i and "modifiedAt" in i for i in entity["temperature"])


def test_instance_without_observed_at_gets_the_write_time(
    temporal: TemporalService, database: Database
) -> None:
    before = now_us()
    body = {"id": SENSOR, "type": "Sensor", "temperature": prop(20), "name": prop("a")}
    ContextBroker(database).create(model.parse_entity(body, CTX, now_us()))
    entity = temporal.entity(SENSOR, tq(), CTX)
    observed = parse_datetime_us(entity["temperature"][0]["observedAt"])
    assert before - 1000 <= observed <= now_us()
    assert values_of(entity, "name") == ["a"]


def test_sub_attributes_are_compacted(temporal: TemporalService, database: Database) -> None:
    attr = {**prop(5, at(1)), "accuracy": prop(0.5)}
    body = {"id": SENSOR, "type": "Sensor", "temperature": attr}
    ContextBroker(database).create(model.parse_entity(body, CTX, now_us()))
    instance = temporal.entity(SENSOR, tq(), CTX)["temperature"][0]
    assert instance["accuracy"]["value"] == 0.5


def test_attrs_selects_attributes(temporal: TemporalService, database: Database) -> None:
    body = {"id": SENSOR, "type": "Sensor", "temperature": prop(1, at(1)), "humidity": prop(9)}
    ContextBroker(database).create(model.parse_entity(body, CTX, now_us()))
    entity = temporal.entity(SENSOR, tq(attrs=[CTX.expand("humidity")]), CTX)
    assert set(entity) == {"id", "type", "humidity"}


# --- timerel and lastN ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timerel", "time_at", "end_time_at", "expected"),
    [
        ("before", 3, None, [1, 2]),
        ("after", 3, None, [3, 4, 5, 6, 7, 8, 9, 10]),
        ("between", 2, 4, [2, 3]),
        ("between", 11, 12, []),
    ],
)
def test_timerel(
    temporal: TemporalService,
    sensor: str,
    timerel: str,
    time_at: int,
    end_time_at: int | None,
    expected: list[int],
) -> None:
    end = at(end_time_at) if end_time_at else None
    query = tq(timerel=timerel, time_at_us=at(time_at), end_time_at_us=end)
    assert values_of(temporal.entity(sensor, query, CTX)) == expected


def test_timerel_through_parsed_params(temporal: TemporalService, sensor: str) -> None:
    query = params(timerel="between", timeAt=iso(at(2)), endTimeAt=iso(at(4)))
    assert values_of(temporal.entity(sensor, query, CTX)) == [2, 3]


def test_last_n(temporal: TemporalService, sensor: str) -> None:
    assert values_of(temporal.entity(sensor, tq(last_n=3), CTX)) == [8, 9, 10]
    query = tq(timerel="before", time_at_us=at(5), last_n=2)
    assert values_of(temporal.entity(sensor, query, CTX)) == [3, 4]


def test_max_instances_caps_what_is_read(database: Database, sensor: str) -> None:
    capped = TemporalService(database, max_instances=4)
    assert values_of(capped.entity(sensor, tq(), CTX)) == [1, 2, 3, 4]


# --- temporalValues -------------------------------------------------------------------------


def test_temporal_values(temporal: TemporalService, sensor: str) -> None:
    query = tq(mode="temporalValues", timerel="before", time_at_us=at(4))
    shown = temporal.entity(sensor, query, CTX)["temperature"]
    assert shown == {"type": "Property", "values": [[v, iso(at(v))] for v in (1, 2, 3)]}


def test_temporal_values_of_relationships(temporal: TemporalService) -> None:
    points = [("urn:ngsi-ld:Road:1", at(1)), ("urn:ngsi-ld:Road:2", at(2))]
    attrs = series("onRoad", points, kind="Relationship")
    assert temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], attrs)
    shown = temporal.entity(SENSOR, tq(mode="temporalValues"), CTX)["onRoad"]
    assert shown == {"type": "Relationship", "objects": [[o, iso(t)] for o, t in points]}


# --- aggregatedValues -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("totalCount", [2, 2, 2, 2, 2]),
        ("distinctCount", [2, 2, 2, 2, 2]),
        ("sum", [3, 7, 11, 15, 19]),
        ("avg", [1.5, 3.5, 5.5, 7.5, 9.5]),
        ("min", [1, 3, 5, 7, 9]),
        ("max", [2, 4, 6, 8, 10]),
        ("sumsq", [5, 25, 61, 113, 181]),
        ("stddev", [0.5] * 5),
    ],
)
def test_aggregation_per_day(
    temporal: TemporalService, sensor: str, method: str, expected: list[float]
) -> None:
    shown = aggregated(temporal, methods=[method], aggr_period_us=DAY)
    assert shown == {"type": "Property", method: triples(DAYS, DAY, expected)}


def test_every_method_at_once(temporal: TemporalService, sensor: str) -> None:
    methods = ["totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"]
    shown = aggregated(temporal, methods=methods, aggr_period_us=DAY)
    assert list(shown) == ["type", *methods]
    assert [len(shown[m]) for m in methods] == [5] * 8


def test_periods_start_at_time_at(temporal: TemporalService, sensor: str) -> None:
    start = T0 - 6 * HOUR
    query = {"timerel": "after", "time_at_us": start, "aggr_period_us": DAY}
    shown = aggregated(temporal, methods=["sum"], **query)
    starts = [iso(start + day * DAY) for day in range(5)]
    assert shown["sum"] == triples(starts, DAY, [3, 7, 11, 15, 19])


def test_aggregation_per_hour(temporal: TemporalService, sensor: str) -> None:
    shown = aggregated(temporal, methods=["avg", "totalCount"], aggr_period_us=HOUR)
    starts = [iso(at(v)) for v in range(1, 11)]
    assert shown["avg"] == triples(starts, HOUR, list(range(1, 11)))
    assert shown["totalCount"] == triples(starts, HOUR, [1] * 10)


def test_aggregation_per_calendar_month(temporal: TemporalService, sensor: str) -> None:
    methods = ["totalCount", "sum", "avg", "min", "max", "sumsq", "stddev"]
    query = {"timerel": "after", "time_at_us": parse_datetime_us("2024-01-01T00:00:00Z")}
    shown = aggregated(temporal, methods=methods, aggr_period_months=1, **query)
    bounds = ["2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]
    expected = {
        "totalCount": [4, 6],
        "sum": [10, 45],
        "avg": [2.5, 7.5],
        "min": [1, 5],
        "max": [4, 10],
        "sumsq": [30, 355],
        "stddev": [math.sqrt(1.25), math.sqrt(35 / 12)],
    }
    for method, numbers in expected.items():
        got = [triple[0] for triple in shown[method]]
        assert got == pytest.approx(numbers), method
        assert [triple[1:] for triple in shown[method]] == [bounds[:2], bounds[1:]]


def test_calendar_month_from_the_first_instant_is_clamped(
    temporal: TemporalService, sensor: str
) -> None:
    shown = aggregated(temporal, methods=["totalCount"], aggr_period_months=1)
    assert shown["totalCount"] == [[10, "2024-01-30T00:00:00.000Z", "2024-02-29T00:00:00.000Z"]]


def test_calendar_periods_are_clipped_to_the_window(temporal: TemporalService, sensor: str) -> None:
    window = {
        "timerel": "between",
        "time_at_us": parse_datetime_us("2024-01-01T00:00:00Z"),
        "end_time_at_us": parse_datetime_us("2024-02-02T00:00:00Z"),
    }
    shown = aggregated(temporal, methods=["sum"], aggr_period_months=1, **window)
    assert shown["sum"] == [
        [10, "2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"],
        [11, "2024-02-01T00:00:00.000Z", "2024-02-02T00:00:00.000Z"],
    ]


def test_one_year_period(temporal: TemporalService, sensor: str) -> None:
    shown = aggregated(temporal, methods=["max"], aggr_period_months=12)
    assert shown["max"] == [[10, "2024-01-30T00:00:00.000Z", "2025-01-30T00:00:00.000Z"]]


def test_whole_window_without_period(temporal: TemporalService, sensor: str) -> None:
    methods = ["totalCount", "distinctCount", "sum", "avg", "min", "max", "sumsq", "stddev"]
    window = {
        "timerel": "between",
        "time_at_us": parse_datetime_us("2024-01-01T00:00:00Z"),
        "end_time_at_us": parse_datetime_us("2024-03-01T00:00:00Z"),
    }
    shown = aggregated(temporal, methods=methods, **window)
    numbers = [10, 10, 55, 5.5, 1, 10, 385, math.sqrt(8.25)]
    for method, number in zip(methods, numbers, strict=True):
        assert shown[method] == [
            [pytest.approx(number), "2024-01-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"]
        ]


def test_open_window_starts_at_first_instant_and_ends_now(
    temporal: TemporalService, sensor: str
) -> None:
    [[value, start, end]] = aggregated(temporal, methods=["sum"])["sum"]
    assert (value, start) == (55, iso(T0))
    assert parse_datetime_us(end) >= now_us() - 60_000_000


def test_aggregation_last_n_keeps_the_last_periods(temporal: TemporalService, sensor: str) -> None:
    shown = aggregated(temporal, methods=["sum"], aggr_period_us=DAY, last_n=2)
    assert shown["sum"] == triples(DAYS[3:], DAY, [15, 19])


def test_distinct_count_and_non_numeric_values(temporal: TemporalService) -> None:
    points = [("a", at(1)), ("b", at(2)), ("a", at(3)), ("c", at(4))]
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], series("status", points))
    methods = ["totalCount", "distinctCount", "sum", "avg", "min", "stddev"]
    shown = aggregated(temporal, "status", methods=methods)
    assert [shown[m][0][0] for m in methods] == [4, 3, None, None, None, None]


def test_distinct_count_per_calendar_month(temporal: TemporalService) -> None:
    jan = parse_datetime_us("2024-01-10T00:00:00Z")
    feb = parse_datetime_us("2024-02-10T00:00:00Z")
    points = [(1, jan), (1, jan + DAY), (2, jan + 2 * DAY), (2, feb), (2, feb + DAY)]
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], series("level", points))
    start = parse_datetime_us("2024-01-01T00:00:00Z")
    query = {"timerel": "after", "time_at_us": start, "aggr_period_months": 1}
    shown = aggregated(temporal, "level", methods=["distinctCount", "totalCount"], **query)
    assert [t[0] for t in shown["distinctCount"]] == [2, 1]
    assert [t[0] for t in shown["totalCount"]] == [3, 2]


def test_aggregated_relationship(temporal: TemporalService) -> None:
    points = [("urn:ngsi-ld:Road:1", at(1)), ("urn:ngsi-ld:Road:1", at(2))]
    attrs = series("onRoad", points, kind="Relationship")
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], attrs)
    shown = aggregated(temporal, "onRoad", methods=["totalCount", "distinctCount"])
    assert shown["type"] == "Relationship"
    assert (shown["totalCount"][0][0], shown["distinctCount"][0][0]) == (2, 1)


def test_too_many_periods(database: Database, sensor: str) -> None:
    capped = TemporalService(database, max_instances=4)
    query = tq(mode="aggregatedValues", aggr_methods=["sum"], aggr_period_us=DAY)
    with pytest.raises(TooManyResults):
        capped.entity(sensor, query, CTX)


def test_aggregation_speed_sample(temporal: TemporalService, database: Database) -> None:
    step, count = 5 * 60 * 1_000_000, 30 * 288
    points = [(float(i % 100), T0 + i * step) for i in range(count)]
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], series("speed", points))
    query = tq(mode="aggregatedValues", aggr_methods=["avg", "min", "max"], aggr_period_us=DAY)
    query.attrs = [CTX.expand("speed")]
    started = time.perf_counter()
    shown = temporal.entity(SENSOR, query, CTX)["speed"]
    elapsed = (time.perf_counter() - started) * 1000
    print(f"\n[{database.dialect}] avg/min/max P1D over {count} points: {elapsed:.1f} ms")
    assert len(shown["avg"]) == 30 and shown["max"][0][0] == 99


# --- query ----------------------------------------------------------------------------------


@pytest.fixture
def three_entities(database: Database) -> None:
    """Sensors 1 and 2 and one Camera, each with some history."""
    broker = ContextBroker(database)
    create_sensor(broker, range(1, 4), "urn:ngsi-ld:Sensor:1")
    create_sensor(broker, range(4, 6), "urn:ngsi-ld:Sensor:2")
    body = {"id": "urn:ngsi-ld:Camera:1", "type": "Camera", "temperature": prop(7, at(7))}
    broker.create(model.parse_entity(body, CTX, now_us()))


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ({"types": [BASE + "Sensor"]}, ["urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:2"]),
        ({"ids": ["urn:ngsi-ld:Camera:1"]}, ["urn:ngsi-ld:Camera:1"]),
        ({"id_pattern": "^urn:ngsi-ld:Sensor:.*2$"}, ["urn:ngsi-ld:Sensor:2"]),
        ({"types": [BASE + "Sensor"], "limit": 1, "offset": 1}, ["urn:ngsi-ld:Sensor:2"]),
        (
            {"types": [BASE + "Sensor"], "filter": {"urn:ngsi-ld:Sensor:2"}},
            ["urn:ngsi-ld:Sensor:2"],
        ),
        ({"ids": ["urn:ngsi-ld:Sensor:1"], "filter": {"urn:ngsi-ld:Sensor:2"}}, []),
        ({"types": [BASE + "Sensor"], "filter": set()}, []),
        ({"types": [BASE + "Nothing"]}, []),
    ],
)
def test_query_selects_entities(
    temporal: TemporalService,
    three_entities: None,
    selection: dict[str, Any],
    expected: list[str],
) -> None:
    found = temporal.query(
        selection.get("types", ()),
        selection.get("ids", ()),
        selection.get("id_pattern"),
        tq(),
        CTX,
        selection.get("limit", 100),
        selection.get("offset", 0),
        selection.get("filter"),
    )
    assert [entity["id"] for entity in found] == expected


def test_query_renders_each_entity(temporal: TemporalService, three_entities: None) -> None:
    query = tq(mode="temporalValues", timerel="after", time_at_us=at(2))
    found = temporal.query([BASE + "Sensor"], (), None, query, CTX, 10, 0)
    assert found[0]["type"] == "Sensor"
    assert found[0]["temperature"]["values"] == [[2, iso(at(2))], [3, iso(at(3))]]
    assert [v[0] for v in found[1]["temperature"]["values"]] == [4, 5]


def test_query_shares_the_instance_budget(database: Database, three_entities: None) -> None:
    capped = TemporalService(database, max_instances=4)
    found = capped.query([BASE + "Sensor"], (), None, tq(), CTX, 10, 0)
    assert [values_of(entity) for entity in found] == [[1, 2, 3], [4]]


# --- writing and 404s -----------------------------------------------------------------------


def test_create_or_append(temporal: TemporalService) -> None:
    sensor_type = [CTX.expand("Sensor")]
    assert temporal.create_or_append(SENSOR, sensor_type, series("temperature", [(1, at(1))]))
    attrs = series("temperature", [(3, at(3)), (2, at(2))])
    assert not temporal.create_or_append(SENSOR, sensor_type, attrs)
    assert values_of(temporal.entity(SENSOR, tq(), CTX)) == [1, 2, 3]


def test_create_needs_instances_and_a_type(temporal: TemporalService) -> None:
    with pytest.raises(BadRequestData):
        temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], {})
    with pytest.raises(BadRequestData):
        temporal.create_or_append(SENSOR, [], series("temperature", [(1, at(1))]))


def test_instance_without_observed_at_is_stamped_now(temporal: TemporalService) -> None:
    attrs = {CTX.expand("temperature"): [model.parse_instance("t", prop(5), CTX, now_us())]}
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], attrs)
    [instance] = temporal.entity(SENSOR, tq(), CTX)["temperature"]
    assert abs(parse_datetime_us(instance["observedAt"]) - now_us()) < 60_000_000


def test_append_attrs_keeps_the_entity_type(temporal: TemporalService, sensor: str) -> None:
    temporal.append_attrs(sensor, series("humidity", [(40, at(1))]))
    entity = temporal.entity(sensor, tq(), CTX)
    assert entity["type"] == "Sensor"
    assert values_of(entity, "humidity") == [40]


def test_append_attrs_to_unknown_entity(temporal: TemporalService) -> None:
    with pytest.raises(ResourceNotFound):
        temporal.append_attrs("urn:ngsi-ld:Sensor:404", series("humidity", [(40, at(1))]))


def test_delete(temporal: TemporalService, sensor: str) -> None:
    temporal.delete(sensor)
    with pytest.raises(ResourceNotFound):
        temporal.entity(sensor, tq(), CTX)
    with pytest.raises(ResourceNotFound):
        temporal.delete(sensor)


def test_unknown_entity(temporal: TemporalService) -> None:
    with pytest.raises(ResourceNotFound):
        temporal.entity("urn:ngsi-ld:Sensor:404", tq(), CTX)


def test_history_survives_entity_deletion(
    temporal: TemporalService, database: Database, sensor: str
) -> None:
    ContextBroker(database).delete(sensor)
    assert values_of(temporal.entity(sensor, tq(last_n=1), CTX)) == [10]


# --- parameters -----------------------------------------------------------------------------


def test_parse_defaults() -> None:
    query = params()
    assert (query.timerel, query.time_at_us, query.last_n, query.mode) == (
        None,
        None,
        None,
        "normalized",
    )


def test_parse_full() -> None:
    query = params(
        timerel="between",
        timeAt="2024-01-01T00:00:00Z",
        endTimeAt="2024-02-01T00:00:00Z",
        lastN="5",
        aggrMethods="avg, max",
        aggrPeriodDuration="P1DT1H",
        options={"aggregatedValues", "sysAttrs"},
    )
    assert query.window() == (
        parse_datetime_us("2024-01-01T00:00:00Z"),
        parse_datetime_us("2024-02-01T00:00:00Z"),
    )
    assert (query.last_n, query.aggr_methods, query.mode) == (5, ["avg", "max"], "aggregatedValues")
    assert (query.aggr_period_months, query.aggr_period_us) == (0, 25 * HOUR)


@pytest.mark.parametrize(
    ("duration", "months", "micros"),
    [("P1M", 1, None), ("P1Y", 12, None), ("P1M1D", 1, DAY), ("PT0S", 0, None), ("PT5M", 0, 300e6)],
)
def test_parse_periods(duration: str, months: int, micros: float | None) -> None:
    query = params(aggrMethods="sum", aggrPeriodDuration=duration, options="aggregatedValues")
    assert (query.aggr_period_months, query.aggr_period_us) == (months, micros)


def test_parse_modes() -> None:
    assert params(options="temporalValues").mode == "temporalValues"
    assert params(options=["sysAttrs"]).mode == "normalized"


@pytest.mark.parametrize(
    "bad",
    [
        {"timerel": "before"},
        {"timerel": "during", "timeAt": "2024-01-01T00:00:00Z"},
        {"timeAt": "2024-01-01T00:00:00Z"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"timerel": "between", "timeAt": "2024-01-01T00:00:00Z"},
        {"timerel": "between", "timeAt": "2024-01-02T00:00:00Z", "endTimeAt": "2024-01-01"},
        {"timerel": "between", "timeAt": "2024-01-01T00:00:00Z", "endTimeAt": "2024-01-01"},
        {"lastN": "0"},
        {"lastN": "-3"},
        {"lastN": "two"},
        {"options": "aggregatedValues"},
        {"options": "aggregatedValues", "aggrMethods": "median"},
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "1 day"},
        {"options": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "-P1D"},
        {"options": "temporalValues,aggregatedValues", "aggrMethods": "sum"},
    ],
)
def test_parse_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        params(**bad)


def test_aggregation_of_every_attribute_when_none_is_named(temporal: TemporalService) -> None:
    attrs = {
        **series("temperature", [(1, at(1)), (3, at(2))]),
        **series("humidity", [(50, at(1))]),
    }
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], attrs)
    query = tq(mode="aggregatedValues", aggr_methods=["avg"], aggr_period_us=DAY)
    entity = temporal.entity(SENSOR, query, CTX)
    assert entity["temperature"]["avg"] == [[2, iso(T0), iso(T0 + DAY)]]
    assert entity["humidity"]["avg"] == [[50, iso(T0), iso(T0 + DAY)]]


def test_mixed_calendar_and_fixed_period(temporal: TemporalService, sensor: str) -> None:
    start = parse_datetime_us("2024-01-01T00:00:00Z")
    query = {"timerel": "after", "time_at_us": start, "aggr_period_us": DAY}
    shown = aggregated(temporal, methods=["totalCount"], aggr_period_months=1, **query)
    assert shown["totalCount"] == [
        [6, "2024-01-01T00:00:00.000Z", "2024-02-02T00:00:00.000Z"],
        [4, "2024-02-02T00:00:00.000Z", "2024-03-03T00:00:00.000Z"],
    ]


def test_period_cap_ignores_empty_time(database: Database, sensor: str) -> None:
    capped = TemporalService(database, max_instances=5)
    query = tq(mode="aggregatedValues", aggr_methods=["sum"], aggr_period_us=DAY)
    assert len(capped.entity(sensor, query, CTX)["temperature"]["sum"]) == 5


def test_temporal_values_per_dataset(temporal: TemporalService) -> None:
    iri = CTX.expand("temperature")
    bodies = [prop(1, at(1)), {**prop(2, at(2)), "datasetId": "urn:ngsi-ld:Dataset:b"}]
    attrs = {iri: [model.parse_instance("t", body, CTX, now_us()) for body in bodies]}
    temporal.create_or_append(SENSOR, [CTX.expand("Sensor")], attrs)
    shown = temporal.entity(SENSOR, tq(mode="temporalValues"), CTX)["temperature"]
    assert shown == [
        {"type": "Property", "values": [[1, iso(at(1))]]},
        {"type": "Property", "values": [[2, iso(at(2))]], "datasetId": "urn:ngsi-ld:Dataset:b"},
    ]


def test_query_aggregates_each_entity(temporal: TemporalService, three_entities: None) -> None:
    query = tq(mode="aggregatedValues", aggr_methods=["sum"])
    found = temporal.query([BASE + "Sensor"], (), None, query, CTX, 10, 0)
    assert [entity["temperature"]["sum"][0][0] for entity in found] == [6, 9]
