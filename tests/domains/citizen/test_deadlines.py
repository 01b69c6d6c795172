"""SLA deadlines in Vietnamese working days: weekends, Tết, 30/4-1/5, 2/9, swapped days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from smartcity.domains.citizen.deadlines import (
    DEFAULT_CALENDAR,
    VN_TZ,
    WorkCalendar,
    due_at,
    end_of_day,
)


def vn(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


def eod(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, 999999, tzinfo=VN_TZ)


def days_off(first: date, last: date, calendar: WorkCalendar = DEFAULT_CALENDAR) -> list[date]:
    span = (last - first).days + 1
    days = (first + timedelta(days=n) for n in range(span))
    return [d for d in days if not calendar.is_working_day(d)]


# --- plain weeks (March 2026 has no holiday) ---------------------------------------------


def test_monday_three_days_is_thursday_end() -> None:
    assert due_at(vn(2026, 3, 9), 3) == eod(2026, 3, 12)


def test_friday_three_days_is_wednesday_end() -> None:
    assert due_at(vn(2026, 3, 13), 3) == eod(2026, 3, 18)


@pytest.mark.parametrize("day", [14, 15])
def test_weekend_counts_from_monday(day: int) -> None:
    # Mon 16 is day 1, Wed 18 day 3.
    assert due_at(vn(2026, 3, day), 3) == eod(2026, 3, 18)


@pytest.mark.parametrize("hour", [0, 8, 17, 23])
def test_hour_of_receipt_does_not_matter(hour: int) -> None:
    assert due_at(vn(2026, 3, 9, hour, 30), 1) == eod(2026, 3, 10)


def test_local_date_is_vietnam_time() -> None:
    # Sunday 18:00 UTC is Monday 01:00 in Cần Thơ: counting starts on Tuesday.
    received = datetime(2026, 3, 8, 18, 0, tzinfo=UTC)
    due = due_at(received, 3)
    assert due == eod(2026, 3, 12)
    assert due.tzinfo is VN_TZ
    assert due.utcoffset() == timedelta(hours=7)


def test_zero_days_is_end_of_the_day_or_next_working_day() -> None:
    assert due_at(vn(2026, 3, 10), 0) == eod(2026, 3, 10)
    assert due_at(vn(2026, 3, 14), 0) == eod(2026, 3, 16)


def test_end_of_day() -> None:
    assert end_of_day(date(2026, 3, 10)) == eod(2026, 3, 10)


def test_rejects_negative_days_and_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        due_at(vn(2026, 3, 9), -1)
    with pytest.raises(ValueError, match="naive"):
        due_at(datetime(2026, 3, 9, 9, 0), 3)
    with pytest.raises(ValueError, match="naive"):
        DEFAULT_CALENDAR.working_days_between(datetime(2026, 3, 9), vn(2026, 3, 12))


# --- holidays from the library ------------------------------------------------------------


def test_tet_2026_matches_the_official_schedule() -> None:
    # Tết Bính Ngọ (17/2/2026): public servants off Sat 14/2 to Sun 22/2/2026, 9 days
    # ("Chính thức chốt phương án Tết Nguyên đán Bính Ngọ 2026 nghỉ 9 ngày", congan.com.vn).
    # The library gives Mon 16 to Fri 20, so no extra_days_off is needed.
    assert days_off(date(2026, 2, 14), date(2026, 2, 22)) == [
        date(2026, 2, d) for d in range(14, 23)
    ]
    assert DEFAULT_CALENDAR.is_working_day(date(2026, 2, 13))
    assert DEFAULT_CALENDAR.is_working_day(date(2026, 2, 23))


def test_deadline_across_tet_2026() -> None:
    # Thu 12/2: Fri 13 (1), then nine days off, Mon 23 (2), Tue 24 (3).
    assert due_at(vn(2026, 2, 12), 3) == eod(2026, 2, 24)
    assert due_at(vn(2026, 2, 13), 3) == eod(2026, 2, 25)
    assert due_at(vn(2026, 2, 17), 1) == eod(2026, 2, 23)


def test_tet_2025() -> None:
    # Off Sat 25/1 to Sun 2/2/2025 (Announcement 6150/TB-BLĐTBXH): weekdays Mon 27 to Fri 31.
    assert days_off(date(2025, 1, 25), date(2025, 2, 2)) == [
        date(2025, 1, d) for d in range(25, 32)
    ] + [date(2025, 2, 1), date(2025, 2, 2)]
    assert due_at(vn(2025, 1, 24), 1) == eod(2025, 2, 3)


def test_hung_kings_30_4_and_1_5_in_2026() -> None:
    # 10/3 lunar is Sun 26/4/2026, off on Mon 27/4 instead; 30/4 is a Thursday, 1/5 a Friday.
    assert days_off(date(2026, 4, 25), date(2026, 5, 3)) == [
        date(2026, 4, 25),
        date(2026, 4, 26),
        date(2026, 4, 27),
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 5, 2),
        date(2026, 5, 3),
    ]
    # Fri 24/4: Tue 28 (1), Wed 29 (2), Mon 4/5 (3).
    assert due_at(vn(2026, 4, 24), 3) == eod(2026, 5, 4)
    assert due_at(vn(2026, 4, 29), 2) == eod(2026, 5, 5)


def test_2025_swap_around_30_4() -> None:
    # 2025: Fri 2/5 off in exchange for working Sat 26/4 (Official Dispatch of the Ministry
    # of Labour, in the library).
    assert not DEFAULT_CALENDAR.is_working_day(date(2025, 5, 2))
    assert DEFAULT_CALENDAR.is_working_day(date(2025, 4, 26))
    # Fri 25/4: Sat 26/4 (1), Mon 28/4 (2), Tue 29/4 (3), then 30/4 to Sun 4/5 off.
    assert due_at(vn(2025, 4, 25), 3) == eod(2025, 4, 29)
    assert due_at(vn(2025, 4, 25), 4) == eod(2025, 5, 5)


@pytest.mark.parametrize(
    ("year", "off"),
    [
        # Labour Code 2019 Art. 112: 2/9 and the day before or after it, since 2021.
        (2024, [date(2024, 9, 2), date(2024, 9, 3)]),
        (2025, [date(2025, 9, 1), date(2025, 9, 2)]),
        # 2026: Mon 31/8 off too, in exchange for working Sat 22/8.
        (2026, [date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)]),
    ],
)
def test_national_day_weekdays_off(year: int, off: list[date]) -> None:
    weekdays_off = [d for d in days_off(date(year, 8, 24), date(year, 9, 6)) if d.weekday() < 5]
    assert weekdays_off == off


def test_national_day_2026_with_its_working_saturday() -> None:
    assert DEFAULT_CALENDAR.is_working_day(date(2026, 8, 22))
    # Fri 21/8 with one day: the worked Saturday 22/8.
    assert due_at(vn(2026, 8, 21), 1) == eod(2026, 8, 22)
    # Fri 28/8: Thu 3/9 (1), Fri 4/9 (2).
    assert due_at(vn(2026, 8, 28), 2) == eod(2026, 9, 4)


def test_new_year_and_vietnam_culture_day() -> None:
    assert not DEFAULT_CALENDAR.is_working_day(date(2026, 1, 1))
    # 24/11 "Ngày Văn hóa Việt Nam" from 2026 (Resolution 80-NQ/TW), as the library has it.
    assert not DEFAULT_CALENDAR.is_working_day(date(2026, 11, 24))
    assert DEFAULT_CALENDAR.is_working_day(date(2025, 11, 24))
    # Across the new year: Thu 31/12/2026, Fri 1/1/2027 off, Mon 4/1 (1).
    assert due_at(vn(2026, 12, 30), 2) == eod(2027, 1, 4)


# --- local adjustments --------------------------------------------------------------------


def test_extra_working_saturday() -> None:
    calendar = WorkCalendar(extra_working_days={date(2026, 3, 14)})
    assert calendar.is_working_day(date(2026, 3, 14))
    assert due_at(vn(2026, 3, 13), 1, calendar) == eod(2026, 3, 14)
    assert due_at(vn(2026, 3, 13), 3, calendar) == eod(2026, 3, 17)


def test_extra_day_off() -> None:
    calendar = WorkCalendar(extra_days_off=[date(2026, 3, 16)])
    assert due_at(vn(2026, 3, 13), 1, calendar) == eod(2026, 3, 17)
    assert calendar.working_days_between(vn(2026, 3, 13), vn(2026, 3, 18)) == 2


def test_extra_working_day_overrides_a_library_holiday() -> None:
    calendar = WorkCalendar(extra_working_days=(date(2026, 11, 24),))
    assert calendar.is_working_day(date(2026, 11, 24))


def test_calendar_is_hashable_and_rejects_contradictions() -> None:
    calendar = WorkCalendar(extra_days_off=[date(2026, 3, 16)])
    assert calendar == WorkCalendar(extra_days_off=frozenset({date(2026, 3, 16)}))
    assert hash(calendar) == hash(WorkCalendar(extra_days_off={date(2026, 3, 16)}))
    with pytest.raises(ValueError, match="2026-03-16"):
        WorkCalendar(extra_days_off={date(2026, 3, 16)}, extra_working_days={date(2026, 3, 16)})


# --- working days between -----------------------------------------------------------------


def test_working_days_between() -> None:
    cal = DEFAULT_CALENDAR
    assert cal.working_days_between(vn(2026, 3, 9), vn(2026, 3, 12, 23)) == 3
    assert cal.working_days_between(vn(2026, 3, 12), vn(2026, 3, 9)) == -3
    assert cal.working_days_between(vn(2026, 3, 9, 8), vn(2026, 3, 9, 17)) == 0
    assert cal.working_days_between(vn(2026, 3, 13), vn(2026, 3, 16)) == 1
    assert cal.working_days_between(vn(2026, 2, 13), vn(2026, 2, 23)) == 1


def test_working_days_between_inverts_due_at() -> None:
    for offset in range(0, 365, 5):
        received = vn(2026, 1, 1) + timedelta(days=offset)
        for sla in (1, 3, 10):
            due = due_at(received, sla)
            assert DEFAULT_CALENDAR.working_days_between(received, due) == sla, offset
            assert DEFAULT_CALENDAR.is_working_day(due.date())
