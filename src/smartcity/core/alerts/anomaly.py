"""Streaming anomaly detection for one time series: a robust z-score on a sliding window.

Each reading is compared with the median of the last `window` finite readings, in units of
their median absolute deviation (MAD, scaled by 1.4826 so that it estimates the standard
deviation of normal data):

    score = |x - median| / (1.4826 * MAD)

and it is anomalous when the score exceeds `threshold`. The median and the MAD ignore the
outliers they are meant to find, unlike the mean and the standard deviation, so a spike does
not hide the next one. Every finite reading, anomalous or not, joins the window afterwards: a
lasting level shift is flagged when it starts and becomes the new normal once it fills about
half the window. After an alarm, the detector stays quiet for `cooldown_s` seconds of reading
time, so one incident raises one alert rather than one per reading.

The defaults (a day of 5-minute readings, threshold 6, cooldown one hour) were chosen on the
NAB realTraffic series; `benchmarks/anomaly_nab.py` measures them.

Pure standard library, no I/O: memory is O(window) per series and one observation costs
O(window) for the sorted-list insert plus O(log window) for the median and the MAD.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass

__all__ = ["DetectorConfig", "SeriesDetector", "Verdict"]

# 1 / Φ⁻¹(3/4): makes the MAD of normally distributed data estimate its standard deviation.
_MAD_TO_SIGMA = 1.4826
# sqrt(π/2): the same for the mean absolute deviation, used when more than half of the
# window is equal to the median (MAD 0), as in the modified z-score of Iglewicz and Hoaglin.
_MEAN_AD_TO_SIGMA = 1.2533
# Relative floor on the spread so that a constant window gives a large finite score for any
# change instead of a division by zero.
_RELATIVE_SCALE_FLOOR = 1e-9
_STATE_VERSION = 1


@dataclass(frozen=True)
class DetectorConfig:
    """Tunables of SeriesDetector; the defaults are the same for every series."""

    # One day of 5-minute readings: long enough for the median to span the daily cycle.
    window: int = 288
    # Robust z-score above which a reading is anomalous.
    threshold: float = 6.0
    # Readings in the window before any verdict (capped at `window`).
    min_history: int = 144
    # After an alarm, further anomalous readings within this many seconds raise no alarm.
    cooldown_s: float = 3600.0
    # Floor on the spread, in the series' units (e.g. the sensor's resolution).
    min_scale: float = 0.0

    def __post_init__(self) -> None:
        if self.window < 3:
            raise ValueError("window must be at least 3")
        if not (self.threshold > 0 and math.isfinite(self.threshold)):
            raise ValueError("threshold must be a positive finite number")
        if self.min_history < 1:
            raise ValueError("min_history must be at least 1")
        if not (self.cooldown_s >= 0 and math.isfinite(self.cooldown_s)):
            raise ValueError("cooldown_s must be a non-negative finite number")
        if not (self.min_scale >= 0 and math.isfinite(self.min_scale)):
            raise ValueError("min_scale must be a non-negative finite number")


@dataclass(frozen=True)
class Verdict:
    """The detector's answer for one reading.

    `score` is the robust z-score magnitude |x - median| / (1.4826 * MAD), 0 before
    `min_history` readings and for non-finite readings; `anomalous` is True when the score
    exceeds the threshold outside a cooldown.
    """

    score: float
    anomalous: bool


def _median(ordered: list[float]) -> float:
    """Median of a non-empty sorted list."""
    n = len(ordered)
    half = n // 2
    if n % 2:
        return ordered[half]
    return (ordered[half - 1] + ordered[half]) / 2.0


def _mad(ordered: list[float], med: float) -> float:
    """Median absolute deviation from `med` of a non-empty sorted list, in O(log n)."""
    # The deviations of the values below the median, read outwards from it, form one
    # increasing sequence and those of the values at or above it another; the MAD is the
    # median of the two merged, found by a binary search for the k-th smallest instead of
    # sorting n deviations for every reading.
    n = len(ordered)
    p = bisect_left(ordered, med)
    below = p
    above = n - p

    def kth(k: int) -> float:
        # i deviations come from below the median, j = k + 1 - i from above it.
        lo = max(0, k + 1 - above)
        hi = min(below, k + 1)
        while True:
            i = (lo + hi) // 2
            j = k + 1 - i
            if i > 0 and j < above and med - ordered[p - i] > ordered[p + j] - med:
                hi = i - 1
            elif j > 0 and i < below and ordered[p + j - 1] - med > med - ordered[p - 1 - i]:
                lo = i + 1
            else:
                left = med - ordered[p - i] if i > 0 else -math.inf
                right = ordered[p + j - 1] - med if j > 0 else -math.inf
                return max(left, right)

    half = n // 2
    if n % 2:
        return kth(half)
    return (kth(half - 1) + kth(half)) / 2.0


class SeriesDetector:
    """Robust z-score detector for one series; feed it readings in time order."""

    __slots__ = ("_config", "_last_alarm_s", "_ordered", "_recent")

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        """Start with an empty baseline."""
        self._config = config
        # Arrival order tells which reading leaves the window; the sorted copy gives the
        # median and the MAD without sorting on every reading.
        self._recent: deque[float] = deque()
        self._ordered: list[float] = []
        self._last_alarm_s: float | None = None

    @property
    def config(self) -> DetectorConfig:
        """The configuration this detector runs with."""
        return self._config

    def observe(self, value: float, at_s: float) -> Verdict:
        """Score one reading taken at unix time `at_s` against the baseline, then add it."""
        if not math.isfinite(value):
            # A missing or broken reading says nothing about the process: no verdict, and
            # it must not poison the median.
            return Verdict(0.0, False)
        cfg = self._config
        score = 0.0
        anomalous = False
        ordered = self._ordered
        if len(ordered) >= min(cfg.min_history, cfg.window):
            med = _median(ordered)
            scale = _MAD_TO_SIGMA * _mad(ordered, med)
            if scale == 0.0:
                # More than half the window sits on one value (quantised or idle sensor):
                # the mean absolute deviation still sees the rest.
                scale = _MEAN_AD_TO_SIGMA * sum(abs(x - med) for x in ordered) / len(ordered)
            scale = max(scale, cfg.min_scale, _RELATIVE_SCALE_FLOOR * max(1.0, abs(med)))
            score = abs(value - med) / scale
            if score > cfg.threshold and not self._cooling_down(at_s):
                anomalous = True
                if math.isfinite(at_s):
                    self._last_alarm_s = at_s
        self._add(value)
        return Verdict(score, anomalous)

    def _cooling_down(self, at_s: float) -> bool:
        """Whether `at_s` falls within the cooldown after the last alarm."""
        last = self._last_alarm_s
        if last is None or not math.isfinite(at_s):
            return False
        # A clock that jumps backwards must not silence the detector until it catches up.
        return 0.0 <= at_s - last < self._config.cooldown_s

    def _add(self, value: float) -> None:
        """Append a finite reading to the window, dropping the oldest when it is full."""
        self._recent.append(value)
        insort(self._ordered, value)
        while len(self._recent) > self._config.window:
            old = self._recent.popleft()
            del self._ordered[bisect_left(self._ordered, old)]

    def state(self) -> dict[str, object]:
        """JSON-serialisable snapshot from which from_state() continues identically."""
        return {
            "version": _STATE_VERSION,
            "values": list(self._recent),
            "last_alarm_s": self._last_alarm_s,
        }

    @classmethod
    def from_state(
        cls, state: dict[str, object], config: DetectorConfig = DetectorConfig()
    ) -> SeriesDetector:
        """Rebuild a detector from state(); keeps the newest `config.window` values."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported detector state version: {state.get('version')!r}")
        raw_values = state.get("values")
        if not isinstance(raw_values, list):
            raise ValueError("detector state: 'values' must be a list")
        values: list[float] = []
        for item in raw_values:
            # bool is an int subclass but never a reading.
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ValueError("detector state: 'values' must hold numbers")
            if math.isfinite(item):
                values.append(float(item))
        last_alarm = state.get("last_alarm_s")
        if last_alarm is not None and (
            isinstance(last_alarm, bool)
            or not isinstance(last_alarm, int | float)
            or not math.isfinite(last_alarm)
        ):
            raise ValueError("detector state: 'last_alarm_s' must be a finite number or null")
        detector = cls(config)
        for value in values[-config.window :]:
            detector._add(value)
        detector._last_alarm_s = None if last_alarm is None else float(last_alarm)
        return detector
