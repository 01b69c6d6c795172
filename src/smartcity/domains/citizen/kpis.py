"""The citizen domain's indicators for the IOC tiles (QĐ 766 rates over the last 90 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartcity.core.kpis import KpiReader

from . import indicators, repository
from .repository import RequestFilter
from .service import facts_of

WINDOW = timedelta(days=90)


def _facts(reader: KpiReader) -> list[indicators.ReportFacts]:
    """The reports of the window, as the indicators read them."""
    start = datetime.now(UTC) - WINDOW
    flt = RequestFilter(start_us=round(start.timestamp() * 1e6), limit=100_000)
    with reader.broker.database.read() as conn:
        rows = repository.list_requests(conn, flt)
    return [facts_of(row) for row in rows]


def on_time_rate(reader: KpiReader) -> float | None:
    """Reports handled on time / reports due × 100 (QĐ 766), last 90 days, city-wide."""
    rate = indicators.on_time_rate(_facts(reader), datetime.now(UTC))
    return round(rate, 1) if rate is not None else None


def satisfaction_rate(reader: KpiReader) -> float | None:
    """(Total − dissatisfied or late) / total × 100 (QĐ 766), last 90 days."""
    rate = indicators.satisfaction_rate(_facts(reader), datetime.now(UTC))
    return round(rate, 1) if rate is not None else None


def open_reports(reader: KpiReader) -> int:
    """Citizen reports not yet closed."""
    statuses = reader.values("ServiceRequest", "status")
    return sum(1 for status in statuses if status not in ("closed", "merged"))


def median_hours_to_close(reader: KpiReader) -> float | None:
    """Median hours from a report to its closing, last 90 days."""
    hours = indicators.median_hours_to_close(_facts(reader))
    return round(hours, 1) if hours is not None else None
