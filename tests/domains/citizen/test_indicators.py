"""Indicators of citizen-report handling, with hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartcity.domains.citizen.deadlines import VN_TZ, due_at
from smartcity.domains.citizen.indicators import (
    ReportFacts,
    by_department,
    median_hours_to_close,
    on_time_rate,
    per_10000_residents,
    reports_by_ward,
    satisfaction_rate,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=VN_TZ)
NOW = T0 + timedelta(days=10)
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def report(
    *,
    received: datetime = T0,
    due: datetime | None = None,
    closed: datetime | None = None,
    department: str = "xay-dung",
    ward: str | None = "Ninh Kiều",
    rating: int | None = None,
    status: str | None = None,
) -> ReportFacts:
    return ReportFacts(
        received_at=received,
        due_at=due if due is not None else received + 72 * H,
        closed_at=closed,
        department=department,
        ward=ward,
        rating=rating,
        status=status or ("closed" if closed is not None else "in_progress"),
    )


DUE = T0 + 72 * H

#: A: early, rated 5. B: closed exactly at the deadline, unrated. C: 1 µs late, rated 4.
#: D: on time but rated 2. E: open past its deadline. F: open, not due yet.
#: G: merged duplicate (excluded). H: closes after NOW, due after NOW (excluded).
A = report(closed=T0 + 10 * H, rating=5)
B = report(closed=DUE)
C = report(closed=DUE + US, rating=4)
D = report(closed=T0 + 5 * H, rating=2, department="moi-truong")
E = report(department="moi-truong")
F = report(received=NOW - H, department="moi-truong")
G = report(closed=DUE + 24 * H, status="merged")
LATER = report(received=NOW - 2 * H, closed=NOW + H)
ALL = [A, B, C, D, E, F, G, LATER]


def test_on_time_rate() -> None:
    # Due: A, B, C, D, E. On time: A, B, D.
    assert on_time_rate(ALL, NOW) == pytest.approx(60.0)


def test_satisfaction_rate() -> None:
    # Against: C (late), D (rated 2), E (open and late): (5 - 3) / 5.
    assert satisfaction_rate(ALL, NOW) == pytest.approx(40.0)


def test_closed_exactly_at_the_deadline_is_on_time() -> None:
    assert on_time_rate([B], NOW) == 100.0
    assert on_time_rate([C], NOW) == 0.0


def test_deadline_boundary_with_due_at_and_other_time_zones() -> None:
    received = datetime(2026, 3, 9, 14, 0, tzinfo=VN_TZ)
    due = due_at(received, 3)
    on_time = report(received=received, due=due, closed=due.astimezone(UTC))
    late = report(received=received, due=due, closed=due + US)
    now = due + 48 * H
    assert on_time_rate([on_time], now) == 100.0
    assert on_time_rate([on_time, late], now) == 50.0


def test_open_reports_count_only_once_their_deadline_has_passed() -> None:
    assert on_time_rate([F], NOW) is None
    assert on_time_rate([E], NOW) == 0.0
    assert on_time_rate([E], DUE) is None  # at the deadline instant it is not late yet
    assert on_time_rate([E], DUE + US) == 0.0


def test_a_snapshot_ignores_closing_after_now() -> None:
    # Closed after the snapshot and past its deadline at it: late at NOW.
    closes_later = report(closed=NOW + H)
    assert on_time_rate([closes_later], NOW) == 0.0
    assert on_time_rate([LATER], NOW) is None
    assert on_time_rate([LATER], NOW + 2 * H) == 100.0


def test_early_closes_count_before_their_deadline() -> None:
    early = report(received=NOW - 3 * H, closed=NOW - H)
    assert on_time_rate([early], NOW) == 100.0


def test_neutral_rating_is_not_dissatisfied() -> None:
    reports = [report(closed=T0 + H, rating=r) for r in (1, 2, 3, 4, 5)] + [report(closed=T0 + H)]
    # Only ratings 1 and 2 are against: 4 of 6.
    assert satisfaction_rate(reports, NOW) == pytest.approx(400 / 6)


def test_late_and_dissatisfied_counts_once() -> None:
    assert satisfaction_rate([report(closed=DUE + H, rating=1), A], NOW) == 50.0


def test_empty_inputs_give_none() -> None:
    assert on_time_rate([], NOW) is None
    assert satisfaction_rate([], NOW) is None
    assert median_hours_to_close([]) is None
    assert median_hours_to_close([E, F]) is None
    assert on_time_rate([G], NOW) is None
    assert by_department([], NOW) == {}


def test_accepts_one_shot_iterables() -> None:
    assert on_time_rate(iter(ALL), NOW) == pytest.approx(60.0)
    assert satisfaction_rate((r for r in ALL), NOW) == pytest.approx(40.0)


def test_median_hours_to_close() -> None:
    def closed_after(hours: float) -> ReportFacts:
        return report(closed=T0 + timedelta(hours=hours))

    assert median_hours_to_close([closed_after(h) for h in (10, 1, 2)]) == 2.0
    assert median_hours_to_close([closed_after(h) for h in (1, 2, 3, 10)]) == 2.5
    # Open reports and merged duplicates do not count.
    assert median_hours_to_close([closed_after(1), closed_after(3), E, G]) == 2.0
    assert median_hours_to_close([closed_after(0.5)]) == 0.5


def test_by_department() -> None:
    result = by_department(ALL, NOW)
    assert list(result) == ["moi-truong", "xay-dung"]
    building = result["xay-dung"]
    # A, B, C due (LATER not yet; G merged): on time A, B; satisfied A, B.
    assert building["on_time_rate"] == pytest.approx(200 / 3)
    assert building["satisfaction_rate"] == pytest.approx(200 / 3)
    # Closed: A 10 h, B 72 h, C 72 h + 1 µs, LATER 3 h → median (10 + 72) / 2.
    assert building["median_hours_to_close"] == pytest.approx(41.0)
    environment = result["moi-truong"]
    # D, E due (F not yet): on time D; satisfied none (D rated 2, E late).
    assert environment == {
        "on_time_rate": 50.0,
        "satisfaction_rate": 0.0,
        "median_hours_to_close": 5.0,
    }


def test_by_department_with_nothing_due() -> None:
    assert by_department([F], NOW) == {
        "moi-truong": {
            "on_time_rate": None,
            "satisfaction_rate": None,
            "median_hours_to_close": None,
        }
    }


def test_reports_by_ward() -> None:
    reports = [
        report(ward="Ninh Kiều"),
        report(ward="Ninh Kiều"),
        report(ward="Cái Răng"),
        report(ward=None),
        report(ward="Cái Răng", status="merged"),
    ]
    assert reports_by_ward(reports) == {"Ninh Kiều": 2, "Cái Răng": 1}


def test_per_10000_residents() -> None:
    counts = {"Ninh Kiều": 30, "Cái Răng": 5, "Không rõ": 3}
    population = {"Ninh Kiều": 120_000, "Cái Răng": 50_000, "Phong Điền": 40_000, "Mới": 0}
    assert per_10000_residents(counts, population) == {
        "Ninh Kiều": 2.5,
        "Cái Răng": 1.0,
        "Phong Điền": 0.0,
    }
    assert per_10000_residents({}, {}) == {}


def test_report_facts_validation() -> None:
    with pytest.raises(ValueError, match="naive"):
        report(received=datetime(2026, 3, 2, 8, 0))
    with pytest.raises(ValueError, match="naive"):
        report(closed=datetime(2026, 3, 3, 8, 0))
    with pytest.raises(ValueError, match="before"):
        report(closed=T0 - H)
    for rating in (0, 6):
        with pytest.raises(ValueError, match="1 to 5"):
            report(closed=T0 + H, rating=rating)
    with pytest.raises(ValueError, match="naive"):
        on_time_rate([A], datetime(2026, 3, 12))
