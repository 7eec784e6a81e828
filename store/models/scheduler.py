"""The scheduler's record of which job ran for which period (one run per period, however many schedulers)."""
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime


class ScheduledRun(Base):
    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(String(100), primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. 2026-11-26 (daily) or 2026-11-26T07:41 (interval)
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | retry (failed, tried again later) | failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a running claim expires then unless renewed
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # when a `retry` run may be claimed again
