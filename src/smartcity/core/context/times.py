"""Timestamps: ISO 8601 text on the wire, integer microseconds since the epoch in storage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import isodate

from .errors import BadRequestData

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1000


def parse_datetime_us(text: object, field: str = "DateTime") -> int:
    """Parse an ISO 8601 DateTime into epoch microseconds; naive times are UTC."""
    if not isinstance(text, str) or len(text) < 10:
        raise BadRequestData(f"{field} is not an ISO 8601 DateTime: {text!r}")
    try:
        return _parse_iso_us(text)
    except (ValueError, OverflowError):
        raise BadRequestData(f"{field} is not an ISO 8601 DateTime: {text!r}") from None


# Devices in one batch share few distinct timestamps: caching parse and format saves most of
# their cost on the write path.
@lru_cache(maxsize=16384)
def _parse_iso_us(text: str) -> int:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # In UTC the instant must still be a representable date (years 1 to 9999).
    parsed.astimezone(UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@lru_cache(maxsize=16384)
def format_us(us: int) -> str:
    """Format epoch microseconds as UTC ISO 8601 with milliseconds and a Z."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def normalize_datetime(text: object, field: str = "DateTime") -> str:
    """Validate an ISO 8601 DateTime and return it in the broker's canonical form."""
    return format_us(parse_datetime_us(text, field))


def parse_duration_us(text: str) -> tuple[int, int]:
    """Parse an ISO 8601 duration into (months, microseconds); months stay calendar months."""
    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError):
        raise BadRequestData(f"not an ISO 8601 duration: {text!r}") from None
    if isinstance(duration, isodate.Duration):
        months = int(duration.years) * 12 + int(duration.months)
        rest = duration.tdelta
    else:
        months, rest = 0, duration
    micros = (rest.days * 86_400 + rest.seconds) * 1_000_000 + rest.microseconds
    if months < 0 or micros < 0 or (months == 0 and micros == 0):
        raise BadRequestData(f"duration must be positive: {text!r}")
    return months, micros


def add_months_us(us: int, months: int) -> int:
    """Add calendar months to an epoch-microsecond instant (day clamped to the month's end)."""
    moment = _EPOCH + timedelta(microseconds=us)
    total = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(total, 12)
    day = min(moment.day, _days_in_month(year, month + 1))
    shifted = moment.replace(year=year, month=month + 1, day=day)
    delta = shifted - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _days_in_month(year: int, month: int) -> int:
    nxt = datetime(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day
