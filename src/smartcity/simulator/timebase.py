"""Shared ground for the signal models: Cần Thơ local time, seeded noise and scenarios.

Everything here is pure: a value depends only on (time, parameters, seed). Time is handled as
seconds since the Unix epoch so that the hot paths (100,000 values a second) stay in floats.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

# Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed offset is exact
# (the same as zoneinfo "Asia/Ho_Chi_Minh") and far cheaper than a zone lookup.
UTC_OFFSET_S = 7 * 3600
DAY_S = 86400.0
HOUR_S = 3600.0
# Mean Gregorian year: day-of-year drifts < 1 day over a leap cycle and never jumps at New Year,
# which is all that smooth seasonal curves need.
YEAR_DAYS = 365.2425
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# First day of Tết (mùng 1 tháng Giêng) in Vietnam, from the lunisolar calendar for UTC+7;
# checked against holidays.country_holidays("VN") (a test keeps the two in step).
TET_DATES: tuple[date, ...] = (
    date(2023, 1, 22),
    date(2024, 2, 10),
    date(2025, 1, 29),
    date(2026, 2, 17),
    date(2027, 2, 6),
    date(2028, 1, 26),
    date(2029, 2, 13),
)
# Fixed-date public holidays (Tết Dương lịch, Reunification Day, Labour Day, National Day).
FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(1, 1), (4, 30), (5, 1), (9, 2)})

_TET_DAY_NUMBERS: tuple[int, ...] = tuple(d.toordinal() - _EPOCH_ORDINAL for d in TET_DATES)


def epoch_s(at: datetime) -> float:
    """Seconds since the Unix epoch of an aware datetime (naive ones are refused)."""
    if at.tzinfo is None:
        raise ValueError("signal models need an aware datetime (tzinfo set)")
    return at.timestamp()


def local_hour(t: float) -> float:
    """Hour of the day in Cần Thơ (0 ≤ h < 24) at epoch seconds t."""
    return ((t + UTC_OFFSET_S) % DAY_S) / HOUR_S


def local_day_number(t: float) -> int:
    """Days since 1970-01-01 of the Cần Thơ calendar date at epoch seconds t."""
    return math.floor((t + UTC_OFFSET_S) / DAY_S)


def local_date(t: float) -> date:
    """The Cần Thơ calendar date at epoch seconds t."""
    return date.fromordinal(local_day_number(t) + _EPOCH_ORDINAL)


def weekday(day_number: int) -> int:
    """Monday=0 … Sunday=6 for a local day number (1970-01-01 was a Thursday)."""
    return (day_number + 3) % 7


def year_fraction(t: float) -> float:
    """Fraction of the year elapsed (0 = 1 January local), continuous across years."""
    return (((t + UTC_OFFSET_S) / DAY_S) % YEAR_DAYS) / YEAR_DAYS


def month_weights(t: float) -> tuple[int, int, float]:
    """Indices of the two monthly means around t and the weight of the second (cyclic)."""
    x = (((t + UTC_OFFSET_S) / DAY_S) % YEAR_DAYS) * (12.0 / YEAR_DAYS) - 0.5
    i = math.floor(x)
    return i % 12, (i + 1) % 12, x - i


def monthly(t: float, table: tuple[float, ...]) -> float:
    """Twelve monthly means interpolated linearly between mid-month points (cyclic)."""
    i, j, w = month_weights(t)
    return table[i] + (table[j] - table[i]) * w


@lru_cache(maxsize=8192)
def hourly_profile(table: tuple[float, ...], hour: float) -> float:
    """A 24-entry hourly table (entry h: the mean over [h, h+1)) at a fractional hour,
    interpolated between hour centres, cyclically."""
    x = hour - 0.5
    i = math.floor(x)
    w = x - i
    return table[i % 24] * (1.0 - w) + table[(i + 1) % 24] * w


def tet_offset(day_number: int) -> int | None:
    """Days from the nearest first day of Tết (negative before), or None if over 15 days."""
    for tet in _TET_DAY_NUMBERS:
        d = day_number - tet
        if -15 <= d <= 15:
            return d
    return None


@lru_cache(maxsize=8192)
def is_public_holiday(day_number: int) -> bool:
    """True on the fixed-date national holidays (Tết is handled by tet_offset)."""
    d = date.fromordinal(day_number + _EPOCH_ORDINAL)
    return (d.month, d.day) in FIXED_HOLIDAYS


# --- deterministic noise --------------------------------------------------------------------
# A counter-based generator: splitmix64's finaliser over (stream key, bucket). No state, no
# global random, no Python hash() (which is salted per process).

_MASK = (1 << 64) - 1
_INV_2_53 = 1.0 / (1 << 53)


@lru_cache(maxsize=65536)
def stream_key(seed: int, key: str) -> int:
    """A stable 64-bit key for a (seed, stream) pair."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _mix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform(skey: int, bucket: int) -> float:
    """A uniform draw in [0, 1) for a stream key and an integer bucket."""
    return (_mix(skey ^ ((bucket * 0xD1B54A32D192ED03) & _MASK)) >> 11) * _INV_2_53


def gaussian(skey: int, bucket: int) -> float:
    """A standard normal draw for a stream key and bucket (Box–Muller on two uniforms)."""
    u1 = uniform(skey, 2 * bucket)
    u2 = uniform(skey, 2 * bucket + 1)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@lru_cache(maxsize=65536)
def _wander_terms(skey: int, period_s: float) -> tuple[tuple[float, float], ...]:
    """(angular speed rad/s, phase rad) of the sinusoids behind one stream's smooth noise."""
    terms = []
    for k in range(_WANDER_TERMS):
        # Periods spread over 0.5–2× the nominal period, incommensurate by construction.
        period = period_s * 2.0 ** (2.0 * uniform(skey, 2 * k) - 1.0)
        terms.append((2.0 * math.pi / period, 2.0 * math.pi * uniform(skey, 2 * k + 1)))
    return tuple(terms)


_WANDER_TERMS = 3
_WANDER_AMP = math.sqrt(2.0 / _WANDER_TERMS)  # n sinusoids of amplitude a: variance n·a²/2


class Wander(NamedTuple):
    """One stream's smooth noise, prepared once (see smooth_noise); `at(t)` evaluates it."""

    o1: float
    p1: float
    o2: float
    p2: float
    o3: float
    p3: float

    def at(self, t: float) -> float:
        """The noise value (zero mean, unit variance) at epoch seconds t."""
        sin = math.sin
        return (
            sin(self.o1 * t + self.p1) + sin(self.o2 * t + self.p2) + sin(self.o3 * t + self.p3)
        ) * _WANDER_AMP


def wander(skey: int, period_s: float) -> Wander:
    """The smooth noise of a stream at a time scale, ready to evaluate cheaply."""
    (o1, p1), (o2, p2), (o3, p3) = _wander_terms(skey, period_s)
    return Wander(o1, p1, o2, p2, o3, p3)


def smooth_noise(skey: int, t: float, period_s: float) -> float:
    """Zero-mean, unit-variance smooth noise with a typical time scale of period_s.

    Sensors sampled every minute see a continuous wander rather than white jumps, which is how
    real weather, river and traffic fluctuations look. It is a sum of three sinusoids with
    periods and phases drawn from the stream key: quasi-periodic, bounded (±2), and about ten
    times cheaper than hashing noise knots on every call (the tide and traffic models must
    produce 100,000 values a second).
    """
    total = 0.0
    for omega, phase in _wander_terms(skey, period_s):
        total += math.sin(omega * t + phase)
    return total * _WANDER_AMP


# --- scenarios ------------------------------------------------------------------------------


class ScenarioName(StrEnum):
    """The named situations the simulator can stage."""

    NORMAL = "normal"
    FLOOD_TIDE = "flood-tide"
    SALINITY_SEASON = "salinity-season"
    RUSH_HOUR_INCIDENT = "rush-hour-incident"
    LAMP_FAILURES = "lamp-failures"
    SENSOR_FAULTS = "sensor-faults"


@dataclass(frozen=True)
class Scenario:
    """A named situation, optionally limited to [start, end), with its strength."""

    name: ScenarioName = ScenarioName.NORMAL
    start: datetime | None = None
    end: datetime | None = None
    # flood-tide: storm/monsoon surge on top of a Mekong flood peak (metres).
    surge_m: float = 0.5
    # salinity-season: multiplier of the intrusion length (2016 and 2020 pushed the 4 ‰ line
    # some 15–20 km further inland than an average year: ×1.3 moves it from ~48 to ~66 km).
    intrusion_factor: float = 1.3
    # rush-hour-incident: the segment key hit (None: every segment) and what is left of it.
    incident_segment: str | None = None
    incident_capacity_factor: float = 0.35
    incident_speed_factor: float = 0.15
    # lamp-failures: share of lamps that are faulty while the scenario runs.
    lamp_failure_share: float = 0.15

    def active(self, name: ScenarioName, t: float) -> bool:
        """True if this scenario is `name` and epoch seconds t fall inside its window."""
        if self.name != name:
            return False
        if self.start is not None and t < self.start.timestamp():
            return False
        return self.end is None or t < self.end.timestamp()


NORMAL = Scenario()
