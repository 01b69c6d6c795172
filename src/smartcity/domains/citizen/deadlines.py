"""SLA deadlines of citizen reports in Vietnamese working days (ngày làm việc).

Pure: no I/O and no clock reads; every instant is passed in and must be time-zone aware.

Working days
    Monday to Friday, less the public holidays of the `holidays` library for Vietnam
    (``holidays.country_holidays("VN")``), which implements Labour Code 2019 Art. 112:
    Tết Dương lịch (1/1), five days of Tết Nguyên Đán, Giỗ Tổ Hùng Vương (10/3 lunar),
    30/4, 1/5, Quốc khánh 2/9 plus the day before or after it (since 2021, not 2025), and
    from 2026 Ngày Văn hóa Việt Nam (24/11, Politburo Resolution 80-NQ/TW). It also adds
    the days off in lieu when a holiday falls on a weekend ("nghỉ bù") and, for the years it
    knows (2024: 29/4 for Sat 4/5; 2025: 2/5 for Sat 26/4; 2026: 31/8 for Sat 22/8), the
    government's yearly swaps ("hoán đổi ngày làm việc"): the day off and the Saturday that
    becomes a working day. Checked against holidays 0.109 and the announced 2026
    schedules: Tết Bính Ngọ off Sat 14/2 to Sun 22/2/2026 (working days lost: Mon 16 to
    Fri 20, as in the library; Cổng TTĐT Công an TP.HCM, congan.com.vn, "Chính thức chốt
    phương án Tết Nguyên đán Bính Ngọ 2026 nghỉ 9 ngày").

    Swaps the library does not know yet (a later year, a local decision of the city) are
    given to `WorkCalendar`: ``extra_days_off`` (dates that are not working days) and
    ``extra_working_days`` (dates that are working days whatever the weekday or the
    library says, e.g. a Saturday worked in exchange for a bridge day).

Counting (Civil Code 2015, Art. 147-148)
    The day of receipt is not counted: the first day of the period is the next working day,
    so a report received on Monday with 3 working days is due on Thursday, one received on
    Friday is due on Wednesday, and one received on a Saturday, Sunday or holiday counts
    from the next working day. The hour of receipt does not matter (a report received after
    office hours on a working day starts counting the next day anyway). The period ends at
    the end of its last day, 24:00 of that day (Art. 148(1) and (6)), returned as
    23:59:59.999999 Asia/Ho_Chi_Minh so that ``closed_at <= due`` is "on time".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

#: The last instant of a day: a deadline "at the end of the day".
END_OF_DAY = time(23, 59, 59, 999999)

#: Saturday and Sunday (date.weekday()) are not working days in public administration.
_WEEKEND = frozenset({5, 6})

#: Bound on the days scanned when looking for a working day (guards against a calendar
#: configured with no working day at all).
_MAX_SCAN_DAYS = 366 * 5


@lru_cache(maxsize=64)
def _library_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The library's days off and worked weekend days of one year (cached; pure computation)."""
    # The next year too: a swap may move a day across New Year (e.g. 2/1/2015 for 27/12/2014).
    vn = holidays.country_holidays("VN", years=(year, year + 1))
    days_off = frozenset(day for day in vn if day.year == year)
    worked = frozenset(day for day in vn.weekend_workdays if day.year == year)
    return days_off, worked


def _local_date(moment: datetime) -> date:
    """The calendar date of an aware instant in Vietnam time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass a time-zone aware instant")
    return moment.astimezone(VN_TZ).date()


def end_of_day(day: date) -> datetime:
    """The last instant (23:59:59.999999) of a day in Vietnam time."""
    return datetime.combine(day, END_OF_DAY, tzinfo=VN_TZ)


@dataclass(frozen=True)
class WorkCalendar:
    """Vietnamese public-administration working days, with local adjustments on top."""

    #: Dates that are not working days though the library says they are (a swap not in it yet).
    extra_days_off: Collection[date] = frozenset()
    #: Dates that are working days whatever the weekday or holidays (a Saturday worked).
    extra_working_days: Collection[date] = frozenset()

    def __post_init__(self) -> None:
        # Any collection is accepted; it is kept as a frozenset (hashable, fast look-ups).
        off, worked = frozenset(self.extra_days_off), frozenset(self.extra_working_days)
        object.__setattr__(self, "extra_days_off", off)
        object.__setattr__(self, "extra_working_days", worked)
        both = off & worked
        if both:
            listed = ", ".join(day.isoformat() for day in sorted(both))
            raise ValueError(f"dates both off and working: {listed}")

    def is_working_day(self, day: date) -> bool:
        """Whether public offices work on this date."""
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        days_off, worked_weekend = _library_year(day.year)
        if day.weekday() in _WEEKEND:
            return day in worked_weekend
        return day not in days_off

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after a date."""
        for offset in range(1, _MAX_SCAN_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days after {day}")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (23:59:59.999999 Vietnam time) of the `days`-th working day after `start`."""
        if days < 0:
            raise ValueError(f"working days must be 0 or more, not {days}")
        day = _local_date(start)
        if days == 0:
            # Due the same day when that is a working day, else at the end of the next one.
            return end_of_day(day if self.is_working_day(day) else self.next_working_day(day))
        for _ in range(days):
            day = self.next_working_day(day)
        return end_of_day(day)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days in (start's date, end's date], Vietnam time; negative if end is earlier."""
        first, last = _local_date(start), _local_date(end)
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        count = 0
        day = first + timedelta(days=1)
        while day <= last:
            if self.is_working_day(day):
                count += 1
            day += timedelta(days=1)
        return sign * count


#: The national calendar with no local adjustments.
DEFAULT_CALENDAR = WorkCalendar()


def due_at(
    received: datetime, sla_working_days: int, calendar: WorkCalendar | None = None
) -> datetime:
    """When a report received at `received` with an SLA of N working days is due."""
    return (calendar or DEFAULT_CALENDAR).add_working_days(received, sla_working_days)
