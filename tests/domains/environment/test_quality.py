"""Quality flags for environment series: range, stuck and spike checks, and what stays usable."""

from __future__ import annotations

import math
import random

import pytest

from smartcity.domains.environment.quality import (
    MIN_JUMP,
    MIN_STUCK_READINGS,
    PLAUSIBLE,
    SPIKE_MIN_HISTORY,
    STUCK_AFTER_S,
    STUCK_FLOOR,
    QualityFlag,
    assess,
    check_range,
    check_spike,
    check_stuck,
    usable,
)

MIN = 60.0
HOUR = 3600.0
T0 = 1_740_000_000.0  # Feb 2025, dry season


def series(
    values: list[float], step_s: float = 5 * MIN, t0: float = T0
) -> list[tuple[float, float]]:
    return [(t0 + i * step_s, v) for i, v in enumerate(values)]


def tide(hours: float, step_s: float = 5 * MIN) -> list[tuple[float, float]]:
    """River level at Cần Thơ: mixed semi-diurnal tide, ~1.1 m semi-amplitude, cm resolution."""
    n = int(hours * HOUR / step_s)
    out = []
    for i in range(n):
        h = i * step_s / HOUR
        level = (
            0.4
            + 0.9 * math.sin(2 * math.pi * h / 12.42)
            + 0.35 * math.sin(2 * math.pi * h / 23.93 + 1.0)
        )
        out.append((T0 + i * step_s, round(level, 2)))
    return out


def noisy_pm25(n: int, seed: int = 7) -> list[tuple[float, float]]:
    """PM2.5 at a roadside station: a daily cycle around 35 µg/m³ with lognormal noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        h = i * 5 * MIN / HOUR
        base = 35 + 15 * math.sin(2 * math.pi * (h - 8) / 24)
        out.append((T0 + i * 5 * MIN, round(base * rng.lognormvariate(0, 0.25), 1)))
    return out


# --- range -------------------------------------------------------------------------------------


def test_every_attribute_has_a_sane_range() -> None:
    for name, bounds in PLAUSIBLE.items():
        assert bounds.low < bounds.high, name


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("pm25", 0.0), ("pm25", 1000.0), ("salinity", 40.0), ("height", -3.0), ("height", 6.0),
     ("pH", 7.2), ("currentLevel", 0.0), ("coliform", 1e8)],
)  # fmt: skip
def test_range_accepts_values_inside_or_on_the_bounds(attribute: str, value: float) -> None:
    assert check_range(attribute, value) is None


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("pm25", -0.1), ("pm25", 1000.1), ("salinity", 40.5), ("height", 6.01),
     ("height", -9999.0), ("pH", 14.2), ("currentLevel", -0.01), ("O2", 65535.0)],
)  # fmt: skip
def test_range_flags_values_outside(attribute: str, value: float) -> None:
    flag = check_range(attribute, value)
    assert flag is not None
    assert (flag.code, flag.attribute, flag.since_s) == ("out-of-range", attribute, None)
    assert attribute in flag.reason and "plausible range" in flag.reason


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_range_flags_non_numbers_even_for_unknown_attributes(value: float) -> None:
    flag = check_range("somethingElse", value)
    assert flag is not None and flag.code == "out-of-range"


def test_range_has_no_opinion_on_unknown_attributes() -> None:
    assert check_range("somethingElse", -1e9) is None


# --- stuck -------------------------------------------------------------------------------------


def test_a_frozen_tide_gauge_is_stuck_after_two_hours() -> None:
    history = tide(6)
    frozen_at = history[-1][1]
    # 2 h of identical readings at 5 min: 25 readings, 120 min from first to last.
    frozen = [(history[-1][0] + (i + 1) * 5 * MIN, frozen_at) for i in range(24)]
    flag = check_stuck("height", history + frozen)
    assert flag is not None
    assert flag.code == "stuck" and flag.attribute == "height"
    assert flag.since_s == history[-1][0]
    assert "2.0 h" in flag.reason and "25 readings" in flag.reason
    # One reading less (115 min) is not yet stuck.
    assert check_stuck("height", history + frozen[:-1]) is None


def test_the_tide_is_never_stuck() -> None:
    levels = tide(72)
    for end in range(30, len(levels), 7):
        assert check_stuck("height", levels[:end]) is None


def test_slack_water_repeats_are_not_stuck() -> None:
    # Half an hour at the same cm around high water.
    values = [1.50, 1.55, 1.58] + [1.60] * 7 + [1.58, 1.55]
    assert check_stuck("height", series(values)) is None


def test_stuck_needs_enough_readings_not_only_duration() -> None:
    # Five identical readings spread over 10 h (a logger with gaps) prove nothing.
    values = series([2.5] * (MIN_STUCK_READINGS - 1), step_s=2.5 * HOUR)
    assert check_stuck("salinity", values) is None
    values = series([2.5] * MIN_STUCK_READINGS, step_s=2.5 * HOUR)
    assert check_stuck("salinity", values) is not None


def test_salinity_at_the_fresh_water_floor_is_not_stuck() -> None:
    # Upstream at Cần Thơ in the wet season: 0.1–0.2 ‰ for days, at 0.1 ‰ resolution.
    for floor_value in (0.0, 0.1, 0.15, STUCK_FLOOR["salinity"]):
        values = series([floor_value] * 400, step_s=15 * MIN)  # 100 h
        assert check_stuck("salinity", values) is None, floor_value


def test_salinity_flat_above_the_floor_is_stuck() -> None:
    values = series([1.37] * 13, step_s=15 * MIN)  # 3 h
    flag = check_stuck("salinity", values)
    assert flag is not None and flag.since_s == T0
    assert check_stuck("salinity", values[:-1]) is None  # 2 h 45 min


def test_a_dry_street_is_not_stuck_but_standing_water_is() -> None:
    assert check_stuck("currentLevel", series([0.0] * 2000, step_s=MIN)) is None
    six_hours = int(STUCK_AFTER_S["currentLevel"] / MIN) + 1
    assert check_stuck("currentLevel", series([0.12] * six_hours, step_s=MIN)) is not None


def test_a_noisy_pm25_series_is_not_stuck() -> None:
    pm = noisy_pm25(24 * 12 * 3)
    for end in range(20, len(pm), 11):
        assert check_stuck("pm25", pm[:end]) is None


def test_pm25_flat_within_tolerance_for_six_hours_is_stuck() -> None:
    values = series([41.0, 41.1, 40.9] * 25)  # 75 readings, 6 h 10 min
    assert check_stuck("pm25", values) is None  # exact repeats only by default
    flag = check_stuck("pm25", values, tolerance=0.2)
    assert flag is not None and flag.since_s == T0
    assert check_stuck("pm25", values[-70:], tolerance=0.2) is None  # 5 h 45 min


def test_stuck_duration_can_be_given() -> None:
    values = series([3.3] * 10)  # 45 min
    assert check_stuck("salinity", values) is None
    assert check_stuck("salinity", values, min_duration_s=30 * MIN) is not None


def test_stuck_is_about_the_newest_run_only() -> None:
    values = series([1.2] * 40 + [1.3, 1.4])
    assert check_stuck("salinity", values) is None


def test_stuck_ignores_unknown_attributes_and_short_or_empty_series() -> None:
    assert check_stuck("somethingElse", series([1.0] * 500)) is None
    assert check_stuck("height", []) is None
    assert check_stuck("height", series([1.0])) is None


# --- spike -------------------------------------------------------------------------------------


def test_a_river_level_jump_of_half_a_metre_is_a_spike() -> None:
    levels = tide(3)
    t_last = levels[-1][0]
    jumped = [*levels, (t_last + 5 * MIN, levels[-1][1] + 1.2)]
    flag = check_spike("height", jumped)
    assert flag is not None
    assert flag.code == "spike" and flag.since_s == t_last + 5 * MIN


def test_the_tide_has_no_spikes() -> None:
    levels = tide(72)
    assert all(check_spike("height", levels[:end]) is None for end in range(2, len(levels)))
    # Even at hourly readings, where the tide moves ~0.5 m between two of them.
    hourly = tide(72, step_s=HOUR)
    assert all(check_spike("height", hourly[:end]) is None for end in range(2, len(hourly)))


def test_a_noisy_pm25_series_has_no_spikes_but_a_300_jump_is_one() -> None:
    pm = noisy_pm25(24 * 12 * 3)
    assert all(check_spike("pm25", pm[:end]) is None for end in range(2, len(pm)))
    spiked = [*pm, (pm[-1][0] + 5 * MIN, pm[-1][1] + 420.0)]
    assert check_spike("pm25", spiked) is not None


def test_min_jump_boundary_in_a_flat_window() -> None:
    flat = series([1.0] * 12)
    t = flat[-1][0] + 5 * MIN
    limit = MIN_JUMP["height"]
    assert check_spike("height", [*flat, (t, 1.0 + limit)]) is None  # not more than the minimum
    assert check_spike("height", [*flat, (t, 1.0 + limit + 0.01)]) is not None
    assert check_spike("height", [*flat, (t, 1.0 - limit - 0.01)]) is not None


def test_a_jump_within_the_noise_is_not_a_spike_even_above_min_jump() -> None:
    # PM2.5 swinging ±150 µg/m³ (a smoky market): a 320 µg/m³ reading is within 6 sigma.
    values = series([50, 250, 60, 240, 70, 260, 40, 230, 80, 250, 60, 240])
    t = values[-1][0] + 5 * MIN
    assert check_spike("pm25", [*values, (t, 380.0)]) is None


def test_spike_needs_enough_history() -> None:
    short = series([1.0] * (SPIKE_MIN_HISTORY - 1) + [3.0])
    assert check_spike("height", short) is None
    enough = series([1.0] * SPIKE_MIN_HISTORY + [3.0])
    assert check_spike("height", enough) is not None
    assert check_spike("height", []) is None
    assert check_spike("height", series([3.0])) is None


def test_the_second_reading_of_a_level_shift_is_not_a_spike() -> None:
    # A cloudburst: the street floods by 0.35 m between two 1-minute readings, and stays.
    dry = series([0.0] * 20, step_s=MIN)
    t = dry[-1][0]
    shifted = [*dry, (t + MIN, 0.35)]
    assert check_spike("currentLevel", shifted) is not None  # in real time, first: flagged
    shifted += [(t + 2 * MIN, 0.36), (t + 3 * MIN, 0.38), (t + 4 * MIN, 0.37)]
    for end in range(len(dry) + 2, len(shifted) + 1):
        assert check_spike("currentLevel", shifted[:end]) is None


def test_spike_ignores_attributes_without_a_minimum_jump() -> None:
    assert "coliform" not in MIN_JUMP
    values = series([1000.0] * 12 + [1e6])
    assert check_spike("coliform", values) is None


def test_error_codes_in_the_history_do_not_hide_a_spike() -> None:
    values = series([1.0, 1.01, -9999.0, 1.02, 1.0, 1.01, -9999.0, 1.0, 1.02, 2.5])
    assert check_spike("height", values) is not None


# --- assess ------------------------------------------------------------------------------------


def test_assess_normal_data_has_no_flags() -> None:
    levels = tide(24)
    assert assess("height", levels) == []
    assert assess("pm25", noisy_pm25(300)) == []
    assert assess("salinity", series([0.1] * 500, step_s=15 * MIN)) == []
    assert assess("height", []) == []


def test_assess_out_of_range_carries_the_time_and_is_not_also_a_spike() -> None:
    levels = tide(3)
    t = levels[-1][0] + 5 * MIN
    flags = assess("height", [*levels, (t, -9999.0)])
    assert flags == [QualityFlag("out-of-range", "height", flags[0].reason, t)]


def test_assess_collects_stuck_and_out_of_range_together() -> None:
    flags = assess("salinity", series([99.0] * 20, step_s=15 * MIN))
    assert sorted(f.code for f in flags) == ["out-of-range", "stuck"]


def test_assess_flags_a_spike() -> None:
    values = series([2.0, 2.1, 2.05, 2.0, 2.1, 2.0, 2.05, 2.1, 9.5], step_s=15 * MIN)
    assert [f.code for f in assess("salinity", values)] == ["spike"]


# --- usable ------------------------------------------------------------------------------------


def test_usable_drops_out_of_range_and_isolated_spikes_only() -> None:
    levels = tide(6)
    bad = list(levels)
    bad[30] = (bad[30][0], bad[30][1] + 1.5)  # spike
    bad[50] = (bad[50][0], -9999.0)  # error code
    bad[60] = (bad[60][0], math.nan)
    kept = usable(bad, "height")
    dropped = {t for t, _ in bad} - {t for t, _ in kept}
    assert dropped == {bad[30][0], bad[50][0], bad[60][0]}
    assert usable(levels, "height") == levels


def test_usable_keeps_a_confirmed_level_shift_whole() -> None:
    dry = series([0.0] * 20, step_s=MIN)
    t = dry[-1][0]
    wet = [(t + (i + 1) * MIN, 0.35 + 0.01 * i) for i in range(10)]
    assert usable(dry + wet, "currentLevel") == dry + wet


def test_usable_drops_a_spike_at_the_end() -> None:
    values = series([1.0, 1.02, 1.01, 1.0, 1.03, 1.02, 1.01, 2.4])
    assert usable(values, "height") == values[:-1]


def test_usable_drops_stuck_runs_when_asked() -> None:
    fine = series([1.2, 1.3, 1.5, 1.4], step_s=15 * MIN)
    frozen = series([1.4] * 14, step_s=15 * MIN, t0=fine[-1][0] + 15 * MIN)
    values = fine + frozen
    assert usable(values, "salinity") == values
    kept = usable(values, "salinity", drop_stuck=True)
    # The whole flat run goes, including the reading it froze at.
    assert kept == fine[:3]
    # At the floor nothing goes.
    floor = series([0.1] * 100, step_s=15 * MIN)
    assert usable(floor, "salinity", drop_stuck=True) == floor


def test_usable_on_empty_and_unknown() -> None:
    assert usable([], "pm25") == []
    values = series([1.0, 1e9, 2.0])
    assert usable(values, "somethingElse") == values
