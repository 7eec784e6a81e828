"""A working-day calendar without next year's holidays is said out loud from December on (issue 16.4).

Without them, deadlines silently count Monday to Friday. The check uses the project's clock
(`supervision.deadlines.Clock`), so these tests pin the date.
"""
import logging
from datetime import date, datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest

from kernel.clock import BEIJING
from supervision.calendar import WorkingCalendar, parse_dates
from supervision.calendar_health import CalendarCollector, calendar_coverage, coverage, log_coverage
from supervision.deadlines import FixedClock

CAL_2025_2026 = WorkingCalendar(parse_dates(["2025-01-01", "2026-01-01..2026-01-03"]), frozenset())
CAL_2026_2027 = WorkingCalendar(parse_dates(["2026-01-01", "2027-02-06"]), frozenset())


def test_before_december_the_current_year_is_enough():
    c = coverage(CAL_2025_2026, date(2026, 11, 30))
    assert c.ok and c.missing == () and c.years == (2025, 2026)
    assert c.covers_next_year is False  # a fact, but nothing to warn about yet


def test_from_december_next_year_must_be_listed():
    c = coverage(CAL_2025_2026, date(2026, 12, 1))
    assert not c.ok and c.missing == (2027,) and c.covers_next_year is False
    assert "2027" in c.message and "Monday to Friday" in c.message
    assert coverage(CAL_2026_2027, date(2026, 12, 31)).ok


def test_a_year_already_begun_without_holidays_is_missing_too():
    c = coverage(CAL_2025_2026, date(2027, 1, 4))
    assert c.missing == (2027,) and not c.ok


def test_the_clock_decides_in_beijing_time():
    # 2026-11-30 16:30 UTC is already 1 December in Beijing
    clock = FixedClock(datetime(2026, 11, 30, 16, 30, tzinfo=timezone.utc))
    assert calendar_coverage(CAL_2025_2026, clock).missing == (2027,)
    clock = FixedClock(datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc))
    assert calendar_coverage(CAL_2025_2026, clock).ok


def test_start_logs_a_warning_naming_the_year_and_the_file(caplog):
    clock = FixedClock(datetime(2026, 12, 6, 9, 0, tzinfo=BEIJING))
    with caplog.at_level(logging.WARNING, logger="govlink.supervision"):
        log_coverage(calendar_coverage(CAL_2025_2026, clock), "config/supervision.yaml")
    (record,) = [r for r in caplog.records if r.name == "govlink.supervision"]
    assert record.levelno >= logging.WARNING
    assert "2027" in record.getMessage() and "config/supervision.yaml" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="govlink.supervision"):
        log_coverage(calendar_coverage(CAL_2026_2027, clock), "config/supervision.yaml")
    assert not [r for r in caplog.records if r.name == "govlink.supervision"]


def _scrape(calendar, clock) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CalendarCollector(lambda: calendar, clock))
    return generate_latest(registry).decode()


def test_gauge_says_whether_next_year_is_covered():
    december = FixedClock(datetime(2026, 12, 6, 9, 0, tzinfo=BEIJING))
    assert "govlink_calendar_covers_next_year 0.0" in _scrape(CAL_2025_2026, december)
    assert "govlink_calendar_covers_next_year 1.0" in _scrape(CAL_2026_2027, december)
    assert "govlink_calendar_ok 0.0" in _scrape(CAL_2025_2026, december)
    assert "govlink_calendar_ok 1.0" in _scrape(CAL_2026_2027, december)
