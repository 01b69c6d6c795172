"""High-water forecasts for Cần Thơ station by least-squares harmonic analysis (pure, no I/O).

The Hậu river at Cần Thơ carries the East Sea's mixed, mainly semi-diurnal tide (two highs a
lunar day with a marked diurnal inequality, a 14.77-day spring–neap cycle) on top of a river
level that rises with the Mekong flood to its Sep–Nov peak. The method:

* Model ``h(t) = mean + trend·(t − t0) + Σ A_k cos(V_k(t) − g_k)`` where ``V_k`` is the
  constituent's Greenwich equilibrium argument (Doodson numbers × the mean astronomical
  longitudes, Meeus) and ``g_k`` its phase lag, and solve for the mean, the trend and
  ``A_k cos g_k``, ``A_k sin g_k`` by linear least squares (``numpy.linalg.lstsq``). Samples
  may be irregular; NaNs are ignored.
* The river's seasonal level changes slowly (the monthly means move by at most ~0.3 m a month
  in Aug–Oct, smoothly). Over a fit window of 15–60 days a straight line (mean + trend)
  absorbs it and extrapolates safely over a forecast of a few days. A quadratic fits the
  window better, but its slope at the end of the window, where a forecast starts, follows any
  sudden rise: on the simulator it gained 0.1 cm (15, 30-day fits) to 0.7 cm (60 days) in a
  normal year and lost 6–9 cm 3–7 days after a flood surge. A sinusoid of twice the window's
  length on top of the line helped only the 60-day fit (4.6 against 5.6 cm), to no better
  than the plain 30-day fit. Forecasts are for days, not months: the trend goes on linearly.
* Constituents are separated by the Rayleigh criterion: two constituents are resolved when
  the record spans at least ``rayleigh / |f_1 − f_2|``. With the default factor 1: S2 and MS4
  need 14.77 days (next to M2 and M4), O1 13.66 days (next to K1), N2 and Q1 27.55 days, K2
  and P1 182.6 days (next to S2 and K1: never within a 60-day window). Constituents are taken
  in the order given (the most important first); one that cannot be told apart from an
  earlier one is not fitted. When its reference is kept it is *inferred* instead: given
  the equilibrium amplitude ratio to the reference and the reference's phase lag (as t_tide
  and UTide do), which holds well within one tidal band because the estuary damps neighbouring
  frequencies alike. Constituents faster than the sampling allows (period < 2 × the median
  spacing) are dropped. The history must span at least 2 days (1 day separates the diurnal
  and semi-diurnal bands; the factor 2 leaves margin) and hold at least twice as many valid
  samples as unknowns.
* No nodal corrections (the 18.61-year modulation f, u of the lunar constituents): over a fit
  window of ≤ 60 days plus a forecast of a few days they hardly change (M2 < 0.3 % and
  < 0.2°; O1, the most variable here, ~1 % and < 1°), so the fitted amplitudes and phases
  absorb them. Fits of a year or more would need them, and so does comparing phase lags of
  fits years apart (u swings by up to ±2° for M2, ±9° for K1, ±11° for O1).
* High waters are local maxima of the predicted curve sampled every ``step_s``, refined by
  the parabola through the three samples around each maximum.
* Forecasts (``fit_for_forecast``, ``forecast_high_waters``) add the mean residual of the last
  tidal day (24 h 50 min) to the fit: a flood pulse or a surge that began in the last days is
  far from the window's straight line, and the recent departure persists better than the
  line does. On the simulator's normal year it changes the error by ≤ 1 cm either way (a
  little worse for 15/30-day fits, better for 60); 1–3 days into its flood-tide scenario
  (+0.5 m) it cuts the high-water error from 0.37–0.55 m to ~5 cm.
  Forecast windows: 30 days did best on the simulator (benchmarks/tide_forecast.py); 15 days
  cannot resolve N2, 60 days stretch the straight line over too much of the seasonal curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

DAY_S = 86400.0
HOUR_S = 3600.0
# Below this span the fit refuses (see the module docstring).
MIN_SPAN_S = 2.0 * DAY_S
RAYLEIGH = 1.0
# Half a mean lunar day: the spacing of successive semi-diurnal high waters (12 h 25 min).
HALF_LUNAR_DAY_S = 12.0 * HOUR_S + 25.0 * 60.0
# Two M2 periods (24 h 50 min): a mean over it cancels the semi-diurnal tide and most of the
# diurnal one, leaving the river's own level.
TIDAL_DAY_S = 2.0 * 12.4206012 * HOUR_S

# --- astronomical arguments -----------------------------------------------------------------
# Mean longitudes of the moon (s), the sun (h) and the lunar perigee (p) at the Unix epoch and
# their rates, from Meeus, "Astronomical Algorithms" (mean elements referred to J2000).
_J2000_FROM_UNIX_CENTURIES = (2440587.5 - 2451545.0) / 36525.0
_S0 = 218.3165 + 481267.8813 * _J2000_FROM_UNIX_CENTURIES
_H0 = 280.4661 + 36000.7698 * _J2000_FROM_UNIX_CENTURIES
_P0 = 83.3532 + 4069.0137 * _J2000_FROM_UNIX_CENTURIES
_HOURS_PER_CENTURY = 36525.0 * 24.0
_DS = 481267.8813 / _HOURS_PER_CENTURY  # deg/h
_DH = 36000.7698 / _HOURS_PER_CENTURY
_DP = 4069.0137 / _HOURS_PER_CENTURY

# name: (Doodson coefficients of T (mean solar angle, 180° at 00:00 UT), s, h, p; constant deg).
# Shallow-water constituents are the sums of their parents (M4 = 2 M2, MS4 = M2 + S2,
# M6 = 3 M2): the Mekong's shallow channels distort the tide (quicker rise than fall).
_DOODSON: dict[str, tuple[int, int, int, int, float]] = {
    "M2": (2, -2, 2, 0, 0.0),
    "S2": (2, 0, 0, 0, 0.0),
    "N2": (2, -3, 2, 1, 0.0),
    "K2": (2, 0, 2, 0, 0.0),
    "K1": (1, 0, 1, 0, 90.0),
    "O1": (1, -2, 1, 0, -90.0),
    "P1": (1, 0, -1, 0, -90.0),
    "Q1": (1, -3, 1, 1, -90.0),
    "M4": (4, -4, 4, 0, 0.0),
    "MS4": (4, -2, 2, 0, 0.0),
    "M6": (6, -6, 6, 0, 0.0),
}
KNOWN_CONSTITUENTS: tuple[str, ...] = tuple(_DOODSON)

# Priority order: where two cannot be resolved, the earlier one is fitted.
DEFAULT_CONSTITUENTS: tuple[str, ...] = (
    "M2", "S2", "K1", "O1", "N2", "K2", "P1", "Q1", "M4", "MS4", "M6",
)  # fmt: skip

# Inference of an unresolved constituent from its reference: equilibrium amplitude ratio
# (Cartwright & Tayler coefficients: N2/M2 0.17387/0.90812, K2/S2 0.11506/0.42286,
# P1/K1 0.17554/0.53050, Q1/O1 0.07216/0.37689), same phase lag as the reference.
INFERENCE: dict[str, tuple[str, float]] = {
    "N2": ("M2", 0.1915),
    "K2": ("S2", 0.2721),
    "P1": ("K1", 0.3309),
    "Q1": ("O1", 0.1915),
}


def _speed_deg_h(name: str) -> float:
    a, b, c, d, _const = _DOODSON[name]
    return a * 15.0 + b * _DS + c * _DH + d * _DP


def _v0_deg(name: str) -> float:
    a, b, c, d, const = _DOODSON[name]
    return (a * 180.0 + b * _S0 + c * _H0 + d * _P0 + const) % 360.0


def speed_rad_s(name: str) -> float:
    """Angular speed (rad/s) of a constituent."""
    return math.radians(_speed_deg_h(name)) / HOUR_S


def period_h(name: str) -> float:
    """Period (hours) of a constituent."""
    return 360.0 / _speed_deg_h(name)


def equilibrium_argument(name: str, times_s: FloatArray) -> FloatArray:
    """Greenwich equilibrium argument V (rad) of a constituent at epoch seconds."""
    # ω·t reaches ~2.5e5 rad for times in this century; float64 keeps it to ~1e-10 rad.
    v: FloatArray = speed_rad_s(name) * times_s + math.radians(_v0_deg(name))
    return v


def _as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    return np.asarray(values, dtype=np.float64).reshape(-1)


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HighWater:
    """A high water: when (epoch seconds) and how high (m, the datum of the input)."""

    at_s: float
    height_m: float


@dataclass(frozen=True)
class TideFit:
    """A fitted tide: ``mean + trend·(t − t0) + Σ A cos(V(t) − g)``.

    ``constituents`` lists every term of the prediction, fitted or inferred (``inferred``
    names the latter); ``dropped`` the requested constituents that were neither (unresolved
    without a kept reference, or faster than the sampling). Phases are Greenwich phase lags g
    (degrees, 0–360) against the equilibrium argument, so fits over different windows of the
    same year or two compare (beyond that, the nodal u: see the module docstring).
    """

    constituents: tuple[str, ...]
    amplitudes_m: tuple[float, ...]
    phases_deg: tuple[float, ...]
    mean_m: float  # level at t0 (without level_offset_m)
    trend_m_per_day: float
    t0: float  # epoch seconds: the middle of the fitted span
    start_s: float  # first and last valid sample
    end_s: float
    residual_std_m: float
    n_points: int
    inferred: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    # Added to every prediction: the recent departure of the river from the fit
    # (see fit_for_forecast).
    level_offset_m: float = 0.0

    def amplitude(self, name: str) -> float:
        """Amplitude (m) of a constituent of the prediction (KeyError if absent)."""
        return self.amplitudes_m[self._index(name)]

    def phase(self, name: str) -> float:
        """Greenwich phase lag (degrees) of a constituent of the prediction."""
        return self.phases_deg[self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self.constituents.index(name)
        except ValueError:
            raise KeyError(name) from None

    def predict(self, times_s: Sequence[float] | FloatArray) -> FloatArray:
        """Predicted levels (m) at epoch seconds (the trend is extrapolated linearly)."""
        t = _as_array(times_s)
        level = self.mean_m + self.level_offset_m
        out: FloatArray = level + self.trend_m_per_day * (t - self.t0) / DAY_S
        for name, amp, g in zip(self.constituents, self.amplitudes_m, self.phases_deg, strict=True):
            out = out + amp * np.cos(equilibrium_argument(name, t) - math.radians(g))
        return out


@dataclass(frozen=True)
class ForecastScore:
    """Forecast high waters against observed ones (predicted − observed for the biases)."""

    matched: int
    unmatched_observed: int
    unmatched_predicted: int
    mae_height_m: float
    mae_time_min: float
    bias_height_m: float
    bias_time_min: float


# --- fitting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    fitted: tuple[str, ...]
    inferred: dict[str, tuple[str, float]]  # name -> (reference, ratio)
    dropped: tuple[str, ...]


def _plan(constituents: Sequence[str], span_s: float, spacing_s: float, rayleigh: float) -> _Plan:
    names = tuple(constituents)
    unknown = [n for n in names if n not in _DOODSON]
    if unknown:
        raise ValueError(f"unknown tidal constituents {unknown}; known: {KNOWN_CONSTITUENTS}")
    if len(set(names)) != len(names):
        raise ValueError(f"tidal constituents listed twice: {names}")
    span_h = span_s / HOUR_S
    fitted: list[str] = []
    unresolved: list[str] = []
    dropped: list[str] = []
    for i, name in enumerate(names):
        if period_h(name) * HOUR_S < 2.0 * spacing_s:
            dropped.append(name)  # faster than the sampling can show (Nyquist)
            continue
        f = _speed_deg_h(name) / 360.0  # cycles per hour
        # Against every earlier constituent, fitted or not: in 10 days Q1 is resolved from K1
        # but not from O1, which is not fitted then; Q1 would take O1's energy at the wrong
        # speed and drift off in a forecast.
        earlier = names[:i]
        if all(abs(f - _speed_deg_h(k) / 360.0) * span_h >= rayleigh for k in earlier):
            fitted.append(name)
        else:
            unresolved.append(name)
    inferred: dict[str, tuple[str, float]] = {}
    for name in unresolved:
        rule = INFERENCE.get(name)
        if rule is not None and rule[0] in fitted:
            inferred[name] = rule
        else:
            dropped.append(name)
    return _Plan(tuple(fitted), inferred, tuple(dropped))


def fit_tide(
    times_s: Sequence[float] | FloatArray,
    heights_m: Sequence[float] | FloatArray,
    *,
    constituents: Sequence[str] = DEFAULT_CONSTITUENTS,
    rayleigh: float = RAYLEIGH,
    infer: bool = True,
) -> TideFit:
    """Least-squares harmonic fit of a level series (epoch seconds, metres).

    Constituents the span cannot resolve (Rayleigh criterion, factor ``rayleigh``) are not
    fitted but inferred from their reference when ``infer`` (see the module docstring), or
    dropped. Raises ValueError when the valid samples span under 2 days, are too few for the
    unknowns, or leave the system rank-deficient (all at the same phase of the tide).
    """
    t = _as_array(times_s)
    h = _as_array(heights_m)
    if t.shape != h.shape:
        raise ValueError(f"{t.size} times but {h.size} heights")
    ok = np.isfinite(t) & np.isfinite(h)
    t, h = t[ok], h[ok]
    if t.size < 3:
        raise ValueError(f"tide history has {t.size} valid samples; a fit needs far more")
    order = np.argsort(t, kind="stable")
    t, h = t[order], h[order]
    span = float(t[-1] - t[0])
    if span < MIN_SPAN_S:
        raise ValueError(
            f"tide history spans {span / DAY_S:.2f} days; at least {MIN_SPAN_S / DAY_S:.0f} days"
            " are needed to separate the diurnal and semi-diurnal tides (15 days to separate"
            " S2 from M2 and see the spring–neap cycle, 30 days for N2)"
        )
    steps = np.diff(t)
    steps = steps[steps > 0]
    spacing = float(np.median(steps)) if steps.size else span
    plan = _plan(constituents, span, spacing, rayleigh)
    if not plan.fitted:
        raise ValueError(
            f"no tidal constituent can be fitted: samples every {spacing / HOUR_S:.1f} h are too"
            " sparse for the requested constituents"
        )
    if not infer:
        plan = _Plan(plan.fitted, {}, plan.dropped + tuple(plan.inferred))
    n_unknowns = 2 + 2 * len(plan.fitted)
    if t.size < 2 * n_unknowns:
        raise ValueError(
            f"tide history has {t.size} valid samples; {2 * n_unknowns} are needed for"
            f" {n_unknowns} unknowns (mean, trend and {len(plan.fitted)} constituents)"
        )

    t0 = 0.5 * (float(t[0]) + float(t[-1]))
    # The trend column is scaled to ±1 over the span to keep the system well conditioned.
    half = 0.5 * span
    columns: list[FloatArray] = [np.ones_like(t), (t - t0) / half]
    for name in plan.fitted:
        v = equilibrium_argument(name, t)
        c, s = np.cos(v), np.sin(v)
        for inf_name, (ref, ratio) in plan.inferred.items():
            if ref == name:
                w = equilibrium_argument(inf_name, t)
                c = c + ratio * np.cos(w)
                s = s + ratio * np.sin(w)
        columns += [c, s]
    design = np.column_stack(columns)
    coef, _res, rank, _sv = np.linalg.lstsq(design, h, rcond=None)
    if rank < design.shape[1]:
        raise ValueError(
            "tide history samples are too irregular to fit (rank-deficient system): they"
            " must cover all phases of the tide"
        )
    residual = h - design @ coef

    names: list[str] = []
    amps: list[float] = []
    phases: list[float] = []
    for i, name in enumerate(plan.fitted):
        a, b = float(coef[2 + 2 * i]), float(coef[3 + 2 * i])
        amp = math.hypot(a, b)
        g = math.degrees(math.atan2(b, a)) % 360.0
        names.append(name)
        amps.append(amp)
        phases.append(g)
        for inf_name, (ref, ratio) in plan.inferred.items():
            if ref == name:
                names.append(inf_name)
                amps.append(ratio * amp)
                phases.append(g)
    return TideFit(
        constituents=tuple(names),
        amplitudes_m=tuple(amps),
        phases_deg=tuple(phases),
        mean_m=float(coef[0]),
        trend_m_per_day=float(coef[1]) / half * DAY_S,
        t0=t0,
        start_s=float(t[0]),
        end_s=float(t[-1]),
        residual_std_m=float(np.std(residual)),
        n_points=int(t.size),
        inferred=tuple(plan.inferred),
        dropped=plan.dropped,
    )


# --- high waters ----------------------------------------------------------------------------


def high_waters(
    fit: TideFit, start_s: float, end_s: float, step_s: float = 300.0
) -> list[HighWater]:
    """The predicted high waters in [start_s, end_s], in time order.

    Local maxima of the prediction sampled every ``step_s`` (one extra sample each side, so
    maxima at the edges are found), each refined by the parabola through its three samples.
    """
    if step_s <= 0:
        raise ValueError("step_s must be positive")
    if end_s <= start_s:
        return []
    n = math.ceil((end_s - start_s) / step_s)
    grid = start_s + step_s * np.arange(-1, n + 2, dtype=np.float64)
    y = fit.predict(grid)
    out: list[HighWater] = []
    for i in np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1:
        ym, y0, yp = float(y[i - 1]), float(y[i]), float(y[i + 1])
        curvature = ym - 2.0 * y0 + yp
        offset = 0.5 * (ym - yp) / curvature if curvature < 0 else 0.0
        at = float(grid[i]) + offset * step_s
        if start_s <= at <= end_s:
            out.append(HighWater(at, y0 - 0.25 * (ym - yp) * offset))
    return out


def fit_for_forecast(
    times_s: Sequence[float] | FloatArray,
    heights_m: Sequence[float] | FloatArray,
    now_s: float | None = None,
    *,
    constituents: Sequence[str] = DEFAULT_CONSTITUENTS,
    recent_s: float = TIDAL_DAY_S,
) -> TideFit:
    """Fit the history up to ``now_s`` (default: its last sample), ready to forecast from it.

    The harmonic fit's straight-line river level lags a sudden rise (a flood pulse, a
    monsoon surge): the mean residual over the last ``recent_s`` (a tidal day, which cancels
    the tide's own residual) is kept as ``level_offset_m``, i.e. today's departure from the
    fit persists over the forecast. On the simulator's normal year this changes the error by
    ≤ 1 cm; a day after a 0.5 m surge it removes most of the 0.5 m. ``recent_s=0``: none.
    The window ends at the last valid sample, so a feed that stopped for a while still gets
    its correction.
    """
    t = _as_array(times_s)
    h = _as_array(heights_m)
    if t.shape != h.shape:
        raise ValueError(f"{t.size} times but {h.size} heights")
    if now_s is None:
        finite = t[np.isfinite(t)]
        if finite.size == 0:
            raise ValueError("tide history has no valid samples")
        now_s = float(finite.max())
    else:
        keep = t <= now_s
        t, h = t[keep], h[keep]
    fit = fit_tide(t, h, constituents=constituents)
    if recent_s <= 0:
        return fit
    recent = (t > fit.end_s - recent_s) & np.isfinite(t) & np.isfinite(h)
    if not recent.any():
        return fit
    offset = float(np.mean(h[recent] - fit.predict(t[recent])))
    return replace(fit, level_offset_m=offset)


def forecast_high_waters(
    times_s: Sequence[float] | FloatArray,
    heights_m: Sequence[float] | FloatArray,
    horizon_s: float,
    now_s: float | None = None,
    *,
    constituents: Sequence[str] = DEFAULT_CONSTITUENTS,
    recent_s: float = TIDAL_DAY_S,
    step_s: float = 300.0,
) -> list[HighWater]:
    """The high waters of the next ``horizon_s`` seconds after ``now_s`` (default: the last
    sample), from the history up to then (see fit_for_forecast)."""
    if horizon_s <= 0:
        raise ValueError("horizon_s must be positive")
    t = _as_array(times_s)
    if now_s is None:
        finite = t[np.isfinite(t)]
        if finite.size == 0:
            raise ValueError("tide history has no valid samples")
        now_s = float(finite.max())
    fit = fit_for_forecast(t, heights_m, now_s, constituents=constituents, recent_s=recent_s)
    return high_waters(fit, now_s, now_s + horizon_s, step_s)


def first_crossing(
    fit: TideFit, level_m: float, start_s: float, end_s: float, step_s: float = 300.0
) -> HighWater | None:
    """The first forecast high water in [start_s, end_s] at or above ``level_m`` (e.g. the
    BĐ III alarm level, 2.00 m at Cần Thơ), or None."""
    for hw in high_waters(fit, start_s, end_s, step_s):
        if hw.height_m >= level_m:
            return hw
    return None


def observed_high_waters(
    times_s: Sequence[float] | FloatArray,
    heights_m: Sequence[float] | FloatArray,
    min_separation_s: float = 8 * HOUR_S,
    *,
    refine_half_window_s: float = HOUR_S,
) -> list[HighWater]:
    """The high waters of a measured series, in time order (NaNs ignored).

    Candidates are the interior local maxima; the highest are kept first and any candidate
    within ``min_separation_s`` of a kept one is discarded (noise wiggles and double peaks
    count once). Each is refined by a least-squares parabola over the samples within
    ``refine_half_window_s`` of it, which averages out instrument noise; if that parabola is
    not a maximum inside the window the sample itself is used.
    """
    t = _as_array(times_s)
    h = _as_array(heights_m)
    if t.shape != h.shape:
        raise ValueError(f"{t.size} times but {h.size} heights")
    ok = np.isfinite(t) & np.isfinite(h)
    t, h = t[ok], h[ok]
    order = np.argsort(t, kind="stable")
    t, h = t[order], h[order]
    if t.size < 3:
        return []
    candidates = np.flatnonzero((h[1:-1] > h[:-2]) & (h[1:-1] >= h[2:])) + 1
    kept: list[int] = []
    kept_times: list[float] = []
    for i in candidates[np.argsort(-h[candidates], kind="stable")]:
        ti = float(t[i])
        if all(abs(ti - k) >= min_separation_s for k in kept_times):
            kept.append(int(i))
            kept_times.append(ti)
    out: list[HighWater] = []
    for i in sorted(kept):
        lo = int(np.searchsorted(t, t[i] - refine_half_window_s, side="left"))
        hi = int(np.searchsorted(t, t[i] + refine_half_window_s, side="right"))
        hw = HighWater(float(t[i]), float(h[i]))
        if hi - lo >= 3:
            x = (t[lo:hi] - t[i]) / HOUR_S
            a, b, c = np.polyfit(x, h[lo:hi], 2)
            if a < 0:
                xv = -b / (2.0 * a)
                if x[0] <= xv <= x[-1]:
                    hw = HighWater(float(t[i]) + float(xv) * HOUR_S, float(c - b * b / (4.0 * a)))
        out.append(hw)
    return out


def score_forecast(
    predicted: Sequence[HighWater],
    observed: Sequence[HighWater],
    max_lag_s: float = 3 * HOUR_S,
) -> ForecastScore:
    """Pair forecast and observed high waters and score the pairs.

    Pairs are one-to-one, nearest in time first, at most ``max_lag_s`` apart; the rest are
    unmatched. Errors are predicted − observed (positive: too high, too late); the means are
    NaN when nothing matched.
    """
    pairs: list[tuple[float, int, int]] = []
    for i, o in enumerate(observed):
        for j, p in enumerate(predicted):
            lag = abs(p.at_s - o.at_s)
            if lag <= max_lag_s:
                pairs.append((lag, i, j))
    pairs.sort()
    used_o: set[int] = set()
    used_p: set[int] = set()
    dh: list[float] = []
    dt: list[float] = []
    for _lag, i, j in pairs:
        if i in used_o or j in used_p:
            continue
        used_o.add(i)
        used_p.add(j)
        dh.append(predicted[j].height_m - observed[i].height_m)
        dt.append((predicted[j].at_s - observed[i].at_s) / 60.0)
    n = len(dh)
    nan = float("nan")
    return ForecastScore(
        matched=n,
        unmatched_observed=len(observed) - n,
        unmatched_predicted=len(predicted) - n,
        mae_height_m=sum(abs(x) for x in dh) / n if n else nan,
        mae_time_min=sum(abs(x) for x in dt) / n if n else nan,
        bias_height_m=sum(dh) / n if n else nan,
        bias_time_min=sum(dt) / n if n else nan,
    )
