"""Harmonic tide fitting and high-water forecasts (smartcity.domains.environment.tides)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from smartcity.domains.environment.tides import (
    DAY_S,
    DEFAULT_CONSTITUENTS,
    HOUR_S,
    INFERENCE,
    HighWater,
    TideFit,
    equilibrium_argument,
    first_crossing,
    fit_for_forecast,
    fit_tide,
    forecast_high_waters,
    high_waters,
    observed_high_waters,
    period_h,
    score_forecast,
    speed_rad_s,
)
from smartcity.simulator.tide import WaterLevelModel

T0 = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
# (name, amplitude m, Greenwich phase lag deg): roughly Cần Thơ's main four.
FOUR = (("M2", 0.62, 200.0), ("S2", 0.24, 250.0), ("K1", 0.36, 35.0), ("O1", 0.26, 345.0))
# The same with the neighbours that follow them in a real tide (equilibrium ratios, same lags).
REAL = (
    *FOUR,
    ("N2", 0.62 * INFERENCE["N2"][1], 200.0),
    ("K2", 0.24 * INFERENCE["K2"][1], 250.0),
    ("P1", 0.36 * INFERENCE["P1"][1], 35.0),
    ("Q1", 0.26 * INFERENCE["Q1"][1], 345.0),
)


def synth(
    t: np.ndarray,
    parts: tuple[tuple[str, float, float], ...],
    mean: float = 0.0,
    trend_per_day: float = 0.0,
) -> np.ndarray:
    h = mean + trend_per_day * (t - T0) / DAY_S
    for name, amp, g in parts:
        h = h + amp * np.cos(equilibrium_argument(name, t) - math.radians(g))
    return np.asarray(h, dtype=np.float64)


def pure_fit(parts: tuple[tuple[str, float, float], ...], mean: float = 0.0) -> TideFit:
    return TideFit(
        constituents=tuple(p[0] for p in parts),
        amplitudes_m=tuple(p[1] for p in parts),
        phases_deg=tuple(p[2] for p in parts),
        mean_m=mean,
        trend_m_per_day=0.0,
        t0=T0,
        start_s=T0,
        end_s=T0,
        residual_std_m=0.0,
        n_points=0,
    )


def angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


# --- fitting ----------------------------------------------------------------------------------


def test_recovers_a_pure_four_constituent_signal() -> None:
    t = T0 + np.arange(0, 30 * DAY_S, HOUR_S)
    h = synth(t, FOUR, mean=1.1, trend_per_day=0.01)
    fit = fit_tide(t, h, constituents=("M2", "S2", "K1", "O1"))
    assert fit.constituents == ("M2", "S2", "K1", "O1")
    for name, amp, g in FOUR:
        assert fit.amplitude(name) == pytest.approx(amp, abs=1e-6)
        assert angle_diff(fit.phase(name), g) < 1e-4
    assert fit.trend_m_per_day == pytest.approx(0.01, abs=1e-8)
    assert fit.mean_m == pytest.approx(1.1 + 0.01 * (fit.t0 - T0) / DAY_S, abs=1e-6)
    assert fit.residual_std_m < 1e-6
    assert fit.predict(t) == pytest.approx(h, abs=1e-6)


def test_recovers_it_from_noisy_irregular_samples_with_gaps() -> None:
    rng = np.random.default_rng(7)
    t = np.sort(T0 + rng.uniform(0, 30 * DAY_S, 5000))
    h = synth(t, FOUR, mean=0.8) + rng.normal(0.0, 0.03, t.size)
    h[rng.random(t.size) < 0.05] = np.nan
    t[rng.random(t.size) < 0.01] = np.nan
    # All default constituents, from plain lists with NaNs; no inference, which would tie K2 and
    # P1 (absent here) to S2 and K1.
    fit = fit_tide(list(t), list(h), infer=False)
    for name, amp, g in FOUR:
        assert fit.amplitude(name) == pytest.approx(amp, abs=0.01)
        assert angle_diff(fit.phase(name), g) < 3.0
    for name in ("N2", "Q1", "M4", "MS4", "M6"):
        assert fit.amplitude(name) < 0.02
    assert fit.residual_std_m == pytest.approx(0.03, abs=0.005)
    assert fit.n_points < 5000


def test_too_short_or_too_thin_history_raises() -> None:
    t = T0 + np.arange(0, 1.5 * DAY_S, 300.0)
    with pytest.raises(ValueError, match="at least 2 days"):
        fit_tide(t, synth(t, FOUR))
    # Bursts at both ends of 3 days: the span is fine, but 15 samples for 10 unknowns are not.
    t = T0 + np.concatenate([np.arange(10) * 300.0, 3 * DAY_S - np.arange(5) * 300.0])
    with pytest.raises(ValueError, match="valid samples"):
        fit_tide(t, synth(t, FOUR))
    t = T0 + np.arange(0, 5 * DAY_S, 300.0)
    with pytest.raises(ValueError, match="valid samples"):
        fit_tide(t, np.full(t.size, np.nan))
    with pytest.raises(ValueError, match="heights"):
        fit_tide(t, synth(t, FOUR)[:-1])
    with pytest.raises(ValueError, match="unknown"):
        fit_tide(t, synth(t, FOUR), constituents=("M2", "X9"))


@pytest.mark.parametrize(
    ("days", "fitted", "inferred"),
    [
        # 10 days: S2 (14.77 d from M2) and O1 (13.66 d from K1) are not resolved.
        (10, {"M2", "K1", "M4", "M6"}, {"N2", "P1"}),
        (20, {"M2", "S2", "K1", "O1", "M4", "MS4", "M6"}, {"N2", "K2", "P1", "Q1"}),
        # 30 days: N2 and Q1 (27.55 d) too; K2 and P1 need half a year.
        (30, {"M2", "S2", "K1", "O1", "N2", "Q1", "M4", "MS4", "M6"}, {"K2", "P1"}),
    ],
)
def test_constituents_the_span_cannot_resolve_are_inferred_or_dropped(
    days: float, fitted: set[str], inferred: set[str]
) -> None:
    t = T0 + np.arange(0, days * DAY_S, 600.0)
    h = synth(t, FOUR)
    fit = fit_tide(t, h)
    assert set(fit.inferred) == inferred
    assert set(fit.constituents) == fitted | inferred
    assert set(fit.dropped) == set(DEFAULT_CONSTITUENTS) - fitted - inferred
    for name in inferred:
        reference, ratio = INFERENCE[name]
        assert fit.amplitude(name) == pytest.approx(ratio * fit.amplitude(reference))
        assert fit.phase(name) == fit.phase(reference)
    plain = fit_tide(t, h, infer=False)
    assert plain.inferred == ()
    assert set(plain.constituents) == fitted
    assert inferred <= set(plain.dropped)


def test_rayleigh_factor_and_sampling_limit() -> None:
    t = T0 + np.arange(0, 20 * DAY_S, 600.0)
    # A stricter criterion (2 × the synodic period) needs ~30 days for S2.
    strict = fit_tide(t, synth(t, FOUR), rayleigh=2.0, infer=False)
    assert "S2" in strict.dropped
    assert "S2" in fit_tide(t, synth(t, FOUR)).constituents
    # Three-hourly samples cannot show M6 (4.1 h); M4 (6.2 h) is just above the limit.
    t = T0 + np.arange(0, 30 * DAY_S, 3 * HOUR_S)
    fit = fit_tide(t, synth(t, FOUR))
    assert "M6" in fit.dropped
    assert "M4" in fit.constituents
    assert period_h("M2") == pytest.approx(12.4206, abs=1e-4)


def test_inference_keeps_an_unresolved_constituent_in_the_forecast() -> None:
    # M2 with N2 at its equilibrium ratio and M2's phase lag, as at a real estuary station.
    parts = (("M2", 0.6, 200.0), ("N2", 0.6 * INFERENCE["N2"][1], 200.0), ("K1", 0.35, 35.0))
    t = T0 + np.arange(0, 15 * DAY_S, 300.0)
    future = T0 + 15 * DAY_S + np.arange(0, 3 * DAY_S, 300.0)
    truth = synth(future, parts)
    inferred = fit_tide(t, synth(t, parts), constituents=("M2", "K1", "N2"))
    plain = fit_tide(t, synth(t, parts), constituents=("M2", "K1", "N2"), infer=False)
    assert inferred.inferred == ("N2",)
    assert np.max(np.abs(inferred.predict(future) - truth)) < 0.005
    assert np.max(np.abs(plain.predict(future) - truth)) > 0.05


# --- high waters ------------------------------------------------------------------------------


def test_high_waters_of_a_pure_sinusoid_land_at_its_crests() -> None:
    g = 40.0
    fit = pure_fit((("M2", 1.0, g),), mean=0.5)
    start, end = T0, T0 + 3 * DAY_S
    found = high_waters(fit, start, end)
    # Crests where V(t) − g = 2πk.
    omega = speed_rad_s("M2")
    v_start = float(equilibrium_argument("M2", np.array([start]))[0])
    first = start + ((math.radians(g) - v_start) % (2 * math.pi)) / omega
    expected = np.arange(first, end, 2 * math.pi / omega)
    assert len(found) == len(expected) == 6
    for hw, at in zip(found, expected, strict=True):
        assert hw.at_s == pytest.approx(at, abs=2.0)
        assert hw.height_m == pytest.approx(1.5, abs=1e-5)
    assert all(start <= hw.at_s <= end for hw in found)
    assert high_waters(fit, end, start) == []
    with pytest.raises(ValueError, match="step_s"):
        high_waters(fit, start, end, step_s=0)


def test_high_waters_are_found_at_the_window_edges() -> None:
    fit = pure_fit((("M2", 1.0, 0.0),))
    crest = high_waters(fit, T0, T0 + DAY_S)[0].at_s
    # A window that starts 2 minutes before a crest (less than a step) still finds it.
    assert high_waters(fit, crest - 120.0, crest + 6 * HOUR_S)[0].at_s == pytest.approx(crest)
    assert high_waters(fit, crest - 6 * HOUR_S, crest + 120.0)[-1].at_s == pytest.approx(crest)


def test_first_crossing() -> None:
    # Spring–neap cycle over a 1.0 m river level: high waters from ~1.6 to ~2.25 m.
    fit = pure_fit(
        (("M2", 0.62, 200.0), ("S2", 0.24, 250.0), ("K1", 0.36, 35.0), ("O1", 0.26, 345.0)), 1.0
    )
    start, end = T0, T0 + 15 * DAY_S
    found = high_waters(fit, start, end)
    heights = sorted(hw.height_m for hw in found)
    level = heights[len(heights) // 2]
    hit = first_crossing(fit, level, start, end)
    assert hit == next(hw for hw in found if hw.height_m >= level)
    assert hit is not None and hit.height_m >= level
    assert all(hw.height_m < level for hw in found if hw.at_s < hit.at_s)
    assert first_crossing(fit, heights[-1] + 0.01, start, end) is None
    assert first_crossing(fit, 0.0, start, end) == found[0]


def test_observed_high_waters_of_a_noisy_series() -> None:
    rng = np.random.default_rng(3)
    t = T0 + np.arange(0, 5 * DAY_S, 300.0)
    h = synth(t, (("M2", 1.0, 0.0),)) + rng.normal(0.0, 0.01, t.size)
    h[::17] = np.nan
    found = observed_high_waters(t, h)
    truth = high_waters(pure_fit((("M2", 1.0, 0.0),)), t[0], t[-1])
    assert len(found) == len(truth) == 10
    for hw, true in zip(found, truth, strict=True):
        assert abs(hw.at_s - true.at_s) < 10 * 60
        assert hw.height_m == pytest.approx(1.0, abs=0.01)
    gaps = np.diff([hw.at_s for hw in found])
    assert gaps.min() >= 8 * HOUR_S
    assert observed_high_waters(t[:2], h[:2]) == []


def test_score_forecast_pairs_nearest_one_to_one() -> None:
    observed = [HighWater(0.0, 2.0), HighWater(12 * HOUR_S, 1.8), HighWater(24 * HOUR_S, 2.1)]
    predicted = [
        HighWater(600.0, 2.1),  # 10 min late, 10 cm high
        HighWater(-1200.0, 1.5),  # also near the first, but farther: left over
        HighWater(12 * HOUR_S - 1800.0, 1.7),  # 30 min early, 10 cm low
        HighWater(30 * HOUR_S, 2.1),  # 6 h from the third: too far
    ]
    s = score_forecast(predicted, observed)
    assert (s.matched, s.unmatched_observed, s.unmatched_predicted) == (2, 1, 2)
    assert s.mae_height_m == pytest.approx(0.10)
    assert s.mae_time_min == pytest.approx(20.0)
    assert s.bias_height_m == pytest.approx(0.0)
    assert s.bias_time_min == pytest.approx(-10.0)
    empty = score_forecast([], observed)
    assert empty.matched == 0 and math.isnan(empty.mae_height_m)


# --- forecasts --------------------------------------------------------------------------------


def test_forecast_uses_only_the_history_before_now() -> None:
    t = T0 + np.arange(0, 33 * DAY_S, 300.0)
    h = synth(t, REAL, mean=1.0)
    now = T0 + 30 * DAY_S
    later = t > now
    spoiled = h.copy()
    spoiled[later] += 5.0  # what happens after now must not matter
    a = forecast_high_waters(t, spoiled, 2 * DAY_S, now_s=now)
    b = forecast_high_waters(t[~later], h[~later], 2 * DAY_S)
    assert a == b
    truth = observed_high_waters(t, h)
    s = score_forecast(a, [hw for hw in truth if now <= hw.at_s <= now + 2 * DAY_S])
    assert s.matched == 4 and s.unmatched_predicted == 0
    assert s.mae_height_m < 0.002
    assert s.mae_time_min < 1.0
    with pytest.raises(ValueError, match="horizon"):
        forecast_high_waters(t, h, 0.0)


def test_recent_level_correction_follows_a_river_rise() -> None:
    t = T0 + np.arange(0, 30 * DAY_S, 300.0)
    now = float(t[-1])
    h = synth(t, REAL, mean=1.0)
    h[t > now - 2 * DAY_S] += 0.5  # a flood pulse two days ago
    future = now + np.arange(0, 2 * DAY_S, 300.0)
    truth = synth(future, REAL, mean=1.5)
    corrected = fit_for_forecast(t, h)
    assert corrected.level_offset_m > 0.2
    assert np.mean(np.abs(corrected.predict(future) - truth)) < 0.1
    # A feed that stopped two days ago: the last tidal day of what there is still counts.
    assert fit_for_forecast(t, h, now + 2 * DAY_S).level_offset_m == corrected.level_offset_m
    plain = fit_for_forecast(t, h, recent_s=0.0)
    assert plain.level_offset_m == 0.0
    assert np.mean(np.abs(plain.predict(future) - truth)) > 0.2


@pytest.mark.parametrize("month", [1, 4, 10])
def test_two_day_forecast_on_the_simulated_can_tho_station(month: int) -> None:
    # 30 days of the simulator's 5-minute series (seed 0, with its ~5 cm noise). Measured MAE
    # of the 2-day high waters: 5.2 cm (Jan), 3.6 cm (Apr), 3.3 cm (Oct), time 1–6 min; over
    # seeds 0–3 and eight months the worst was 9.3 cm, the mean 5 cm. The noise alone costs
    # ~4 cm; persistence of the last high water, 10–12 cm (benchmarks/tide_forecast.py).
    model = WaterLevelModel(seed=0)
    now = datetime(2025, month, 15, tzinfo=UTC).timestamp()
    t = np.arange(now - 30 * DAY_S, now + 3 * DAY_S, 300.0)
    h = np.array([model.value_at(float(x)) for x in t])
    past = t < now
    predicted = forecast_high_waters(t[past], h[past], 2 * DAY_S)
    observed = [hw for hw in observed_high_waters(t, h) if now <= hw.at_s <= now + 2 * DAY_S]
    s = score_forecast(predicted, observed)
    assert s.matched >= 3
    assert s.unmatched_observed == 0
    assert s.mae_height_m < 0.10
    assert s.mae_time_min < 20.0
