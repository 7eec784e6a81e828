"""Working days (工作日): weekends and public holidays off, make-up working days (调休) on.

Dates are Beijing dates; instants are aware datetimes (UTC inside). A limit of n working days
after a start is due at the end of the n-th working day after the start's Beijing date (00:00
Beijing of the next day), so a step started on a Friday afternoon with 2 working days is due when
Tuesday ends, and one started during a holiday counts from the first working day after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from kernel.clock import BEIJING, require_aware

_MAX_SCAN_DAYS = 3660  # a calendar with no working day at all would otherwise loop forever


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The instant n working days after `start` are over (see module doc); n >= 0."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = require_aware(start, field="start").astimezone(BEIJING).date()
        counted = 0
        for _ in range(_MAX_SCAN_DAYS):
            if counted == n:
                break
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        else:
            raise ValueError("the calendar has no working days")
        if n == 0:
            return start
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BEIJING)

    def working_days_between(self, first: date, last: date) -> int:
        """How many working days lie in [first, last] (inclusive)."""
        return sum(1 for i in range((last - first).days + 1) if self.is_working_day(first + timedelta(days=i)))


def parse_dates(entries) -> frozenset[date]:
    """Dates from config entries: `2026-10-01`, or a range `2026-10-01..2026-10-07` (inclusive)."""
    out: set[date] = set()
    for entry in entries or ():
        if isinstance(entry, date):
            out.add(entry)
            continue
        text = str(entry).strip()
        first, sep, last = text.partition("..")
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
        if end < start:
            raise ValueError(f"date range {text!r} ends before it starts")
        out.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return frozenset(out)
