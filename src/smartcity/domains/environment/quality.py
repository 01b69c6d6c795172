"""Quality flags for environment sensor series, so that bad readings stay out of the indices.

Three checks, each on a series of (epoch seconds, value) pairs, oldest first:

- out-of-range: the value is not physically plausible for the attribute (or not a number);
- stuck: the sensor has repeated the same value (within a tolerance) for longer than the
  attribute can plausibly stay flat, unless that value sits at the attribute's detection floor
  (fresh water at 0.1–0.2 ‰, a dry street at 0 m), where flat is the normal state;
- spike: one reading jumps away from the median of the readings before it by more than
  `SPIKE_K` robust standard deviations *and* more than the attribute's `MIN_JUMP`.

A spike is a single reading. In real time (`check_spike`, `assess`) the newest reading can
only be judged on its past, so the first reading of a genuine level shift (a cloudburst
flooding a street) is flagged too; the next reading, if it stays near the new level, is not,
because the previous one already departed the same way. Looking back over a whole series
(`usable`), a departure confirmed by the reading after it is a level shift and is kept: only
isolated jumps are dropped. Excursions of two or more readings are thus not spikes here; the
range check and the alert anomaly detector (smartcity.core.alerts.anomaly) cover those.

`usable` keeps stuck readings unless asked (`drop_stuck=True`): a frozen value is still a value
the sensor once measured, and whether a stuck run should leave an index is the index's call.

Attribute names are the Smart Data Model ones the platform stores (AirQualityObserved,
WaterObserved, FloodMonitoring, WaterQualityObserved, SluiceGate). Pure functions: no I/O and
no clock; times come with the readings.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "MIN_JUMP",
    "MIN_STUCK_READINGS",
    "PLAUSIBLE",
    "SPIKE_K",
    "SPIKE_MIN_HISTORY",
    "SPIKE_WINDOW",
    "STUCK_AFTER_S",
    "STUCK_FLOOR",
    "QualityFlag",
    "Range",
    "assess",
    "check_range",
    "check_spike",
    "check_stuck",
    "usable",
]

Reading = tuple[float, float]

_HOUR_S = 3600.0


@dataclass(frozen=True)
class Range:
    """A physically plausible range of values, bounds included."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class QualityFlag:
    """Why a reading should not be trusted: code "out-of-range", "stuck" or "spike"."""

    code: str
    attribute: str
    reason: str
    # When the problem started: the reading's time, or the first reading of a stuck run.
    since_s: float | None = None


# Plausible ranges are deliberately wide: they catch broken sensors and error codes (-9999,
# 65535, a negative concentration), not bad air or a record flood, which must stay visible.
PLAUSIBLE: dict[str, Range] = {
    # µg/m³. Optical PM sensors saturate near 1000 µg/m³; the worst haze episodes recorded in
    # Asian cities peak at about that for PM2.5, PM10 somewhat higher with dust.
    "pm25": Range(0.0, 1000.0),
    "pm10": Range(0.0, 1500.0),
    # µg/m³. 2000 µg/m³ is about 1 ppm of NO2/O3/SO2, far beyond any urban ambient level
    # (hourly limits are 200–350 µg/m³ in QCVN 05:2023/BTNMT) and at the top of the
    # electrochemical cells' ranges.
    "o3": Range(0.0, 2000.0),
    "no2": Range(0.0, 2000.0),
    "so2": Range(0.0, 2000.0),
    # µg/m³ (100 mg/m³ ≈ 87 ppm): roadside CO is a few mg/m³; more is a fire or a fault.
    "co": Range(0.0, 100_000.0),
    # ‰. Sea water is about 35 ‰ and the Hậu mouth stays below ~32 ‰; 40 ‰ leaves room for
    # evaporating shrimp ponds, nothing natural in the delta goes higher.
    "salinity": Range(0.0, 40.0),
    "upstreamSalinity": Range(0.0, 40.0),
    # m above the Hòn Dấu datum at the river gauges: Cần Thơ swings between about -1.5 m at
    # dry-season low water and the ~2.2 m record highs; -3..6 m also covers the coastal gauges.
    "height": Range(-3.0, 6.0),
    # m of water on a street: 0.5 m is already a severe flood; 3 m means a sensor fault.
    "currentLevel": Range(0.0, 3.0),
    "pH": Range(0.0, 14.0),
    # mg/L dissolved oxygen: saturation is ~8 mg/L at 29 °C; algal blooms supersaturate but
    # not beyond ~20 mg/L.
    "O2": Range(0.0, 20.0),
    # °C, air or water: Cần Thơ's records stay within 14–40 °C; the margin is for other probes.
    "temperature": Range(-5.0, 50.0),
    # mg/L: the city's canals read BOD5 3–30 and COD 10–60; raw sewage is ~200/500.
    "BOD": Range(0.0, 200.0),
    "COD": Range(0.0, 500.0),
    "NH4": Range(0.0, 100.0),
    "PO4": Range(0.0, 50.0),
    # MPN/100 mL: raw sewage reaches 1e7–1e8.
    "coliform": Range(0.0, 1e8),
}

# A run shorter than this many readings is never "stuck", whatever its duration: two or three
# equal readings hours apart (after a gap) prove nothing.
MIN_STUCK_READINGS = 6

# How long (s) an attribute can plausibly report exactly the same value. Attributes not listed
# are not checked (coliform is a lab value, repeated until the next sample).
STUCK_AFTER_S: dict[str, float] = {
    # The tide moves the Hậu by 0.2–0.4 m/h; even at slack water the level holds (to the cm)
    # for half an hour at most, so 2 h flat is a frozen gauge.
    "height": 2 * _HOUR_S,
    # Salinity above the fresh-water floor follows the tide (it peaks with high water).
    "salinity": 3 * _HOUR_S,
    "upstreamSalinity": 3 * _HOUR_S,
    # Water standing in a street drains slowly, and a gauge with cm resolution may hold a
    # value for a few hours; dry streets (0 m) are exempt through the floor.
    "currentLevel": 6 * _HOUR_S,
    # Traffic, the boundary layer and rain move PM and gases all day; values can be flat-ish
    # but exact repeats for 6 h mean a frozen logger.
    "pm25": 6 * _HOUR_S,
    "pm10": 6 * _HOUR_S,
    "o3": 6 * _HOUR_S,
    "no2": 6 * _HOUR_S,
    "so2": 6 * _HOUR_S,
    "co": 6 * _HOUR_S,
    # Photosynthesis drives a daily DO cycle.
    "O2": 6 * _HOUR_S,
    # A big river's temperature and pH drift slowly: at 0.1 °C / 0.01 resolution they may
    # hold overnight, not for half a day.
    "temperature": 12 * _HOUR_S,
    "pH": 12 * _HOUR_S,
    # Slow probes or lab values: a day.
    "BOD": 24 * _HOUR_S,
    "COD": 24 * _HOUR_S,
    "NH4": 24 * _HOUR_S,
    "PO4": 24 * _HOUR_S,
}

# At or below these values a flat series is normal: the sensor reads its detection floor.
# Upstream of the salt front the Hậu carries 0.1–0.2 ‰ of dissolved salts for months, and
# conductivity probes report that at their 0.1 ‰ resolution; a dry street reads 0 m for weeks.
STUCK_FLOOR: dict[str, float] = {
    "salinity": 0.2,
    "upstreamSalinity": 0.2,
    "currentLevel": 0.02,
    "pm25": 2.0,
    "pm10": 5.0,
    # Electrochemical gas cells bottom out at a few µg/m³ (O3 at night, SO2 in a clean city).
    "o3": 2.0,
    "no2": 2.0,
    "so2": 5.0,
    # ~0.1 ppm, a CO cell's detection limit.
    "co": 115.0,
    # Anoxic canals read ~0 mg/L for long stretches.
    "O2": 0.2,
    # Analytical detection limits.
    "NH4": 0.02,
    "PO4": 0.02,
}

# Previous readings whose median the newest one is compared with (an hour at 5 minutes).
SPIKE_WINDOW = 12
# Fewer previous readings than this: no spike verdict.
SPIKE_MIN_HISTORY = 5
# Robust z-score beyond which a reading departs from its window; as in the alert detector.
SPIKE_K = 6.0
# The smallest jump (from the window median, in the attribute's units) that can be a spike.
# It protects flat windows, where the robust scale is ~0 and any real change would score
# high. Attributes not listed are not spike-checked: without a physical bound a relative test
# alone flags every real step.
MIN_JUMP: dict[str, float] = {
    # A river cannot rise 0.5 m within one 5-minute reading; even a tidal bore would not.
    "height": 0.5,
    # A street floods by a few cm per minute in a cloudburst; 0.3 m at once is a car or a
    # splash under an ultrasonic gauge.
    "currentLevel": 0.3,
    # 2 ‰ in one 15-minute reading is beyond the steepest tidal salt front at the mouth.
    "salinity": 2.0,
    "upstreamSalinity": 2.0,
    # +300 µg/m³ of PM2.5 in one reading is an insect or a smoker at the inlet, not the air.
    "pm25": 300.0,
    "pm10": 400.0,
    "o3": 300.0,
    "no2": 300.0,
    "so2": 300.0,
    "co": 10_000.0,
    "pH": 1.5,
    "O2": 4.0,
    # A thunderstorm's gust front can cool the air by 5–8 °C within minutes.
    "temperature": 8.0,
    "BOD": 50.0,
    "COD": 100.0,
    "NH4": 10.0,
    "PO4": 5.0,
}

# 1 / Φ⁻¹(3/4): the MAD of normal data times this estimates its standard deviation.
_MAD_TO_SIGMA = 1.4826
# sqrt(π/2): the same for the mean absolute deviation, used when the MAD is 0.
_MEAN_AD_TO_SIGMA = 1.2533


def check_range(attribute: str, value: float) -> QualityFlag | None:
    """An out-of-range flag when the value is not a number or outside PLAUSIBLE[attribute]."""
    if not math.isfinite(value):
        return QualityFlag("out-of-range", attribute, f"{attribute} is not a finite number")
    bounds = PLAUSIBLE.get(attribute)
    if bounds is None or value in bounds:
        return None
    reason = (
        f"{attribute} {_num(value)} outside the plausible range "
        f"{_num(bounds.low)}..{_num(bounds.high)}"
    )
    return QualityFlag("out-of-range", attribute, reason)


def check_stuck(
    attribute: str,
    series: Sequence[Reading],
    min_duration_s: float | None = None,
    tolerance: float = 0.0,
) -> QualityFlag | None:
    """A stuck flag when the newest readings stayed flat for min_duration_s and enough readings."""
    duration_s = STUCK_AFTER_S.get(attribute) if min_duration_s is None else min_duration_s
    if duration_s is None or not series:
        return None
    start = _flat_run_start(series, len(series) - 1, tolerance)
    if start is None:
        return None
    run = series[start:]
    if not _is_stuck_run(attribute, run, duration_s):
        return None
    t_first, t_last = run[0][0], run[-1][0]
    reason = (
        f"{attribute} unchanged at {_num(run[-1][1])} for {_hours(t_last - t_first)} "
        f"({len(run)} readings)"
    )
    return QualityFlag("stuck", attribute, reason, t_first)


def check_spike(attribute: str, series: Sequence[Reading]) -> QualityFlag | None:
    """A spike flag when the newest reading jumps away from the median of the ones before it."""
    if attribute not in MIN_JUMP or not series:
        return None
    return _spike_at(attribute, series, len(series) - 1, look_ahead=False)


def assess(attribute: str, series: Sequence[Reading]) -> list[QualityFlag]:
    """All quality flags for the newest reading of a series given its recent history."""
    if not series:
        return []
    t, value = series[-1]
    flags: list[QualityFlag] = []
    out = check_range(attribute, value)
    if out is not None:
        flags.append(replace(out, since_s=t))
    stuck = check_stuck(attribute, series)
    if stuck is not None:
        flags.append(stuck)
    # An out-of-range value is already excluded; calling it a spike as well adds nothing.
    if out is None:
        spike = check_spike(attribute, series)
        if spike is not None:
            flags.append(spike)
    return flags


def usable(values: Sequence[Reading], attribute: str, *, drop_stuck: bool = False) -> list[Reading]:
    """The readings fit for an index: not out-of-range, not spikes (and not stuck if asked)."""
    keep = [check_range(attribute, v) is None for _, v in values]
    if attribute in MIN_JUMP:
        for i in range(len(values)):
            if keep[i] and _spike_at(attribute, values, i, look_ahead=True) is not None:
                keep[i] = False
    if drop_stuck:
        for start, end in _stuck_runs(attribute, values):
            for i in range(start, end):
                keep[i] = False
    return [reading for reading, ok in zip(values, keep, strict=True) if ok]


# --- internals --------------------------------------------------------------------------------


def _flat_run_start(series: Sequence[Reading], end: int, tolerance: float) -> int | None:
    """Index of the first reading of the flat run ending at `end` (spread within tolerance)."""
    value = series[end][1]
    if not math.isfinite(value):
        return None
    # Decimal readings are not exact in binary (41.1 - 40.9 > 0.2): allow rounding error.
    tolerance += 1e-9 * max(1.0, abs(value))
    low = high = value
    start = end
    while start > 0:
        previous = series[start - 1][1]
        if not math.isfinite(previous):
            break
        new_low, new_high = min(low, previous), max(high, previous)
        if new_high - new_low > tolerance:
            break
        low, high, start = new_low, new_high, start - 1
    return start


def _is_stuck_run(attribute: str, run: Sequence[Reading], duration_s: float) -> bool:
    """Whether a flat run is long enough, in readings and in time, and above the floor."""
    if len(run) < MIN_STUCK_READINGS or run[-1][0] - run[0][0] < duration_s:
        return False
    floor = STUCK_FLOOR.get(attribute)
    return floor is None or max(v for _, v in run) > floor


def _stuck_runs(attribute: str, values: Sequence[Reading]) -> list[tuple[int, int]]:
    """[start, end) index ranges of the maximal flat runs that count as stuck."""
    duration_s = STUCK_AFTER_S.get(attribute)
    if duration_s is None:
        return []
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(values):
        # Grow a maximal run forward from i with exact repeats (the default tolerance).
        j = i + 1
        if math.isfinite(values[i][1]):
            while j < len(values) and values[j][1] == values[i][1]:
                j += 1
            if _is_stuck_run(attribute, values[i:j], duration_s):
                runs.append((i, j))
        i = j
    return runs


def _departure(attribute: str, series: Sequence[Reading], end: int, value: float) -> float | None:
    """How far `value` departs from the median of the readings before `end`, or None."""
    # Walk back from `end` rather than slicing, so that `usable` stays linear in the series;
    # readings further back than a few windows (behind a run of error codes) are stale.
    window: list[float] = []
    i = end - 1
    while i >= max(0, end - 4 * SPIKE_WINDOW) and len(window) < SPIKE_WINDOW:
        previous = series[i][1]
        if check_range(attribute, previous) is None:
            window.append(previous)
        i -= 1
    if len(window) < SPIKE_MIN_HISTORY:
        return None
    median = statistics.median(window)
    deviations = [abs(v - median) for v in window]
    scale = _MAD_TO_SIGMA * statistics.median(deviations)
    if scale == 0.0:
        # More than half the window equals the median: fall back on the mean deviation.
        scale = _MEAN_AD_TO_SIGMA * statistics.fmean(deviations)
    jump = value - median
    if abs(jump) > SPIKE_K * scale and abs(jump) > MIN_JUMP[attribute]:
        return jump
    return None


def _spike_at(
    attribute: str, series: Sequence[Reading], i: int, *, look_ahead: bool
) -> QualityFlag | None:
    """A spike flag for reading i, judged on its past (and on the next reading if look_ahead)."""
    t, value = series[i]
    if check_range(attribute, value) is not None:
        return None
    jump = _departure(attribute, series, i, value)
    if jump is None:
        return None
    limit = MIN_JUMP[attribute]
    # The reading before already departed the same way and this one stays near it: the second
    # reading of a level shift, not a spike.
    if i > 0:
        prev = series[i - 1][1]
        prev_jump = _departure(attribute, series, i - 1, prev)
        if _same_level(prev_jump, jump, prev, value, limit):
            return None
    # Looking back over a series: the next reading confirms the new level.
    if look_ahead and i + 1 < len(series):
        nxt = series[i + 1][1]
        if check_range(attribute, nxt) is None:
            next_jump = _departure(attribute, series, i, nxt)
            if _same_level(next_jump, jump, nxt, value, limit):
                return None
    median_before = value - jump
    reason = (
        f"{attribute} jumped to {_num(value)} from a recent median of {_num(median_before)} "
        f"(more than {_num(limit)} and {_num(SPIKE_K)} robust standard deviations)"
    )
    return QualityFlag("spike", attribute, reason, t)


def _same_level(
    other_jump: float | None, jump: float, other: float, value: float, limit: float
) -> bool:
    """Whether another reading departed in the same direction and sits near this one."""
    return other_jump is not None and (other_jump > 0) == (jump > 0) and abs(other - value) <= limit


def _num(value: float) -> str:
    """A compact number for reasons: no trailing zeros, at most 3 decimals."""
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.3g}"


def _hours(seconds: float) -> str:
    """A duration in hours for reasons."""
    return f"{seconds / _HOUR_S:.1f} h"
