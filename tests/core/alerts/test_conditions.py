"""Rule conditions, evaluated on series of readings (pure: no database, no app)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from smartcity.core.alerts.conditions import (
    ConditionError,
    LeafState,
    Reading,
    parse_condition,
)
from smartcity.core.alerts.rules import validate_rule, within_windows
from smartcity.core.context.errors import BadRequestData


def run(condition: dict[str, object], series: list[tuple[float, float]]) -> list[bool]:
    """Whether the condition holds after each (time s, waterLevel) reading."""
    tree = parse_condition(condition)
    states: dict[int, LeafState] = {}
    return [tree.evaluate(states, {"waterLevel": Reading(value, at)}, at) for at, value in series]


def test_threshold_with_hysteresis() -> None:
    rule = {"threshold": {"attribute": "waterLevel", "op": ">=", "value": 2.0, "clear": 1.9}}
    levels = [1.8, 2.0, 1.95, 2.05, 1.91, 1.89, 1.95, 2.1]
    assert run(rule, list(enumerate(levels))) == [
        False,
        True,  # reaches 2.00: fires (>=)
        True,  # 1.95 is within the band: still active
        True,
        True,
        False,  # below clear
        False,  # back in the band from below: not active again
        True,
    ]


def test_threshold_below_with_default_clear() -> None:
    rule = {"threshold": {"attribute": "waterLevel", "op": "<", "value": 4}}
    assert run(rule, [(0, 5.0), (1, 3.9), (2, 4.0), (3, 3.0)]) == [False, True, False, True]


def test_threshold_must_hold_for_its_duration() -> None:
    rule = {"threshold": {"attribute": "waterLevel", "op": ">", "value": 2, "for": "PT2M"}}
    series = [(0, 2.1), (60, 2.2), (119, 2.1), (120, 2.3), (180, 1.0), (240, 2.5), (300, 2.5)]
    assert run(rule, series) == [False, False, False, True, False, False, False]


def test_a_repeated_reading_is_not_counted_twice() -> None:
    tree = parse_condition(
        {"threshold": {"attribute": "waterLevel", "op": ">", "value": 2, "for": 10}}
    )
    states: dict[int, LeafState] = {}
    same = {"waterLevel": Reading(3.0, 100.0)}
    assert not tree.evaluate(states, same, 100.0)
    assert not tree.evaluate(states, same, 200.0)  # same observation seen again later


def test_rate_of_change_is_scaled_to_its_period() -> None:
    rule = {"rate": {"attribute": "waterLevel", "op": ">", "value": 0.3, "per": "PT1H"}}
    # 4 cm per 10 minutes = 0.24 m/h (not above); then 10 cm per 10 minutes = 0.6 m/h.
    series = [(0, 1.00), (600, 1.04), (1200, 1.08), (1800, 1.18), (2400, 1.28), (3000, 1.38)]
    results = run(rule, series)
    assert results[:3] == [False, False, False]
    assert results[-1] is True


def test_absence_uses_the_clock_not_readings() -> None:
    tree = parse_condition({"absence": {"attribute": "waterLevel", "for": "PT15M"}})
    states: dict[int, LeafState] = {}
    assert not tree.evaluate(states, {"waterLevel": Reading(1.0, 1000.0)}, 1000.0)
    assert not tree.evaluate(states, {}, 1000.0 + 899)
    assert tree.evaluate(states, {}, 1000.0 + 900)
    assert not tree.evaluate(states, {"waterLevel": Reading(1.1, 2000.0)}, 2000.0)


def test_all_and_any() -> None:
    high = {"threshold": {"attribute": "waterLevel", "op": ">", "value": 2}}
    rising = {"rate": {"attribute": "waterLevel", "op": ">", "value": 0, "per": 60}}
    series = [(0, 2.5), (60, 2.4), (120, 2.6)]
    assert run({"all": [high, rising]}, series) == [False, False, True]
    assert run({"any": [high, rising]}, series) == [True, True, True]


def test_anomaly_flags_a_spike_after_enough_history() -> None:
    rule = {"anomaly": {"attribute": "waterLevel", "threshold": 6}}
    normal = [(i * 300.0, 1.0 + 0.01 * (i % 7)) for i in range(300)]
    results = run(rule, [*normal, (300 * 300.0, 9.0)])
    assert not any(results[:-1])
    assert results[-1] is True


@pytest.mark.parametrize(
    "condition",
    [
        None,
        {},
        {"threshold": {"attribute": "x", "op": "=", "value": 1}},
        {"threshold": {"attribute": "x", "op": ">", "value": "high"}},
        {"threshold": {"attribute": "x", "op": ">", "value": 2, "clear": 3}},
        {"threshold": {"op": ">", "value": 2}},
        {"rate": {"attribute": "x", "op": ">", "value": 1, "per": "soon"}},
        {"absence": {"attribute": "x"}},
        {"anomaly": {"attribute": "x", "threshold": -1}},
        {"all": []},
        {"sometimes": {}},
    ],
)
def test_bad_conditions_say_what_is_wrong(condition: object) -> None:
    with pytest.raises(ConditionError):
        parse_condition(condition)


def test_active_windows_in_vietnam_time() -> None:
    windows = validate_rule(
        {
            "id": "night",
            "name": "night",
            "entity_type": "Streetlight",
            "condition": {"threshold": {"attribute": "power", "op": "<", "value": 1}},
            "active_windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "from": "18:00", "to": "06:00"}],
        }
    )["active_windows"]
    vietnam = timezone(timedelta(hours=7))

    def at(hour: int) -> int:
        return int(datetime(2026, 12, 4, hour, 30, tzinfo=vietnam).timestamp() * 1e6)

    assert within_windows(windows, at(19)) and within_windows(windows, at(2))
    assert not within_windows(windows, at(12))
    assert within_windows([], at(12))


def test_rule_validation_rejects_bad_ids_and_windows() -> None:
    base = {
        "name": "r",
        "entity_type": "T",
        "condition": {"threshold": {"attribute": "a", "op": ">", "value": 1}},
    }
    with pytest.raises(BadRequestData):
        validate_rule({**base, "id": "Bad Id"})
    with pytest.raises(BadRequestData):
        validate_rule({**base, "id": "ok", "active_windows": [{"days": [0], "from": "1"}]})
    with pytest.raises(BadRequestData):
        validate_rule({**base, "id": "ok", "escalation": [{"after": "PT5M"}]})
    with pytest.raises(BadRequestData):
        validate_rule({**base, "id": "ok", "id_pattern": "("})
