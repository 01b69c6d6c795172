"""VN_AQI (Quyết định 1459/QĐ-TCMT) and US EPA AQI: tables, NowCast, worked examples."""

from __future__ import annotations

import math

import pytest

from smartcity.domains.environment.aqi import (
    LEVELS,
    POLLUTANTS,
    US_BREAKPOINTS,
    US_LEVELS,
    VN_BREAKPOINTS,
    VN_INDEX_STEPS,
    epa_sub_index,
    hourly_means,
    level_of,
    nowcast,
    rolling_means,
    round_half_up,
    sub_index,
    ugm3_to_epa_units,
    us_aqi,
    us_level_of,
    us_sub_index,
    vn_daily_aqi,
    vn_daily_aqi_from_stats,
    vn_daily_stats,
    vn_hourly_aqi,
)

# 2.3.a of the decision: PM2.5 hourly means printed from 09:00 to 20:00, i.e. OLDEST first.
# c1 is "the current hour" (20:00 → 20.6), so newest first is the reverse.
EXAMPLE_PM25_09_TO_20 = [26.9, 24.7, 20.5, 23.5, 19.5, 16.5, 19.0, 16.5, 20.3, 22.4, 19.6, 20.6]
EXAMPLE_PM25_NEWEST_FIRST = EXAMPLE_PM25_09_TO_20[::-1]


# --------------------------------------------------------------------------------------------
# Levels (Bảng 1) and rounding
# --------------------------------------------------------------------------------------------


def test_vn_levels_follow_bang_1() -> None:
    assert [(lv.key, lv.name_vi, lv.low, lv.high) for lv in LEVELS] == [
        ("good", "Tốt", 0, 50),
        ("moderate", "Trung bình", 51, 100),
        ("poor", "Kém", 101, 150),
        ("bad", "Xấu", 151, 200),
        ("very-bad", "Rất xấu", 201, 300),
        ("hazardous", "Nguy hại", 301, 500),
    ]
    rgb = [tuple(int(lv.color[i : i + 2], 16) for i in (1, 3, 5)) for lv in LEVELS]
    assert rgb == [
        (0, 228, 0),
        (255, 255, 0),
        (255, 126, 0),
        (255, 0, 0),
        (143, 63, 151),
        (126, 0, 35),
    ]


def test_us_levels_have_the_same_keys_and_epa_names() -> None:
    assert [lv.key for lv in US_LEVELS] == [lv.key for lv in LEVELS]
    assert [lv.name_en for lv in US_LEVELS] == [
        "Good",
        "Moderate",
        "Unhealthy for Sensitive Groups",
        "Unhealthy",
        "Very Unhealthy",
        "Hazardous",
    ]
    assert [lv.color for lv in US_LEVELS] == [lv.color for lv in LEVELS]


@pytest.mark.parametrize(
    ("index", "key"),
    [
        (0, "good"),
        (50, "good"),
        (51, "moderate"),
        (100, "moderate"),
        (101, "poor"),
        (150, "poor"),
        (151, "bad"),
        (200, "bad"),
        (201, "very-bad"),
        (300, "very-bad"),
        (301, "hazardous"),
        (500, "hazardous"),
        (650, "hazardous"),
    ],
)
def test_level_of_edges(index: int, key: str) -> None:
    assert level_of(index).key == key
    assert us_level_of(index).key == key


def test_level_of_rejects_negative() -> None:
    with pytest.raises(ValueError):
        level_of(-1)


def test_round_half_up_not_bankers() -> None:
    assert round_half_up(24.5) == 25
    assert round_half_up(109.5) == 110
    assert round_half_up(59.35) == 59
    assert round_half_up(0.49) == 0


# --------------------------------------------------------------------------------------------
# VN_AQI sub-indices: every breakpoint of Bảng 2
# --------------------------------------------------------------------------------------------

BANG_2 = {
    ("o3", "hourly"): (0, 160, 200, 300, 400, 800, 1000, 1200),
    ("o3", "8h"): (0, 100, 120, 170, 210, 400),
    ("co", "hourly"): (0, 10000, 30000, 45000, 60000, 90000, 120000, 150000),
    ("so2", "hourly"): (0, 125, 350, 550, 800, 1600, 2100, 2630),
    ("no2", "hourly"): (0, 100, 200, 700, 1200, 2350, 3100, 3850),
    ("pm10", "hourly"): (0, 50, 150, 250, 350, 420, 500, 600),
    ("pm25", "hourly"): (0, 25, 50, 80, 150, 250, 350, 500),
}


def test_tables_match_bang_2() -> None:
    assert VN_INDEX_STEPS == (0, 50, 100, 150, 200, 300, 400, 500)
    for (pollutant, period), bps in BANG_2.items():
        key = "o3-8h" if period == "8h" else ("o3-1h" if pollutant == "o3" else pollutant)
        assert VN_BREAKPOINTS[key] == bps


@pytest.mark.parametrize(
    ("pollutant", "period", "bp", "index"),
    [
        (p, per, bp, VN_INDEX_STEPS[i])
        for (p, period), bps in BANG_2.items()
        for per in ((period,) if p == "o3" else ("hourly", "daily"))
        for i, bp in enumerate(bps)
    ],
)
def test_vn_value_at_each_breakpoint_gives_its_index(
    pollutant: str, period: str, bp: float, index: int
) -> None:
    assert sub_index(pollutant, bp, period) == index


@pytest.mark.parametrize(
    ("pollutant", "period", "value", "index"),
    [
        ("pm25", "hourly", 37.5, 75),  # halfway 25–50
        ("pm25", "daily", 12.25, 25),  # 24.5 rounds half up
        ("pm10", "daily", 385, 250),  # halfway 350–420
        ("o3", "hourly", 600, 250),
        ("o3", "8h", 305, 250),
        ("co", "hourly", 20000, 75),
        ("so2", "hourly", 1200, 250),
        ("no2", "hourly", 450, 125),
        ("pm25", "hourly", 25.1, 50),  # contiguous: no jump to 51 as in the US scale
    ],
)
def test_vn_interpolation(pollutant: str, period: str, value: float, index: int) -> None:
    assert sub_index(pollutant, value, period) == index


@pytest.mark.parametrize(
    ("pollutant", "period", "value"),
    [
        ("pm25", "hourly", 500.1),
        ("pm25", "daily", 900),
        ("pm10", "daily", 1000),
        ("o3", "hourly", 5000),
        ("co", "hourly", 200000),
        ("so2", "hourly", 3000),
        ("no2", "hourly", 4000),
    ],
)
def test_vn_at_or_above_last_breakpoint_is_500(pollutant: str, period: str, value: float) -> None:
    # Bảng 2 prints the 8th level as "≥ BP8" with I = 500.
    assert sub_index(pollutant, value, period) == 500


def test_vn_o3_8h_above_400_has_no_value() -> None:
    assert sub_index("o3", 400, "8h") == 300
    assert sub_index("o3", 400.1, "8h") is None
    assert sub_index("o3", 900, "8h") is None
    assert sub_index("o3", 900, "hourly") == 350


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf])
def test_vn_invalid_concentration(value: float) -> None:
    assert sub_index("pm25", value) is None


def test_vn_sub_index_rejects_unknown_arguments() -> None:
    with pytest.raises(ValueError):
        sub_index("pm1", 10)
    with pytest.raises(ValueError):
        sub_index("pm25", 10, "weekly")
    with pytest.raises(ValueError):
        sub_index("co", 10, "8h")  # the decision has an 8-hour column for O3 only
    with pytest.raises(ValueError):
        sub_index("o3", 10, "daily")  # two columns: see vn_daily_aqi


# --------------------------------------------------------------------------------------------
# NowCast (2.2.1.a)
# --------------------------------------------------------------------------------------------


def test_nowcast_worked_example_is_20_3() -> None:
    # 2.3.a: w* = 16.5 / 26.9 = 0.61 → NowCast = 20.3 µg/m³ with c1 = 20.6 (20:00).
    value = nowcast(EXAMPLE_PM25_NEWEST_FIRST)
    assert value is not None
    assert round(value, 1) == 20.3
    assert value == pytest.approx(20.2658, abs=1e-4)
    # The other order (09:00 as c1) gives about 24.0, so the printed table is oldest first.
    other = nowcast(EXAMPLE_PM25_09_TO_20)
    assert other is not None and round(other, 1) == 24.0


def test_nowcast_general_formula() -> None:
    values = [30.0, 25.0, 20.0, 28.0, 22.0, 24.0, 26.0, 21.0, 23.0, 27.0, 29.0, 18.0]
    w = 18.0 / 30.0
    expected = sum(w**i * c for i, c in enumerate(values)) / sum(w**i for i in range(12))
    assert nowcast(values) == pytest.approx(expected)


def test_nowcast_half_weight_uses_the_printed_formula_when_complete() -> None:
    # w* = 10 / 80 ≤ 1/2 → w = 1/2 and NowCast = Σ (1/2)^i · ci.
    values = [80.0, 60.0, 40.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    expected = sum(0.5 ** (i + 1) * c for i, c in enumerate(values))
    assert nowcast(values) == pytest.approx(expected, rel=1e-12)


def test_nowcast_half_weight_with_missing_hours_is_normalised() -> None:
    values: list[float | None] = [None, 60.0, 40.0, 10.0, None, 10.0, 10.0, 10.0]
    present = [(i, c) for i, c in enumerate(values) if c is not None]
    expected = sum(0.5**i * c for i, c in present) / sum(0.5**i for i, _ in present)
    assert nowcast(values) == pytest.approx(expected)


def test_nowcast_missing_hours_drop_their_weight() -> None:
    # Steady 30 µg/m³ with holes: the weights of missing hours are 0, the result stays 30.
    values: list[float | None] = [30.0, None, 30.0, None, None, 30.0, 30.0, None, 30.0]
    assert nowcast(values) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("first_three", "computable"),
    [
        ((1.0, 2.0, 3.0), True),
        ((None, 2.0, 3.0), True),
        ((1.0, None, 3.0), True),
        ((1.0, 2.0, None), True),
        ((1.0, None, None), False),
        ((None, 2.0, None), False),
        ((None, None, 3.0), False),
        ((None, None, None), False),
    ],
)
def test_nowcast_needs_two_of_the_three_latest_hours(
    first_three: tuple[float | None, ...], computable: bool
) -> None:
    values = [*first_three, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    assert (nowcast(values) is not None) is computable


def test_nowcast_edge_inputs() -> None:
    assert nowcast([]) is None
    assert nowcast([12.0]) is None  # one of three hours
    assert nowcast([12.0, math.nan, 12.0]) == pytest.approx(12.0)  # NaN is missing
    assert nowcast([0.0, 0.0, 0.0]) == 0.0
    # Only the first 12 hours count.
    assert nowcast([10.0] * 12 + [1000.0]) == pytest.approx(10.0)


# --------------------------------------------------------------------------------------------
# Hourly VN_AQI (2.2.1, 2.3.b)
# --------------------------------------------------------------------------------------------


def test_hourly_worked_example() -> None:
    # 2.3.b: O3 136.1, NO2 118.7, NowCast PM2.5 20.3 (the result of 2.3.a).
    result = vn_hourly_aqi({"o3": [136.1], "no2": [118.7], "pm25": EXAMPLE_PM25_NEWEST_FIRST})
    assert result is not None
    # O3 43 and PM2.5 41 as printed. NO2: 50/100 × (118.7 − 100) + 50 = 59.35 → 59; the
    # decision prints 60 (and AQI^h = 60), which no rounding rule consistent with its other
    # examples gives (ceil would make the daily NO2 65.4 → 66, printed 65).
    assert result.sub_indices == {"pm25": 41, "o3": 43, "no2": 59}
    assert result.index == 59
    assert result.dominant == "no2"
    assert result.level.key == "moderate"
    assert sub_index("pm25", 20.3) == 41  # the printed NowCast itself gives 41 too


def test_hourly_uses_latest_value_for_gases_and_nowcast_for_pm() -> None:
    result = vn_hourly_aqi({"pm10": [50.0, 50.0, 50.0], "co": [10000.0, 90000.0]})
    assert result is not None
    assert result.sub_indices == {"pm10": 50, "co": 50}
    assert result.dominant == "pm10"  # ties go to PM first


def test_hourly_requires_pm() -> None:
    # 2.1.b: at least one of PM10, PM2.5 must be in the calculation.
    assert vn_hourly_aqi({"o3": [300.0], "no2": [500.0]}) is None
    assert vn_hourly_aqi({"o3": [300.0], "pm25": [None, None, 10.0]}) is None  # no NowCast
    assert vn_hourly_aqi({}) is None
    only_pm10 = vn_hourly_aqi({"pm10": [150.0, 150.0], "o3": [300.0]})
    assert only_pm10 is not None
    assert only_pm10.index == 150
    assert only_pm10.dominant == "o3"


def test_hourly_ignores_missing_gas_hour() -> None:
    result = vn_hourly_aqi({"pm25": [10.0, 10.0], "no2": [None, 500.0], "so2": [math.nan]})
    assert result is not None
    assert result.sub_indices == {"pm25": 20}


# --------------------------------------------------------------------------------------------
# Daily VN_AQI (2.2.2, 2.3.c)
# --------------------------------------------------------------------------------------------


def test_daily_worked_example_from_statistics() -> None:
    result = vn_daily_aqi_from_stats({"o3-8h": 89.3, "o3-1h": 114.6, "no2": 130.8, "pm25": 55.7})
    assert result is not None
    # O3: max(45 from 8 h, 36 from 1 h); NO2 65; PM2.5 109.5 → 110.
    assert result.sub_indices == {"pm25": 110, "o3": 45, "no2": 65}
    assert result.index == 110
    assert result.dominant == "pm25"
    assert result.level.name_vi == "Kém"


def test_daily_worked_example_from_hourly_means() -> None:
    o3 = [10.0] * 24
    # An 8-hour window (indices 2..9) averaging 89.3, with the day's highest hour 114.6.
    o3[2:10] = [114.6, 85.0, 85.0, 85.0, 85.0, 85.0, 85.0, 89.8]
    no2 = [50.0] * 24
    no2[13] = 130.8
    hourly = {"pm25": [55.7] * 24, "o3": o3, "no2": no2}
    stats = vn_daily_stats(hourly)
    assert stats["o3-8h"] == pytest.approx(89.3)
    assert stats["o3-1h"] == 114.6
    assert stats["no2"] == 130.8
    assert stats["pm25"] == pytest.approx(55.7)
    result = vn_daily_aqi(hourly)
    assert result is not None
    assert result.index == 110
    assert result.sub_indices == {"pm25": 110, "o3": 45, "no2": 65}


def test_decision_o3_8h_example() -> None:
    # 2.2.2.a: O3 from 18:00 to 00:00 the next day; the day (01:00 … 00:00) has 24 8-hour means
    # and the highest is 74.4. Newest first, with the 7 hours before the day at the end.
    oldest_first = [
        15.7, 14.2, 17.7, 18.9, 19.3, 15.7, 19.7, 22.6, 27.1, 29.0, 31.9, 25.3, 34.7, 35.2, 41.6,
        45.7, 49.2, 55.8, 69.6, 78.3, 91.5, 97.7, 81.2, 71.8, 43.5, 34.3, 21.5, 20.5, 19.4, 20.4,
        21.3,
    ]  # fmt: skip
    means = rolling_means(oldest_first[::-1])
    printed_oldest_first = [
        18.0, 19.4, 21.2, 23.0, 23.8, 25.8, 28.2, 30.9, 33.8, 36.6, 39.9, 44.7, 51.3, 58.4, 66.2,
        71.1, 74.4, 73.7, 71.0, 65.0, 57.8, 48.7, 39.1, 31.6,
    ]  # fmt: skip
    computed = [m for m in means[::-1] if m is not None]
    assert len(computed) == 24
    # The printed means come from unrounded hourly data: 21.25 is printed 21.2 but 25.75 is
    # 25.8, and at 12:00 the text prints 44.7 where the printed hours average 44.6375.
    assert computed == pytest.approx(printed_oldest_first, abs=0.07)
    stats = vn_daily_stats({"o3": oldest_first[::-1], "pm25": [10.0] * 24})
    assert stats["o3-8h"] == pytest.approx(74.3875)
    assert stats["o3-1h"] == 97.7


def test_daily_o3_8h_above_400_uses_1h_only() -> None:
    # 8-hour 450 µg/m³ (> 400): only the 1-hour sub-index counts.
    result = vn_daily_aqi_from_stats({"pm25": 10.0, "o3-8h": 450.0, "o3-1h": 500.0})
    assert result is not None
    assert result.sub_indices["o3"] == sub_index("o3", 500.0, "hourly") == 225
    # At 400 the 8-hour value still counts and wins here.
    result = vn_daily_aqi_from_stats({"pm25": 10.0, "o3-8h": 400.0, "o3-1h": 500.0})
    assert result is not None
    assert result.sub_indices["o3"] == 300
    # From hourly means: a steady 450 µg/m³ day.
    result = vn_daily_aqi({"pm25": [10.0] * 24, "o3": [450.0] * 24})
    assert result is not None
    assert result.sub_indices["o3"] == 213  # 200 + 100 × 50 / 400 = 212.5


def test_daily_requires_pm() -> None:
    assert vn_daily_aqi_from_stats({"o3-1h": 300.0, "no2": 150.0}) is None
    assert vn_daily_aqi({"no2": [150.0] * 24}) is None


def test_daily_minimum_data_for_24h_mean() -> None:
    eighteen: list[float | None] = [40.0] * 18 + [None] * 6
    seventeen: list[float | None] = [40.0] * 17 + [None] * 7
    result = vn_daily_aqi({"pm25": eighteen})
    assert result is not None and result.index == 80
    assert vn_daily_aqi({"pm25": seventeen}) is None
    # Missing hours are left out of the mean, not counted as zero.
    result = vn_daily_aqi({"pm25": [None, 40.0, math.nan, *([40.0] * 21)]})
    assert result is not None and result.index == 80


def test_daily_minimum_data_for_daily_maximum() -> None:
    result = vn_daily_aqi({"pm25": [10.0] * 24, "no2": [300.0] * 17 + [None] * 7})
    assert result is not None
    assert "no2" not in result.sub_indices
    result = vn_daily_aqi({"pm25": [10.0] * 24, "no2": [300.0] * 18 + [None] * 6})
    assert result is not None
    assert result.sub_indices["no2"] == 110


def test_rolling_means_need_six_of_eight_hours() -> None:
    hours: list[float | None] = [8.0, 8.0, None, 8.0, None, 8.0, 8.0, 8.0, 16.0]
    means = rolling_means(hours, count=3)
    assert means[0] == pytest.approx(8.0)  # 6 of 8
    assert means[1] == pytest.approx((8.0 * 5 + 16.0) / 6)  # 6 of 8, with the 9th hour
    assert means[2] is None  # 5 of 7 available
    assert rolling_means([1.0] * 24)[-1] is None  # the last window has 1 hour


def test_daily_o3_8h_needs_18_valid_means() -> None:
    # 24 hours and no earlier ones: means 0..18 have ≥ 6 hours → 19 valid → kept.
    stats = vn_daily_stats({"o3": [100.0] * 24})
    assert stats["o3-8h"] == pytest.approx(100.0)
    # 20 hours present (the 4 newest missing): means 0..14 valid only → 8-hour part dropped.
    stats = vn_daily_stats({"o3": [None] * 4 + [100.0] * 20})
    assert "o3-8h" not in stats
    assert stats["o3-1h"] == 100.0


def test_daily_o3_uses_hours_before_the_day() -> None:
    # A high evening the day before counts in the first 8-hour means of the day.
    day = [20.0] * 24
    before = [300.0] * 7
    stats = vn_daily_stats({"o3": day + before})
    assert stats["o3-8h"] == pytest.approx((20.0 + 300.0 * 7) / 8)
    assert stats["o3-1h"] == 20.0  # the 1-hour maximum is the day's own


# --------------------------------------------------------------------------------------------
# hourly_means
# --------------------------------------------------------------------------------------------

H = 3_600_000_000


def test_hourly_means_buckets_newest_first() -> None:
    end = 1_700_000_000 * 1_000_000
    samples = [
        (end - 1, 10.0),  # last µs of hour 0
        (end - H // 2, 20.0),  # hour 0
        (end - H, 5.0),  # first µs of hour 0 (hour 0 is [end − 1 h, end))
        (end - H - 1, 7.0),  # hour 1
        (end - 3 * H + 10, 9.0),  # hour 2
        (end, 1000.0),  # exclusive end: ignored
        (end - 4 * H - 1, 1000.0),  # before the window: hours = 4 covers [end − 4 h, end)
        (end - 2 * H - 5, math.nan),  # non-finite: ignored
    ]
    assert hourly_means(samples, end, 4) == [
        pytest.approx(35.0 / 3),
        7.0,
        9.0,
        None,
    ]


def test_hourly_means_edge_cases() -> None:
    assert hourly_means([], 0, 3) == [None, None, None]
    assert hourly_means([(5, 1.0)], 10, 0) == []
    assert hourly_means([(5, math.inf), (6, 2.0)], 10, 1) == [2.0]
    with pytest.raises(ValueError):
        hourly_means([], 0, -1)


def test_hourly_means_feed_the_nowcast() -> None:
    end = 1_000 * H
    samples = [(end - k * H - m * 300_000_000, 20.0 + k) for k in range(12) for m in range(1, 13)]
    means = hourly_means(samples, end, 12)
    assert means == [pytest.approx(20.0 + k) for k in range(12)]
    assert nowcast(means) is not None


# --------------------------------------------------------------------------------------------
# US EPA AQI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "value", "index"),
    [
        (table, value, index)
        for table, rows in US_BREAKPOINTS.items()
        for bp_lo, bp_hi, i_lo, i_hi in rows
        for value, index in ((bp_lo, i_lo), (bp_hi, i_hi))
    ],
)
def test_us_category_edges(table: str, value: float, index: int) -> None:
    assert epa_sub_index(table, value) == index


def test_us_2024_pm25_table() -> None:
    assert [row[:2] for row in US_BREAKPOINTS["pm25"]] == [
        (0.0, 9.0),
        (9.1, 35.4),
        (35.5, 55.4),
        (55.5, 125.4),
        (125.5, 225.4),
        (225.5, 325.4),
    ]
    # 12.0 µg/m³ was the top of "Good" before 2024; now it is Moderate.
    assert epa_sub_index("pm25", 12.0) == 56
    assert us_level_of(56).name_en == "Moderate"


@pytest.mark.parametrize(
    ("table", "value", "index"),
    [
        ("pm25", 9.09, 50),  # truncated to 9.0
        ("pm25", 35.49, 100),
        ("pm25", 35.5, 101),
        ("pm10", 54.9, 50),  # truncated to 54
        ("o3-8h", 0.0549, 50),  # truncated to 0.054
        ("o3-8h", 0.0709, 100),
        ("co", 4.49, 50),  # truncated to 4.4
        ("so2-1h", 35.9, 50),  # truncated to 35
        ("no2", 53.99, 50),  # truncated to 53
        ("no2", 100.5, 100),
    ],
)
def test_us_truncation(table: str, value: float, index: int) -> None:
    assert epa_sub_index(table, value) == index


def test_us_conversions_at_25_celsius() -> None:
    assert ugm3_to_epa_units("pm25", 12.3) == 12.3
    assert ugm3_to_epa_units("no2", 46.0055) == pytest.approx(24.45)  # ppb
    assert ugm3_to_epa_units("o3", 47.997) == pytest.approx(0.02445)  # ppm
    assert ugm3_to_epa_units("co", 28010.0) == pytest.approx(24.45)  # ppm
    assert ugm3_to_epa_units("so2", 64.066) == pytest.approx(24.45)  # ppb
    # Category tops given in µg/m³ land on the ppm/ppb tops, not one step below.
    assert us_sub_index("no2", 100 * 46.0055 / 24.45) == 100
    assert us_sub_index("o3", 70 * 47.997 / 24.45) == 100
    assert us_sub_index("co", 9400 * 28.010 / 24.45) == 100
    assert us_sub_index("so2", 75 * 64.066 / 24.45) == 100


def test_us_aqi_result() -> None:
    result = us_aqi({"pm25": 40.0, "no2": 40.0, "co": 1000.0})
    assert result is not None
    assert result.dominant == "pm25"
    assert result.index == 112  # 101 + 49 × (40.0 − 35.5) / 19.9
    assert result.level.name_en == "Unhealthy for Sensitive Groups"
    assert result.level.key == "poor"
    assert set(result.sub_indices) == {"pm25", "no2", "co"}
    assert us_aqi({}) is None
    assert us_aqi({"pm25": math.nan}) is None


def test_us_o3_8h_above_0_200_ppm_needs_1h() -> None:
    ugm3 = 0.201 * 1000 * 47.997 / 24.45 + 0.01
    assert us_sub_index("o3", ugm3) is None
    assert us_aqi({"o3": ugm3}) is None
    one_hour = 0.405 * 1000 * 47.997 / 24.45 + 0.01
    result = us_aqi({"o3": ugm3, "o3_1h": one_hour})
    assert result is not None and result.sub_indices["o3"] == 301
    # Below 0.125 ppm the 1-hour value has no index; the 8-hour one stands.
    result = us_aqi({"o3": 100.0, "o3_1h": 200.0})
    assert result is not None and result.sub_indices["o3"] == us_sub_index("o3", 100.0)


def test_us_so2_above_304_ppb() -> None:
    ugm3 = 400 * 64.066 / 24.45
    assert us_sub_index("so2", ugm3) is None
    result = us_aqi({"so2": ugm3})
    assert result is not None and result.index == 200
    result = us_aqi({"so2": ugm3, "so2_24h": 605 * 64.066 / 24.45 + 0.01})
    assert result is not None and result.index == 301


def test_us_above_the_table_extends_the_last_row() -> None:
    assert epa_sub_index("pm25", 325.4) == 500
    assert epa_sub_index("pm25", 425.3) == 699  # 301 + 199 × 199.8 / 99.9 = 699
    result = us_aqi({"pm25": 425.3})
    assert result is not None and result.level.key == "hazardous"


def test_us_rejects_unknown_pollutant() -> None:
    with pytest.raises(ValueError):
        us_sub_index("pm1", 10.0)
    assert set(POLLUTANTS) == {"pm25", "pm10", "o3", "no2", "co", "so2"}
