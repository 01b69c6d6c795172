"""SeriesDetector: robust z-score anomaly detection on one series, through its public API."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics

import pytest

from smartcity.core.alerts.anomaly import DetectorConfig, SeriesDetector, Verdict

STEP_S = 300.0  # 5-minute readings, like the traffic sensors


def noisy_sine(n: int, seed: int = 7) -> list[float]:
    """A daily cycle plus Gaussian noise: normal traffic-like data with no anomaly."""
    rnd = random.Random(seed)
    return [50 + 10 * math.sin(2 * math.pi * i / 288) + rnd.gauss(0, 1) for i in range(n)]


def feed(detector: SeriesDetector, values: list[float], start: int = 0) -> list[Verdict]:
    """Observe values at 5-minute steps, the first at index `start`."""
    return [detector.observe(v, (start + i) * STEP_S) for i, v in enumerate(values)]


def alarms(verdicts: list[Verdict]) -> list[int]:
    """Indices of anomalous verdicts."""
    return [i for i, v in enumerate(verdicts) if v.anomalous]


def test_defaults() -> None:
    cfg = DetectorConfig()
    assert (cfg.window, cfg.threshold, cfg.min_history) == (288, 6.0, 144)
    assert (cfg.cooldown_s, cfg.min_scale) == (3600.0, 0.0)
    assert SeriesDetector().config == cfg


def test_clean_sine_with_noise_raises_no_alarm() -> None:
    verdicts = feed(SeriesDetector(), noisy_sine(5000))
    assert alarms(verdicts) == []
    # It did score the readings: most are within a few robust standard deviations.
    scored = [v.score for v in verdicts[144:]]
    assert 0.3 < statistics.median(scored) < 3.0


def test_injected_spike_is_flagged_once() -> None:
    # The window spans the daily cycle, so the spread is the cycle's (amplitude 10, robust
    # sigma about 10): a spike has to stand out from that, not just from the noise.
    values = noisy_sine(1000)
    values[600] += 100.0
    verdicts = feed(SeriesDetector(), values)
    assert alarms(verdicts) == [600]
    assert verdicts[600].score > 6.0
    # A downward spike too: the score is a magnitude.
    values = noisy_sine(1000)
    values[700] -= 100.0
    assert alarms(feed(SeriesDetector(), values)) == [700]


def test_score_is_the_robust_z_score_of_the_previous_window() -> None:
    cfg = DetectorConfig(window=50, min_history=10, cooldown_s=0.0)
    detector = SeriesDetector(cfg)
    values = noisy_sine(300, seed=3)
    for i, value in enumerate(values):
        verdict = detector.observe(value, i * STEP_S)
        baseline = values[max(0, i - 50) : i]
        if len(baseline) < 10:
            assert verdict == Verdict(0.0, False)
            continue
        med = statistics.median(baseline)
        mad = statistics.median(abs(x - med) for x in baseline)
        assert verdict.score == pytest.approx(abs(value - med) / (1.4826 * mad), rel=1e-9)


def test_level_shift_is_flagged_then_absorbed() -> None:
    rnd = random.Random(11)
    before = [20 + rnd.gauss(0, 1) for _ in range(600)]
    after = [40 + rnd.gauss(0, 1) for _ in range(600)]
    verdicts = feed(SeriesDetector(), before + after)
    flagged = alarms(verdicts)
    # Flagged at the shift, then once an hour (the cooldown) while it is still unusual.
    assert flagged and flagged[0] == 600
    assert all(b - a >= 12 for a, b in itertools.pairwise(flagged))
    # Once the new level fills half the window (144 readings) it is the baseline.
    assert all(i < 600 + 150 for i in flagged)
    assert max(v.score for v in verdicts[900:]) < 6.0


def test_cooldown_silences_repeats_but_not_the_score() -> None:
    values = noisy_sine(1000)
    for i in (500, 505, 520):  # 0, 25 and 100 minutes after the first
        values[i] += 100.0
    verdicts = feed(SeriesDetector(), values)
    assert alarms(verdicts) == [500, 520]
    assert verdicts[505].score > 6.0 and not verdicts[505].anomalous
    without = feed(SeriesDetector(DetectorConfig(cooldown_s=0.0)), values)
    assert alarms(without) == [500, 505, 520]


def test_clock_going_backwards_does_not_silence_the_detector() -> None:
    detector = SeriesDetector()
    feed(detector, noisy_sine(300))
    assert detector.observe(500.0, 1e9).anomalous
    assert detector.observe(500.0, 400 * STEP_S).anomalous


def test_constant_series_does_not_divide_by_zero() -> None:
    detector = SeriesDetector(DetectorConfig(min_history=10))
    verdicts = feed(detector, [5.0] * 200)
    assert all(v == Verdict(0.0, False) for v in verdicts)
    change = detector.observe(6.0, 200 * STEP_S)
    assert change.anomalous and math.isfinite(change.score)
    # min_scale sets how big a change on a flat series has to be.
    floored = SeriesDetector(DetectorConfig(min_history=10, min_scale=0.5))
    feed(floored, [5.0] * 200)
    assert floored.observe(6.0, 200 * STEP_S) == Verdict(2.0, False)


def test_mostly_constant_series_falls_back_to_mean_absolute_deviation() -> None:
    # More than half the readings equal (MAD 0): an idle sensor with occasional blips.
    values = [0.0 if i % 4 else 1.0 for i in range(200)]
    detector = SeriesDetector(DetectorConfig(window=100, min_history=10))
    verdicts = feed(detector, values)
    assert alarms(verdicts) == []
    # Mean absolute deviation of the window is 0.25, so 1.0 scores 1 / (1.2533 * 0.25).
    assert detector.observe(1.0, 200 * STEP_S).score == pytest.approx(1 / (1.2533 * 0.25))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_readings_are_ignored(bad: float) -> None:
    values = noisy_sine(600)
    with_gaps = SeriesDetector()
    plain = SeriesDetector()
    for i, value in enumerate(values):
        if i % 7 == 0:
            assert with_gaps.observe(bad, i * STEP_S - 1) == Verdict(0.0, False)
        assert with_gaps.observe(value, i * STEP_S) == plain.observe(value, i * STEP_S)
    assert with_gaps.state() == plain.state()


def test_min_history_is_respected() -> None:
    detector = SeriesDetector(DetectorConfig(min_history=50))
    early = feed(detector, [1.0] * 49 + [1000.0])
    assert all(v == Verdict(0.0, False) for v in early)
    late = detector.observe(1000.0, 50 * STEP_S)
    assert late.anomalous and late.score > 6.0


def test_min_history_above_window_is_capped_at_window() -> None:
    detector = SeriesDetector(DetectorConfig(window=20, min_history=500))
    feed(detector, noisy_sine(20))
    assert detector.observe(1000.0, 20 * STEP_S).anomalous


def test_state_round_trip_continues_identically() -> None:
    values = noisy_sine(2000, seed=5)
    for i in (700, 1300, 1310, 1700):
        values[i] += 100.0
    reference = SeriesDetector()
    expected = feed(reference, values)

    first = SeriesDetector()
    got = feed(first, values[:1305])
    snapshot = json.loads(json.dumps(first.state()))  # must survive JSON
    resumed = SeriesDetector.from_state(snapshot)
    got += feed(resumed, values[1305:], start=1305)
    assert got == expected
    # The cooldown survives too: 1310 is within an hour of the alarm at 1300.
    assert expected[1300].anomalous and not expected[1310].anomalous
    assert resumed.state() == reference.state()


def test_state_is_bounded_by_the_window() -> None:
    detector = SeriesDetector(DetectorConfig(window=30, min_history=5))
    feed(detector, noisy_sine(1000))
    values = detector.state()["values"]
    assert isinstance(values, list) and len(values) == 30


def test_from_state_with_a_smaller_window_keeps_the_newest_values() -> None:
    detector = SeriesDetector(DetectorConfig(window=100, min_history=5))
    feed(detector, [float(i) for i in range(100)])
    smaller = SeriesDetector.from_state(detector.state(), DetectorConfig(window=10, min_history=5))
    assert smaller.state()["values"] == [float(i) for i in range(90, 100)]


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"version": 99, "values": []},
        {"version": 1, "values": "1,2"},
        {"version": 1, "values": [1.0, "x"]},
        {"version": 1, "values": [True]},
        {"version": 1, "values": [], "last_alarm_s": "yesterday"},
        {"version": 1, "values": [], "last_alarm_s": math.nan},
    ],
)
def test_from_state_rejects_malformed_state(state: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SeriesDetector.from_state(state)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 2},
        {"threshold": 0.0},
        {"threshold": math.nan},
        {"min_history": 0},
        {"cooldown_s": -1.0},
        {"min_scale": -0.1},
    ],
)
def test_config_rejects_invalid_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DetectorConfig(**kwargs)  # type: ignore[arg-type]


def test_irregular_sampling() -> None:
    # Readings at random gaps (1 to 30 minutes, plus an outage of two days): the window counts
    # readings, so gaps do not matter, and the cooldown counts seconds of reading time.
    rnd = random.Random(2)
    detector = SeriesDetector()
    t = 0.0
    flagged = []
    for i in range(3000):
        t += rnd.uniform(60, 1800) + (172800 if i == 1500 else 0)
        value = 30 + rnd.gauss(0, 1) + (25 if i in (1000, 1001, 2500) else 0)
        if detector.observe(value, t).anomalous:
            flagged.append(i)
    # 1001 comes at most 30 minutes after 1000: within the cooldown.
    assert flagged == [1000, 2500]


def test_throughput_is_tens_of_thousands_per_second() -> None:
    import time

    detector = SeriesDetector()
    values = noisy_sine(20000)
    start = time.perf_counter()
    for i, value in enumerate(values):
        detector.observe(value, i * STEP_S)
    rate = len(values) / (time.perf_counter() - start)
    assert rate > 10000  # about 70k/s on a laptop core; generous for slow CI machines
