"""Indicators of citizen-report handling: on time, satisfaction, time to close, reports per ward.

Pure: no I/O and no clock reads; `now` is passed in and every instant is time-zone aware.

Source. Decision 766/QĐ-TTg of 23/6/2022 of the Prime Minister approves the "Bộ chỉ số chỉ
đạo, điều hành và đánh giá chất lượng phục vụ người dân, doanh nghiệp trong thực hiện thủ
tục hành chính, dịch vụ công theo thời gian thực trên môi trường điện tử". Its annex (the
indicator formulas) could not be found in the reference material available while writing
this module; secondary descriptions of the index place "tỷ lệ phản ánh, kiến nghị được xử lý
đúng hạn" in its satisfaction group (18 of 100 points). The formulas below are the ones the
issue states for feedback ("phản ánh, kiến nghị"), not quotations of the decision:

* on-time rate = reports handled on or before the deadline / reports due × 100;
* satisfaction rate = (total − reports dissatisfied or late) / total × 100.

Decisions (documented here, tested in tests/domains/citizen/test_indicators.py):

* A report is *closed* at `now` when `closed_at` is set and not after `now` (a later
  `closed_at` is the future for a snapshot taken at `now`).
* The reports *due* at `now` are those closed by then (early closes included) plus those still
  open whose deadline has passed (`due_at < now`); an open report past its deadline counts as
  late. Open reports not yet due are left out: their outcome is unknown.
* On time means `closed_at <= due_at`: closed exactly at the deadline is on time (deadlines
  from `deadlines.due_at` are the last instant of the day).
* Satisfaction is over the same reports. Ratings are 1-5 (Rất không hài lòng … Rất hài lòng);
  *dissatisfied* is a rating of 2 or less; 3 (Bình thường) is not. A report counts against
  satisfaction when it is dissatisfied or late (once if both); an unrated report handled on
  time does not.
* Reports whose status is in `EXCLUDED_STATUSES` ("merged": a duplicate folded into another
  report) are left out of every indicator; other statuses are not interpreted.
* Every rate is a percentage in [0, 100], or None when no report qualifies.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

#: Statuses whose reports are not counted (a merged report is a duplicate of another).
EXCLUDED_STATUSES = frozenset({"merged"})

#: Ratings at or below this are "dissatisfied" (2 = Không hài lòng, 1 = Rất không hài lòng).
DISSATISFIED_AT_MOST = 2

#: The population unit of the per-resident rate.
PER_RESIDENTS = 10_000


def _check_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime: pass a time-zone aware instant")


@dataclass(frozen=True)
class ReportFacts:
    """What the indicators need to know of one citizen report."""

    received_at: datetime
    due_at: datetime
    closed_at: datetime | None
    department: str
    ward: str | None
    #: The citizen's rating, 1 (Rất không hài lòng) to 5 (Rất hài lòng), or None if unrated.
    rating: int | None
    status: str

    def __post_init__(self) -> None:
        _check_aware("received_at", self.received_at)
        _check_aware("due_at", self.due_at)
        if self.closed_at is not None:
            _check_aware("closed_at", self.closed_at)
            if self.closed_at < self.received_at:
                raise ValueError("closed_at is before received_at")
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValueError(f"rating must be 1 to 5, not {self.rating}")

    def closed_by(self, now: datetime) -> bool:
        """Whether the report was closed at or before `now`."""
        return self.closed_at is not None and self.closed_at <= now

    def is_due(self, now: datetime) -> bool:
        """Whether the report counts at `now`: closed by then, or open past its deadline."""
        return self.closed_by(now) or self.due_at < now

    def is_on_time(self, now: datetime) -> bool:
        """Whether the report was closed by `now` and on or before its deadline."""
        return self.closed_by(now) and self.closed_at is not None and self.closed_at <= self.due_at

    def is_dissatisfied(self) -> bool:
        """Whether the citizen rated the handling 2 or less."""
        return self.rating is not None and self.rating <= DISSATISFIED_AT_MOST


def _counted(reports: Iterable[ReportFacts]) -> list[ReportFacts]:
    return [r for r in reports if r.status not in EXCLUDED_STATUSES]


def _due(reports: Iterable[ReportFacts], now: datetime) -> list[ReportFacts]:
    _check_aware("now", now)
    return [r for r in _counted(reports) if r.is_due(now)]


def on_time_rate(reports: Iterable[ReportFacts], now: datetime) -> float | None:
    """Reports handled on or before their deadline / reports due at `now` × 100."""
    due = _due(reports, now)
    if not due:
        return None
    return 100.0 * sum(1 for r in due if r.is_on_time(now)) / len(due)


def satisfaction_rate(reports: Iterable[ReportFacts], now: datetime) -> float | None:
    """(Reports due − those dissatisfied or late) / reports due at `now` × 100."""
    due = _due(reports, now)
    if not due:
        return None
    negative = sum(1 for r in due if r.is_dissatisfied() or not r.is_on_time(now))
    return 100.0 * (len(due) - negative) / len(due)


def median_hours_to_close(reports: Iterable[ReportFacts]) -> float | None:
    """Median hours from receipt to closing over the closed reports."""
    hours = [
        (r.closed_at - r.received_at).total_seconds() / 3600.0
        for r in _counted(reports)
        if r.closed_at is not None
    ]
    return statistics.median(hours) if hours else None


def reports_by_ward(reports: Iterable[ReportFacts]) -> dict[str, int]:
    """How many reports each ward has (reports without a ward are not counted)."""
    return dict(Counter(r.ward for r in _counted(reports) if r.ward is not None))


def per_10000_residents(
    counts_by_ward: Mapping[str, int], population_by_ward: Mapping[str, int]
) -> dict[str, float]:
    """Reports per 10,000 residents of each ward with a known, positive population."""
    return {
        ward: counts_by_ward.get(ward, 0) * PER_RESIDENTS / population
        for ward, population in population_by_ward.items()
        if population > 0
    }


def by_department(
    reports: Iterable[ReportFacts], now: datetime
) -> dict[str, dict[str, float | None]]:
    """On-time rate, satisfaction rate and median hours to close of each department."""
    groups: dict[str, list[ReportFacts]] = {}
    for report in _counted(reports):
        groups.setdefault(report.department, []).append(report)
    return {
        department: {
            "on_time_rate": on_time_rate(group, now),
            "satisfaction_rate": satisfaction_rate(group, now),
            "median_hours_to_close": median_hours_to_close(group),
        }
        for department, group in sorted(groups.items())
    }
