"""Beijing time at the edges, UTC inside.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact
and needs no tz database on the host.
"""

from datetime import UTC, date, datetime, time, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def require_aware(moment: datetime, *, field: str = "datetime") -> datetime:
    """Return ``moment`` if it carries a timezone, else raise ``ValueError``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware")
    return moment


def beijing_to_utc(day: date, clock: time) -> datetime:
    """Combine a Beijing wall-clock date and time into an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=BEIJING).astimezone(UTC)


def to_beijing(moment: datetime) -> datetime:
    """Convert an aware datetime to Beijing time (for the wire and for people)."""
    return require_aware(moment).astimezone(BEIJING)


def beijing_today(now: datetime | None = None) -> date:
    """The current Beijing calendar date (work dates on the wire are Beijing dates)."""
    return to_beijing(now or datetime.now(UTC)).date()


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the one clock inside govlink)."""
    return datetime.now(UTC)
