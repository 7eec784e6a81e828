"""The scheduler process: periodic jobs, each run once per period however many schedulers run.

A scheduler claims a (job, period) by inserting a row; the primary key lets only one claim win,
so two schedulers (two sites, or a restart overlapping the old process) never run a day's
reconciliation twice. A failed run may be claimed again, up to `MAX_ATTEMPTS`.

The schedule itself is `SCHEDULE` below: one place says what runs when. Daily jobs run at a
Beijing wall-clock time; interval jobs every N seconds.
"""
from __future__ import annotations

import logging
import socket
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from datetime import time as clock
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from store.models.scheduler import ScheduledRun

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable  # run(runtime, period: str) -> str | None (a one-line outcome)
    every_seconds: int | None = None
    daily_at: clock | None = None  # Beijing time

    def period(self, now: datetime) -> str | None:
        """The period `now` falls in, or None if the job is not due yet (a daily job before its time)."""
        if self.every_seconds:
            epoch = int(now.timestamp()) // self.every_seconds * self.every_seconds
            return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        local = now.astimezone(BEIJING)
        if local.time() < self.daily_at:
            return None
        return local.date().isoformat()


def _payments_poll(runtime, period):
    from payment_bridge.cli import poll_payments

    return str(poll_payments(runtime))


def _logistics_poll(runtime, period):
    from logistics_bridge.wiring import logistics_service

    return str(logistics_service(runtime).poll())


def _supervision_check(runtime, period):
    from supervision.check import scheduled_job

    return scheduled_job(runtime, period)


def _reconcile_daily(runtime, period):
    from reconciliation.scheduled import daily_job

    return daily_job(runtime, period)


SCHEDULE: dict[str, Job] = {
    "payments.poll": Job("payments.poll", _payments_poll, every_seconds=60),
    "logistics.poll": Job("logistics.poll", _logistics_poll, every_seconds=120),
    "supervision.check": Job("supervision.check", _supervision_check, every_seconds=60),  # 电子监察: deadlines (R10)
    "reconcile.daily": Job("reconcile.daily", _reconcile_daily, daily_at=clock(2, 0)),  # 对账 (R7): yesterday, 02:00
}


def register(job: Job) -> None:
    SCHEDULE[job.name] = job


def claim(db, job: str, period: str, who: str) -> bool:
    """True if this scheduler won (job, period): a fresh claim, or a retry of a failed run."""
    try:
        with db.unit_of_work() as session:
            session.add(ScheduledRun(job=job, period=period, status="running", attempts=1, claimed_by=who))
        return True
    except IntegrityError:
        pass
    with db.unit_of_work() as session:
        won = session.execute(update(ScheduledRun)
                              .where(ScheduledRun.job == job, ScheduledRun.period == period,
                                     ScheduledRun.status == "failed", ScheduledRun.attempts < MAX_ATTEMPTS)
                              .values(status="running", attempts=ScheduledRun.attempts + 1, claimed_by=who,
                                      started_at=datetime.now(timezone.utc)))
        return won.rowcount == 1


def _finish(db, job: str, period: str, status: str, outcome: str | None) -> None:
    with db.unit_of_work() as session:
        session.execute(update(ScheduledRun).where(ScheduledRun.job == job, ScheduledRun.period == period)
                        .values(status=status, outcome=(outcome or "")[:2000], finished_at=datetime.now(timezone.utc)))


def run_due(runtime, now: datetime | None = None, jobs: dict[str, Job] | None = None, who: str | None = None) -> list[str]:
    """Run every job that is due and not yet run for its period; return the names run here."""
    now = now or datetime.now(timezone.utc)
    who = who or f"{socket.gethostname()}:{os.getpid()}"
    ran = []
    for job in (jobs or SCHEDULE).values():
        period = job.period(now)
        if period is None or not claim(runtime.db, job.name, period, who):
            continue
        try:
            outcome = job.run(runtime, period)
        except Exception as exc:
            log.exception("scheduled job %s (%s) failed", job.name, period)
            _finish(runtime.db, job.name, period, "failed", f"{type(exc).__name__}: {exc}")
        else:
            _finish(runtime.db, job.name, period, "succeeded", outcome)
        ran.append(job.name)
    return ran


def run_forever(runtime, stop: threading.Event, tick_seconds: float = 5.0) -> None:
    while not stop.is_set():
        try:
            run_due(runtime)
        except Exception:  # the database is down: try again next tick
            log.exception("scheduler tick failed")
        stop.wait(tick_seconds)
