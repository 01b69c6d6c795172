"""The environment domain's indicators over current values and recent history."""

from __future__ import annotations

from smartcity.config import get_settings
from smartcity.core.context.times import now_us
from smartcity.core.kpis import KpiReader

from .service import DAY_US, HOUR_US, VN_OFFSET_US, numeric_samples


def count_above(reader: KpiReader, entity_type: str, attr: str, limit: float) -> int:
    """How many entities of a type have `attr` above a limit now."""
    return sum(1 for value in reader.numbers(entity_type, attr) if value > limit)


def aqi_good_share(reader: KpiReader) -> float | None:
    """Share (%) of station-hours of the last 24 h with an hourly AQI of 100 or less."""
    history = reader.history("AirQualityObserved", "airQualityIndex", now_us() - DAY_US)
    values = [v for samples in history.values() for _, v in numeric_samples(samples)]
    if not values:
        return None
    return round(100.0 * sum(1 for v in values if v <= 100) / len(values), 1)


def wqi_usable_share(reader: KpiReader) -> float | None:
    """Share (%) of river-quality stations whose VN_WQI is 51 or more (medium class or better)."""
    values = reader.numbers("WaterQualityObserved", "waterQualityIndex")
    if not values:
        return None
    return round(100.0 * sum(1 for v in values if v >= 51) / len(values), 1)


def hours_above_bd3(reader: KpiReader) -> int | None:
    """Hours of the last 30 days in which Cần Thơ station stood at or above BĐ III."""
    settings = get_settings()
    history = reader.history("WaterObserved", "height", now_us() - 30 * DAY_US)
    samples = numeric_samples(history.get(settings.env_tide_station, []))
    if not samples:
        return None
    top = settings.env_alarm_levels_m[-1]
    return len({at // HOUR_US for at, v in samples if v >= top})


def intake_salty_days(reader: KpiReader) -> int | None:
    """Days (Vietnam time) of the last 30 with salinity above the limit at any gate's intake."""
    limit = get_settings().env_intake_salinity_limit_ppt
    history = reader.history("SluiceGate", "upstreamSalinity", now_us() - 30 * DAY_US)
    samples = [s for series in history.values() for s in numeric_samples(series)]
    if not samples:
        return None
    return len({(at + VN_OFFSET_US) // DAY_US for at, v in samples if v > limit})
