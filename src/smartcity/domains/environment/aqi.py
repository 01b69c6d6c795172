"""Air quality indices: VN_AQI (Quyết định 1459/QĐ-TCMT) and, as an alternative, the US EPA AQI.

Pure functions, no I/O. Inputs use the attribute names of the FIWARE Smart Data Model
AirQualityObserved (`pm25`, `pm10`, `o3`, `no2`, `co`, `so2`), all in µg/m³, CO included, as
the decision's Bảng 2 is.

VN_AQI follows "Hướng dẫn kỹ thuật tính toán và công bố chỉ số chất lượng không khí Việt Nam
(VN_AQI)", issued with Quyết định 1459/QĐ-TCMT of 12 November 2019 by the Vietnam Environment
Administration (Tổng cục Môi trường). Section numbers below (2.1, 2.2.1, Bảng 2, …) are the
decision's. Where its text is silent or ambiguous the choice made here is marked "Choice:".

* Hourly AQI (2.2.1): PM10 and PM2.5 use the NowCast of the last 12 hourly means (2.2.1.a);
  O3 (the 1-hour column of Bảng 2), NO2, SO2 and CO use the latest 1-hour mean.
* Daily AQI (2.2.2): PM uses the 24-hour mean; O3 the larger of the sub-indices of the day's
  highest 1-hour mean and highest 8-hour mean (the 8-hour one is dropped when that mean is above
  400 µg/m³); NO2, SO2 and CO use the day's highest 1-hour mean.
* Sub-indices are linear interpolations between contiguous breakpoints of Bảng 2 (Công thức 1
  and 2: no US-style 51/101 offsets), and the AQI is their maximum, rounded to the nearest
  integer (half up).
* 2.1.b: "Phương pháp tính toán VN_AQI yêu cầu bắt buộc phải có tối thiểu 01 trong 02 thông số
  PM10, PM2.5 trong công thức tính": without a PM10 or PM2.5 sub-index there is no VN_AQI, hourly
  or daily. Both functions return None then.

The US EPA AQI follows the Technical Assistance Document for the Reporting of Daily Air Quality
(EPA-454/B-24-002, May 2024), with the PM2.5 breakpoints of the 7 February 2024 PM NAAQS final
rule and one 301–500 "Hazardous" row per pollutant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

POLLUTANTS: tuple[str, ...] = ("pm25", "pm10", "o3", "no2", "co", "so2")
PM_POLLUTANTS: tuple[str, ...] = ("pm25", "pm10")

HOUR_US = 3_600_000_000

# Tiny tolerance for float noise at exact halves and at truncation edges
# (5.7 * 50 / 30 = 9.500000000000005; 0.070 ppm converted to µg/m³ and back = 0.06999999...).
_EPS = 1e-6


# --------------------------------------------------------------------------------------------
# Levels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AqiLevel:
    """One band of the index: 0–50, 51–100, 101–150, 151–200, 201–300, 301–500."""

    key: str  # "good", "moderate", "poor", "bad", "very-bad", "hazardous"
    name_vi: str
    name_en: str
    color: str  # "#rrggbb"
    low: int
    high: int


@dataclass(frozen=True)
class AqiResult:
    """An index value, its band, the pollutant that sets it and every sub-index computed."""

    index: int
    level: AqiLevel
    dominant: str | None
    sub_indices: dict[str, int]


# Bảng 1 of the decision: ranges, names and RGB colours.
LEVELS: tuple[AqiLevel, ...] = (
    AqiLevel("good", "Tốt", "Good", "#00e400", 0, 50),  # 0;228;0
    AqiLevel("moderate", "Trung bình", "Moderate", "#ffff00", 51, 100),  # 255;255;0
    AqiLevel("poor", "Kém", "Poor", "#ff7e00", 101, 150),  # 255;126;0
    AqiLevel("bad", "Xấu", "Bad", "#ff0000", 151, 200),  # 255;0;0
    AqiLevel("very-bad", "Rất xấu", "Very bad", "#8f3f97", 201, 300),  # 143;63;151
    AqiLevel("hazardous", "Nguy hại", "Hazardous", "#7e0023", 301, 500),  # 126;0;35
)

# EPA TAD 2024, Table 1 (names) and Table 2 (colours: the same RGB values as Bảng 1).
US_LEVELS: tuple[AqiLevel, ...] = (
    AqiLevel("good", "Tốt", "Good", "#00e400", 0, 50),
    AqiLevel("moderate", "Trung bình", "Moderate", "#ffff00", 51, 100),
    AqiLevel(
        "poor",
        "Không lành mạnh cho nhóm nhạy cảm",
        "Unhealthy for Sensitive Groups",
        "#ff7e00",
        101,
        150,
    ),
    AqiLevel("bad", "Không lành mạnh", "Unhealthy", "#ff0000", 151, 200),
    AqiLevel("very-bad", "Rất không lành mạnh", "Very Unhealthy", "#8f3f97", 201, 300),
    AqiLevel("hazardous", "Nguy hại", "Hazardous", "#7e0023", 301, 500),
)


def _level_in(levels: tuple[AqiLevel, ...], index: int) -> AqiLevel:
    if index < 0:
        raise ValueError(f"an AQI cannot be negative: {index}")
    for level in levels:
        if index <= level.high:
            return level
    return levels[-1]  # beyond 500 (US extrapolation) is still "hazardous"


def level_of(index: int) -> AqiLevel:
    """The VN_AQI band (Bảng 1) of an index value."""
    return _level_in(LEVELS, index)


def us_level_of(index: int) -> AqiLevel:
    """The US EPA AQI category of an index value (above 500 stays "hazardous")."""
    return _level_in(US_LEVELS, index)


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves up, as both documents do (not Python's banker's)."""
    return math.floor(value + 0.5 + _EPS)


def _is_value(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


# --------------------------------------------------------------------------------------------
# VN_AQI: Bảng 2
# --------------------------------------------------------------------------------------------

# I_i of Bảng 2, levels i = 1..8.
VN_INDEX_STEPS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)

# BP_i of Bảng 2 (µg/m³), levels i = 1..8. The 8th level is printed "≥ BP_8" (I = 500), so a
# concentration at or above BP_8 has sub-index 500 (Choice: capped, not extrapolated). The O3
# 8-hour column stops at level 6 (400 µg/m³ → 300); levels 7 and 8 are "-" in the decision.
VN_BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "o3-1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3-8h": (0, 100, 120, 170, 210, 400),
    "co": (0, 10_000, 30_000, 45_000, 60_000, 90_000, 120_000, 150_000),
    "so2": (0, 125, 350, 550, 800, 1600, 2100, 2630),
    "no2": (0, 100, 200, 700, 1200, 2350, 3100, 3850),
    "pm10": (0, 50, 150, 250, 350, 420, 500, 600),
    "pm25": (0, 25, 50, 80, 150, 250, 350, 500),
}

# 2.2.2.b: "Không tính toán AQI thông số O3 khi giá trị trung bình 8 giờ lớn nhất trong ngày cao
# hơn 400 µg/m3 (lúc này chỉ tính toán AQI đối với trung bình 1 giờ lớn nhất trong ngày)."
O3_8H_LIMIT = 400.0

PERIODS: tuple[str, ...] = ("hourly", "8h", "daily")


def _vn_table(pollutant: str, period: str) -> str:
    if pollutant not in POLLUTANTS:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {POLLUTANTS}")
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")
    if pollutant == "o3":
        if period == "daily":
            # The daily O3 sub-index combines two tables: see vn_daily_aqi.
            raise ValueError("O3 has no single daily table: use period 'hourly' or '8h'")
        return "o3-8h" if period == "8h" else "o3-1h"
    if period == "8h":
        raise ValueError(f"the decision has no 8-hour table for {pollutant!r}")
    return pollutant


def _interpolate(value: float, breakpoints: Sequence[float], steps: Sequence[int]) -> float | None:
    """Công thức 1/2 on one column: linear between contiguous breakpoints; None past the end."""
    for i in range(1, len(breakpoints)):
        if value <= breakpoints[i]:
            lo, hi = breakpoints[i - 1], breakpoints[i]
            return steps[i - 1] + (steps[i] - steps[i - 1]) * (value - lo) / (hi - lo)
    return None


def sub_index(pollutant: str, concentration: float, period: str = "hourly") -> int | None:
    """The VN_AQI sub-index (AQIx) of one concentration in µg/m³, rounded half up.

    `period` picks the column of Bảng 2:

    * ``"hourly"``: a 1-hour mean (the NowCast for PM; the 1-hour O3 column for O3). Also the
      table for the daily maximum 1-hour mean of O3, NO2, SO2 and CO.
    * ``"8h"``: an 8-hour mean; only O3 has one (ValueError for the others).
    * ``"daily"``: a 24-hour mean (PM) or a daily maximum 1-hour mean (NO2, SO2, CO). Bảng 2 has
      one column for those pollutants, so this is the same table as ``"hourly"``. O3 has no
      single daily table (ValueError): its daily sub-index is the larger of ``"hourly"`` on
      the day's highest 1-hour mean and ``"8h"`` on its highest 8-hour mean.

    None for a negative or non-finite concentration, and for an O3 8-hour mean above
    400 µg/m³, where the decision gives no value (use the 1-hour table). A concentration at or
    above the last breakpoint (printed "≥" with I = 500) gives 500.
    """
    table = _vn_table(pollutant, period)
    if not math.isfinite(concentration) or concentration < 0:
        return None
    breakpoints = VN_BREAKPOINTS[table]
    value = _interpolate(concentration, breakpoints, VN_INDEX_STEPS)
    if value is None:
        if table == "o3-8h":
            return None
        return VN_INDEX_STEPS[-1]
    return round_half_up(value)


# --------------------------------------------------------------------------------------------
# NowCast (2.2.1.a)
# --------------------------------------------------------------------------------------------

NOWCAST_HOURS = 12


def nowcast(hourly: Sequence[float | None]) -> float | None:
    """The decision's NowCast of PM10 or PM2.5 (µg/m³) from hourly means, newest first.

    ``hourly[0]`` is c1, the mean of the hour just ended; ``hourly[11]`` is c12. Only the first
    12 values are used; fewer values mean the older hours are missing. None (or NaN) marks a
    missing hour. As 2.2.1.a says:

    * w* = Cmin / Cmax over the hours present; w = 1/2 if w* ≤ 1/2, else w = w*.
    * NowCast = Σ w^(i−1)·ci / Σ w^(i−1) (i = 1..12) when w > 1/2, and
      NowCast = Σ (1/2)^i·ci when w = 1/2.
    * A missing ci has w^(i−1) = 0: its terms drop out of both sums.
    * At least 2 of c1, c2, c3 must be present, otherwise there is no NowCast (None).

    Choice: the w = 1/2 formula is the general one with its denominator Σ (1/2)^(i−1) =
    2·(1 − 2^−12) written as 2 (exactly as in EPA's TAD, where the method comes from). It is
    used as printed when all 12 hours are present. With a missing hour the denominator is no
    longer about 2 (dropping c1 would halve the result), so the general, normalised formula
    is used, which is what "w^(i−1) = 0" means there.
    """
    values = [c if c is not None and math.isfinite(c) else None for c in hourly[:NOWCAST_HOURS]]
    values += [None] * (NOWCAST_HOURS - len(values))
    if sum(c is not None for c in values[:3]) < 2:
        return None
    present = [(i, c) for i, c in enumerate(values) if c is not None]
    c_min = min(c for _, c in present)
    c_max = max(c for _, c in present)
    # Choice: all-zero (or non-positive) hours have no ratio; they are "steady", w = 1.
    w_star = c_min / c_max if c_max > 0 else 1.0
    w = 0.5 if w_star <= 0.5 else min(w_star, 1.0)
    if w == 0.5 and len(present) == NOWCAST_HOURS:
        return sum(0.5 ** (i + 1) * c for i, c in present)
    numerator = sum(w**i * c for i, c in present)
    denominator = sum(w**i for i, _ in present)
    return numerator / denominator


# --------------------------------------------------------------------------------------------
# Hourly means from raw samples
# --------------------------------------------------------------------------------------------


def hourly_means(
    samples: Iterable[tuple[int, float]], end_us: int, hours: int
) -> list[float | None]:
    """Per-hour arithmetic means of (epoch µs, value) samples of any cadence, newest first.

    Hour k (k = 0 .. hours−1) is [end_us − (k+1)·1 h, end_us − k·1 h): the end is exclusive,
    so a sample stamped exactly end_us belongs to the next hour. Samples outside the window and
    non-finite values are ignored; an hour without a sample is None.
    """
    if hours < 0:
        raise ValueError(f"hours must be >= 0, got {hours}")
    sums = [0.0] * hours
    counts = [0] * hours
    for t, value in samples:
        if t >= end_us or not math.isfinite(value):
            continue
        k = (end_us - 1 - t) // HOUR_US
        if k < hours:
            sums[k] += value
            counts[k] += 1
    return [s / n if n else None for s, n in zip(sums, counts, strict=True)]


# --------------------------------------------------------------------------------------------
# VN_AQI: hourly and daily
# --------------------------------------------------------------------------------------------


def _dominant(sub: Mapping[str, int]) -> str:
    # The first pollutant of POLLUTANTS wins a tie (PM2.5 before PM10 before the gases).
    return max((p for p in POLLUTANTS if p in sub), key=lambda p: sub[p])


def _vn_result(sub: dict[str, int]) -> AqiResult | None:
    # 2.1.b: no VN_AQI without a PM10 or PM2.5 sub-index.
    if not any(p in sub for p in PM_POLLUTANTS):
        return None
    dominant = _dominant(sub)
    return AqiResult(sub[dominant], level_of(sub[dominant]), dominant, sub)


def vn_hourly_aqi(hourly: Mapping[str, Sequence[float | None]]) -> AqiResult | None:
    """The hourly VN_AQI (AQI^h, 2.2.1) from hourly means per pollutant, newest first.

    ``hourly["pm25"][0]`` is the mean of the hour just ended. PM10 and PM2.5 use the NowCast of
    their first 12 values; O3 (1-hour column), NO2, SO2 and CO use their first value. Unknown
    keys are ignored. None when no PM10 or PM2.5 sub-index can be computed: 2.1.b makes at
    least one of them mandatory for the VN_AQI, hourly or daily.
    """
    sub: dict[str, int] = {}
    for pollutant in POLLUTANTS:
        series = hourly.get(pollutant)
        if not series:
            continue
        concentration = nowcast(series) if pollutant in PM_POLLUTANTS else series[0]
        if concentration is None or not math.isfinite(concentration):
            continue
        value = sub_index(pollutant, concentration, "hourly")
        if value is not None:
            sub[pollutant] = value
    return _vn_result(sub)


# Minimum data for daily statistics. Choice: the decision sets none (its only completeness rule
# is the NowCast's 2 of 3 hours), so the usual 75 % rule is used (40 CFR 50 appendices, EU
# 2008/50/EC annex VII): a 24-hour mean or a daily maximum needs 18 of the day's 24 hourly
# means, an 8-hour mean 6 of its 8 hours, and the daily highest 8-hour mean 18 of the day's 24
# 8-hour means.
HOURS_PER_DAY = 24
MIN_DAY_HOURS = 18
O3_WINDOW_HOURS = 8
MIN_WINDOW_HOURS = 6
MIN_DAY_WINDOWS = 18


def rolling_means(
    hourly: Sequence[float | None],
    window: int = O3_WINDOW_HOURS,
    count: int = HOURS_PER_DAY,
    min_hours: int = MIN_WINDOW_HOURS,
) -> list[float | None]:
    """`count` rolling `window`-hour means of hourly means given newest first.

    Mean j (newest first) covers ``hourly[j : j + window]``, i.e. the window ending at hour j,
    as the decision's O3 example does (the 8-hour mean at 01:00 averages 18:00 … 01:00). Hours
    missing or beyond the sequence do not count; a mean needs `min_hours` hours, else None.
    """
    means: list[float | None] = []
    for j in range(count):
        present = [c for c in hourly[j : j + window] if c is not None and math.isfinite(c)]
        means.append(sum(present) / len(present) if len(present) >= min_hours else None)
    return means


def _day_values(series: Sequence[float | None]) -> list[float]:
    return [c for c in series[:HOURS_PER_DAY] if c is not None and math.isfinite(c)]


def vn_daily_stats(hourly_of_day: Mapping[str, Sequence[float | None]]) -> dict[str, float]:
    """The concentrations of 2.2.2.a for one day, from hourly means per pollutant, newest first.

    The day is the 24 hours ending at ``hourly[...][0]`` (the decision's day runs from the hour
    ending 01:00 to the hour ending 00:00 the next day). Keys of the result: ``pm25``/``pm10``
    (24-hour means), ``o3-1h`` and ``o3-8h`` (the day's highest 1-hour and 8-hour means),
    ``no2``/``so2``/``co`` (the day's highest 1-hour means). A statistic without enough data
    (see MIN_DAY_HOURS …) is left out.

    For O3 the sequence may hold up to 31 hours: indices 24..30 are the 7 hours before the day,
    which the first 8-hour means of the day need. With only 24 hours those means are built from
    the hours there are (still at least 6 of 8).
    """
    stats: dict[str, float] = {}
    for pollutant in POLLUTANTS:
        series = hourly_of_day.get(pollutant)
        if not series:
            continue
        day = _day_values(series)
        if len(day) < MIN_DAY_HOURS:
            continue
        if pollutant in PM_POLLUTANTS:
            stats[pollutant] = sum(day) / len(day)
        elif pollutant == "o3":
            stats["o3-1h"] = max(day)
            means = [
                m
                for m in rolling_means(series[: HOURS_PER_DAY + O3_WINDOW_HOURS - 1])
                if m is not None
            ]
            if len(means) >= MIN_DAY_WINDOWS:
                stats["o3-8h"] = max(means)
        else:
            stats[pollutant] = max(day)
    return stats


def vn_daily_aqi_from_stats(stats: Mapping[str, float]) -> AqiResult | None:
    """The daily VN_AQI (AQI^d, 2.2.2.b–c) from the day's statistics (keys of vn_daily_stats).

    O3: the larger of the sub-indices of ``o3-1h`` (1-hour column) and ``o3-8h`` (8-hour
    column); the 8-hour one is not computed above 400 µg/m³. The text says "Cx là giá trị lớn
    nhất trong giá trị trung bình 1 giờ lớn nhất … và giá trị trung bình 8 giờ lớn nhất", but
    the two values use different columns and the worked example (2.3.c) computes both
    sub-indices (45 and 36) separately, so the larger sub-index is taken.
    """
    sub: dict[str, int] = {}
    for pollutant in POLLUTANTS:
        if pollutant == "o3":
            parts = []
            if _is_value(stats.get("o3-1h")):
                parts.append(sub_index("o3", stats["o3-1h"], "hourly"))
            if _is_value(stats.get("o3-8h")):
                parts.append(sub_index("o3", stats["o3-8h"], "8h"))
            values = [v for v in parts if v is not None]
            if values:
                sub["o3"] = max(values)
        elif _is_value(stats.get(pollutant)):
            value = sub_index(pollutant, stats[pollutant], "daily")
            if value is not None:
                sub[pollutant] = value
    return _vn_result(sub)


def vn_daily_aqi(hourly_of_day: Mapping[str, Sequence[float | None]]) -> AqiResult | None:
    """The daily VN_AQI (AQI^d, 2.2.2) from one day's 24 hourly means per pollutant, newest first.

    PM: 24-hour mean; O3: the larger of the sub-indices of the highest 1-hour mean and of the
    highest rolling 8-hour mean (the latter dropped above 400 µg/m³); NO2, SO2, CO: highest
    1-hour mean. Minimum data: 18 of 24 hours for every daily statistic, 6 of 8 hours for an
    8-hour mean and 18 valid 8-hour means for their maximum (see vn_daily_stats; the decision
    itself sets no such rule). None without a PM10 or PM2.5 sub-index (2.1.b).
    """
    return vn_daily_aqi_from_stats(vn_daily_stats(hourly_of_day))


# --------------------------------------------------------------------------------------------
# US EPA AQI (TAD May 2024, Table 6)
# --------------------------------------------------------------------------------------------

# Gas conversion at 25 °C and 1 atm (molar volume 24.45 L/mol; QCVN 05:2023/BTNMT also defines
# its Nm³ at 25 °C and 760 mmHg): ppb = µg/m³ × 24.45 / M, M in g/mol.
MOLAR_VOLUME_L = 24.45
MOLAR_MASS: dict[str, float] = {"o3": 47.997, "no2": 46.0055, "so2": 64.066, "co": 28.010}

# (BP_lo, BP_hi, I_lo, I_hi) rows in EPA units: PM µg/m³, O3 and CO ppm, SO2 and NO2 ppb.
_Row = tuple[float, float, int, int]
US_BREAKPOINTS: dict[str, tuple[_Row, ...]] = {
    # 24-hour (or NowCast). Feb 2024 final rule: Good now ends at 9.0, and the upper rows moved.
    "pm25": (
        (0.0, 9.0, 0, 50),
        (9.1, 35.4, 51, 100),
        (35.5, 55.4, 101, 150),
        (55.5, 125.4, 151, 200),
        (125.5, 225.4, 201, 300),
        (225.5, 325.4, 301, 500),
    ),
    "pm10": (  # 24-hour
        (0, 54, 0, 50),
        (55, 154, 51, 100),
        (155, 254, 101, 150),
        (255, 354, 151, 200),
        (355, 424, 201, 300),
        (425, 604, 301, 500),
    ),
    # 8-hour O3 does not define AQI ≥ 301 (TAD): above 0.200 ppm use the 1-hour table. Some
    # public tables add a "201–400 ppb → 301–500" 8-hour row; the TAD has none.
    "o3-8h": (
        (0.000, 0.054, 0, 50),
        (0.055, 0.070, 51, 100),
        (0.071, 0.085, 101, 150),
        (0.086, 0.105, 151, 200),
        (0.106, 0.200, 201, 300),
    ),
    # 1-hour O3 starts at AQI 101 (below 0.125 ppm the 8-hour value is the AQI).
    "o3-1h": (
        (0.125, 0.164, 101, 150),
        (0.165, 0.204, 151, 200),
        (0.205, 0.404, 201, 300),
        (0.405, 0.604, 301, 500),
    ),
    "co": (  # 8-hour
        (0.0, 4.4, 0, 50),
        (4.5, 9.4, 51, 100),
        (9.5, 12.4, 101, 150),
        (12.5, 15.4, 151, 200),
        (15.5, 30.4, 201, 300),
        (30.5, 50.4, 301, 500),
    ),
    # 1-hour SO2 does not define AQI ≥ 200 (TAD): from 305 ppb the 24-hour mean is used.
    "so2-1h": (
        (0, 35, 0, 50),
        (36, 75, 51, 100),
        (76, 185, 101, 150),
        (186, 304, 151, 200),
    ),
    "so2-24h": (
        (305, 604, 201, 300),
        (605, 1004, 301, 500),
    ),
    "no2": (  # 1-hour
        (0, 53, 0, 50),
        (54, 100, 51, 100),
        (101, 360, 101, 150),
        (361, 649, 151, 200),
        (650, 1249, 201, 300),
        (1250, 2049, 301, 500),
    ),
}

# Truncation before Equation 1 (TAD): decimals kept, in the table's unit.
US_DECIMALS: dict[str, int] = {
    "pm25": 1,
    "pm10": 0,
    "o3-8h": 3,
    "o3-1h": 3,
    "co": 1,
    "so2-1h": 0,
    "so2-24h": 0,
    "no2": 0,
}

# Tables whose top row may be extended when a concentration is above it (TAD: "If the
# concentration is larger than the highest breakpoint … you may use the last two breakpoints").
_US_OPEN_TOP = frozenset({"pm25", "pm10", "o3-1h", "co", "so2-24h", "no2"})


def ugm3_to_epa_units(pollutant: str, concentration: float) -> float:
    """µg/m³ to the unit of the EPA table: PM unchanged, O3 and CO ppm, SO2 and NO2 ppb."""
    if pollutant in PM_POLLUTANTS:
        return concentration
    if pollutant not in MOLAR_MASS:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {POLLUTANTS}")
    ppb = concentration * MOLAR_VOLUME_L / MOLAR_MASS[pollutant]
    return ppb / 1000 if pollutant in ("o3", "co") else ppb


def _truncate(value: float, decimals: int) -> float:
    scale: int = 10**decimals
    return math.floor(value * scale + _EPS) / scale


def epa_sub_index(table: str, value: float) -> int | None:
    """EPA Equation 1 on one table of US_BREAKPOINTS, `value` in the table's unit.

    The value is truncated first (PM2.5 0.1 µg/m³, PM10 1 µg/m³, O3 0.001 ppm, CO 0.1 ppm, SO2
    and NO2 1 ppb). None when negative or non-finite, below the first row (1-hour O3, 24-hour
    SO2) or above the last row of the 8-hour O3 and 1-hour SO2 tables; above the last row of
    the other tables the last row is extended (AQI > 500).
    """
    rows = US_BREAKPOINTS[table]
    if not math.isfinite(value) or value < 0:
        return None
    c = _truncate(value, US_DECIMALS[table])
    tolerance = 0.5 / 10 ** US_DECIMALS[table]
    if c < rows[0][0] - tolerance:
        return None
    for bp_lo, bp_hi, i_lo, i_hi in rows:
        if c <= bp_hi + tolerance / 10:
            return round_half_up(i_lo + (i_hi - i_lo) * (c - bp_lo) / (bp_hi - bp_lo))
    if table not in _US_OPEN_TOP:
        return None
    bp_lo, bp_hi, i_lo, i_hi = rows[-1]
    return round_half_up(i_lo + (i_hi - i_lo) * (c - bp_lo) / (bp_hi - bp_lo))


def us_sub_index(pollutant: str, concentration: float) -> int | None:
    """The US EPA sub-index of one concentration in µg/m³ at the pollutant's usual averaging.

    PM2.5 and PM10: 24-hour mean or NowCast; O3: 8-hour mean; CO: 8-hour mean; SO2 and NO2:
    1-hour mean. For O3 above 0.200 ppm (8 h) and SO2 above 304 ppb (1 h) the EPA needs another
    averaging time (1-hour O3, 24-hour SO2) and this returns None: see us_aqi.
    """
    if pollutant not in POLLUTANTS:
        raise ValueError(f"unknown pollutant {pollutant!r}; expected one of {POLLUTANTS}")
    table = {"o3": "o3-8h", "so2": "so2-1h"}.get(pollutant, pollutant)
    return epa_sub_index(table, ugm3_to_epa_units(pollutant, concentration))


# Optional extra averaging times accepted by us_aqi: key → (pollutant's other table).
_US_EXTRA: dict[str, tuple[str, str]] = {"o3": ("o3_1h", "o3-1h"), "so2": ("so2_24h", "so2-24h")}


def us_aqi(concentrations: Mapping[str, float]) -> AqiResult | None:
    """The US EPA AQI (2024 PM2.5 breakpoints) from concentrations in µg/m³.

    Keys: the POLLUTANTS at their usual averaging (see us_sub_index), plus optionally
    ``"o3_1h"`` (a 1-hour O3 mean) and ``"so2_24h"`` (a 24-hour SO2 mean). As the TAD says, the
    O3 sub-index is the larger of the 8-hour and (from 0.125 ppm) the 1-hour one; an 8-hour O3
    above 0.200 ppm has no 8-hour sub-index. A 1-hour SO2 above 304 ppb gives AQI 200 unless a
    24-hour mean of 305 ppb or more gives a higher one. None when nothing can be computed.
    Gases are converted at 25 °C (see ugm3_to_epa_units). Levels are US_LEVELS.
    """
    sub: dict[str, int] = {}
    for pollutant in POLLUTANTS:
        parts: list[int] = []
        value = concentrations.get(pollutant)
        if value is not None and math.isfinite(value) and value >= 0:
            main = us_sub_index(pollutant, value)
            if main is None and pollutant == "so2":
                main = 200  # 1-hour SO2 above 304 ppb: at least the top of "Unhealthy"
            if main is not None:
                parts.append(main)
        if pollutant in _US_EXTRA:
            key, table = _US_EXTRA[pollutant]
            extra = concentrations.get(key)
            if extra is not None and math.isfinite(extra):
                value_extra = epa_sub_index(table, ugm3_to_epa_units(pollutant, extra))
                if value_extra is not None:
                    parts.append(value_extra)
        if parts:
            sub[pollutant] = max(parts)
    if not sub:
        return None
    dominant = _dominant(sub)
    return AqiResult(sub[dominant], us_level_of(sub[dominant]), dominant, sub)
