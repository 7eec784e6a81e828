"""Is the working-day calendar complete? Said out loud, not discovered in January.

Without a year's public holidays in `config/supervision.yaml`, deadlines in working days silently
count Monday to Friday. The current year must always be listed, and from 1 December (Beijing date,
from the project's clock) the next one too: otherwise a WARNING at start (ERROR once the year has
begun), `/readyz` answers 200 but `degraded` naming the calendar, and `/metrics` carries
`govlink_calendar_covers_next_year` and `govlink_calendar_ok` (0/1).

A year counts as listed when at least one of its dates is among the holidays (every year has
元旦). Add a year only from the State Council's holiday notice (国务院办公厅关于部分节假日安排的通知).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from prometheus_client.core import GaugeMetricFamily

from kernel.clock import BEIJING
from supervision.calendar import WorkingCalendar
from supervision.deadlines import Clock, SystemClock

log = logging.getLogger("govlink.supervision")

WARN_FROM_MONTH = 12  # from December on, next year's holidays must be listed


@dataclass(frozen=True)
class Coverage:
    """Which years the calendar lists, on `on` (a Beijing date), and which ones it should but does not."""

    on: date
    years: tuple[int, ...]
    missing: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def covers_next_year(self) -> bool:
        return self.on.year + 1 in self.years

    @property
    def message(self) -> str:
        if self.ok:
            return f"the working-day calendar lists the public holidays of {', '.join(map(str, self.years))}"
        years = ", ".join(map(str, self.missing))
        return (f"the working-day calendar has no public holidays for {years}: deadlines in working days "
                f"count Monday to Friday only there. Add them from the State Council's holiday notice")

    def describe(self) -> dict:
        return {"status": "ok" if self.ok else "degraded", "on": self.on.isoformat(), "years": list(self.years),
                "missing": list(self.missing), "covers_next_year": self.covers_next_year, "message": self.message}


def coverage(calendar: WorkingCalendar, on: date) -> Coverage:
    """Pure: the calendar's coverage on the Beijing date `on`."""
    years = tuple(sorted({day.year for day in calendar.holidays}))
    needed = [on.year] + ([on.year + 1] if on.month >= WARN_FROM_MONTH else [])
    return Coverage(on, years, tuple(year for year in needed if year not in years))


def calendar_coverage(calendar: WorkingCalendar, clock: Clock | None = None) -> Coverage:
    """The coverage today, by `clock` (the real time by default), in Beijing."""
    return coverage(calendar, (clock or SystemClock()).now().astimezone(BEIJING).date())


def log_coverage(result: Coverage, source: str) -> None:
    """At start: a WARNING when next year is missing, an ERROR when the current year is."""
    if result.ok:
        return
    level = logging.ERROR if result.on.year in result.missing else logging.WARNING
    log.log(level, "%s (%s)", result.message, source)


class CalendarCollector:
    """`govlink_calendar_covers_next_year` and `govlink_calendar_ok`, computed per scrape."""

    def __init__(self, calendar: Callable[[], WorkingCalendar], clock: Clock | Callable[[], Clock] | None = None):
        self.calendar = calendar
        self.clock = clock

    def describe(self):
        return []

    def collect(self):
        clock = self.clock() if callable(self.clock) and not hasattr(self.clock, "now") else self.clock
        try:
            result = calendar_coverage(self.calendar(), clock)
        except Exception as exc:  # an unreadable supervision file: the gauges say "not covered"
            log.warning("calendar metrics unavailable (%s)", type(exc).__name__)
            result = None
        next_year = GaugeMetricFamily("govlink_calendar_covers_next_year",
                                      "1 if config/supervision.yaml lists next year's public holidays")
        next_year.add_metric([], 1 if result is not None and result.covers_next_year else 0)
        ok = GaugeMetricFamily("govlink_calendar_ok",
                               "1 unless deadlines would silently count Monday to Friday (a needed year is missing)")
        ok.add_metric([], 1 if result is not None and result.ok else 0)
        yield next_year
        yield ok


def app_clock(app) -> Clock:
    """The clock the gateway reads "now" from (`app.extensions["govlink_clock"]`, tests pin it)."""
    return app.extensions.get("govlink_clock") or SystemClock()


def app_coverage(app) -> tuple[Coverage, str]:
    """The gateway's calendar coverage now and the file it comes from."""
    from supervision.config import load

    settings = app.extensions["govlink"].settings
    return calendar_coverage(load(settings=settings).calendar, app_clock(app)), settings.supervision_file


def install(app) -> None:
    """At start: log the coverage; on /metrics: the gauges (read per scrape, so a fixed file counts at once)."""
    from prometheus_client import CollectorRegistry

    from kernel.telemetry import add_metrics_registry
    from supervision.config import load

    app.extensions.setdefault("govlink_clock", SystemClock())
    try:
        result, source = app_coverage(app)
        log_coverage(result, source)
    except Exception as exc:  # a malformed file is reported where it is used; do not stop the start here
        log.error("the supervision calendar could not be read (%s)", type(exc).__name__)
    settings = app.extensions["govlink"].settings
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CalendarCollector(lambda: load(settings=settings).calendar, lambda: app_clock(app)))
    add_metrics_registry(app, registry)
