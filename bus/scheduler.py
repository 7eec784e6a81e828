"""The scheduler process: periodic jobs, each run once per period however many schedulers run.

A scheduler claims a (job, period) by inserting a row; the primary key lets only one claim win,
so two schedulers (two sites, or a restart overlapping the old process) never run a day's
reconciliation twice. Nothing is skipped in silence:

- a claim holds a lease (`scheduler_lease_seconds`) that a heartbeat renews while the job runs;
  a run left `running` by a scheduler that died is claimed again once its lease has expired;
- a failed run becomes `retry` and is claimed again after a back-off (daily jobs: 10 min, 30 min,
  1 h, 2 h, 4 h by default, `scheduler_retry_backoff`: a statement is often just not published yet);
- periods missed while every scheduler was down are run when one comes back, oldest first, up to
  `catch_up` periods back (daily jobs: `scheduler_catch_up_days`) and never before the job's first run;
- a run that has used all its attempts ends `failed` and says so: the counter
  `govlink_scheduler_runs_failed_total{job}`, a log line at ERROR and a `scheduler.job.failed`
  event on `govlink.events`.

This module is the engine only: which jobs run is the process table's (`bootstrap.table`: each
area lists its `Job`s in its `entries` module; `govlink scheduler` passes them in). Daily jobs run
at a Beijing wall-clock time; interval jobs every N seconds. `now` (a test clock) decides periods and
back-off; leases use the wall clock, since they measure whether a process is still alive.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from datetime import time as clock
from typing import Callable

from prometheus_client import Counter
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from kernel.clock import BEIJING
from store.models.scheduler import ScheduledRun

log = logging.getLogger(__name__)

FAILED_EVENT = "scheduler.job.failed"
INTERVAL_BACKOFF = (10, 20)  # interval jobs: the next period comes soon anyway

RUNS = Counter("govlink_scheduler_runs_total", "Scheduled runs by job and outcome (succeeded, retry, failed)",
               ["job", "outcome"])
FAILED = Counter("govlink_scheduler_runs_failed_total", "Scheduled runs that failed for good (every attempt used)",
                 ["job"])
UNANNOUNCED = Counter("govlink_scheduler_failed_events_unsent_total",
                      "scheduler.job.failed events that could not be published (the run row and the ERROR line remain)")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable  # run(runtime, period: str) -> str | None (a one-line outcome)
    every_seconds: int | None = None
    daily_at: clock | None = None  # Beijing time
    catch_up: int | None = None  # missed periods still run on return; None: scheduler_catch_up_days (daily) or 0
    retry_backoff: tuple[int, ...] | None = None  # seconds before each retry; None: the setting (daily) or 10 s, 20 s

    def period(self, now: datetime) -> str | None:
        """The period `now` falls in, or None if the job is not due yet (a daily job before its time)."""
        if self.every_seconds:
            epoch = int(now.timestamp()) // self.every_seconds * self.every_seconds
            return _interval_key(epoch)
        local = now.astimezone(BEIJING)
        if local.time() < self.daily_at:
            return None
        return local.date().isoformat()

    def past_periods(self, now: datetime, count: int) -> list[str]:
        """The `count` due periods before the one `now` falls in (or before today, for a daily job not due yet); oldest first."""
        if count <= 0:
            return []
        if self.every_seconds:
            epoch = int(now.timestamp()) // self.every_seconds * self.every_seconds
            return [_interval_key(epoch - k * self.every_seconds) for k in range(count, 0, -1)]
        today = now.astimezone(BEIJING).date()
        return [(today - timedelta(days=k)).isoformat() for k in range(count, 0, -1)]

    def backoff(self, settings) -> tuple[int, ...]:
        if self.retry_backoff is not None:
            return tuple(self.retry_backoff)
        if self.every_seconds:
            return INTERVAL_BACKOFF
        return parse_backoff(settings.scheduler_retry_backoff)

    def look_back(self, settings) -> int:
        if self.catch_up is not None:
            return self.catch_up
        return 0 if self.every_seconds else settings.scheduler_catch_up_days


def _interval_key(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_backoff(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def next_attempt(attempts: int, backoff: tuple[int, ...], now: datetime) -> datetime | None:
    """When a run that failed its `attempts`-th try may be tried again; None once every attempt is used."""
    if attempts > len(backoff):
        return None
    return now + timedelta(seconds=backoff[attempts - 1])


def missed_periods(past: list[str], latest_known: str | None, current: str | None) -> list[str]:
    """The past periods to catch up: later than the job's latest run (none for a job that never ran)."""
    if latest_known is None:
        return []
    return [p for p in past if p > latest_known and p != current]


def _wall() -> datetime:
    return datetime.now(timezone.utc)


def claim(db, job: str, period: str, who: str, *, now: datetime | None = None, lease_seconds: float = 120.0,
          max_attempts: int = 3) -> int | None:
    """Win (job, period) for `who`: a fresh claim, a retry that is due, or a run whose lease expired.

    Returns the attempt number won, or None. A run whose lease expired after its last attempt is
    marked `failed` here (the caller signals it: see `_expire_exhausted`).
    """
    now = now or _wall()
    lease = _wall() + timedelta(seconds=lease_seconds)
    try:
        with db.unit_of_work() as session:
            session.add(ScheduledRun(job=job, period=period, status="running", attempts=1, claimed_by=who,
                                     started_at=_wall(), lease_until=lease))
        return 1
    except IntegrityError:
        pass
    with db.unit_of_work() as session:
        row = session.execute(
            update(ScheduledRun)
            .where(ScheduledRun.job == job, ScheduledRun.period == period, ScheduledRun.attempts < max_attempts,
                   or_(and_(ScheduledRun.status == "retry", ScheduledRun.next_attempt_at <= now),
                       and_(ScheduledRun.status == "running", ScheduledRun.lease_until < _wall())))
            .values(status="running", attempts=ScheduledRun.attempts + 1, claimed_by=who, started_at=_wall(),
                    lease_until=lease, next_attempt_at=None)
            .returning(ScheduledRun.attempts)).first()
    return row[0] if row else None


def _expire_exhausted(db, job: str, period: str, max_attempts: int) -> ScheduledRun | None:
    """A run left `running` by a dead scheduler on its last attempt: mark it failed (once) and return it."""
    with db.unit_of_work() as session:
        row = session.execute(
            update(ScheduledRun)
            .where(ScheduledRun.job == job, ScheduledRun.period == period, ScheduledRun.status == "running",
                   ScheduledRun.lease_until < _wall(), ScheduledRun.attempts >= max_attempts)
            .values(status="failed", finished_at=_wall(), lease_until=None,
                    outcome="the scheduler running its last attempt stopped (its lease expired)")
            .returning(ScheduledRun.attempts, ScheduledRun.outcome)).first()
    return row


class _Heartbeat:
    """Renews the lease of a running claim until stopped; notes when another scheduler took it over."""

    def __init__(self, db, job: str, period: str, who: str, lease_seconds: float):
        self.db, self.job, self.period, self.who, self.lease = db, job, period, who, lease_seconds
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _beat(self) -> None:
        while not self._stop.wait(max(self.lease / 3, 0.1)):
            try:
                with self.db.unit_of_work() as session:
                    renewed = session.execute(
                        update(ScheduledRun)
                        .where(ScheduledRun.job == self.job, ScheduledRun.period == self.period,
                               ScheduledRun.claimed_by == self.who, ScheduledRun.status == "running")
                        .values(lease_until=_wall() + timedelta(seconds=self.lease))).rowcount
            except Exception:  # the database is down: the lease may run out; the job itself decides
                log.warning("scheduled job %s (%s): could not renew its lease", self.job, self.period)
                continue
            if not renewed:
                self.lost = True
                log.error("scheduled job %s (%s): its lease was taken over by another scheduler", self.job, self.period)
                return


def _finish(db, job: str, period: str, who: str, values: dict) -> bool:
    with db.unit_of_work() as session:
        return session.execute(update(ScheduledRun).where(
            ScheduledRun.job == job, ScheduledRun.period == period, ScheduledRun.claimed_by == who,
            ScheduledRun.status == "running").values(finished_at=_wall(), lease_until=None, **values)).rowcount == 1


def signal_failed(runtime, job: str, period: str, attempts: int, outcome: str | None) -> None:
    """A run failed for good: count it, log it at ERROR, announce it on govlink.events."""
    from bus.envelope import encode, new_envelope
    from bus.topology import EVENTS

    FAILED.labels(job).inc()
    log.error("scheduled job %s (%s) FAILED for good after %d attempt(s): %s", job, period, attempts,
              (outcome or "")[:500])
    event = new_envelope(FAILED_EVENT, {"job": job, "period": period, "attempts": attempts,
                                        "outcome": (outcome or "")[:2000]}, client="govlink/scheduler")
    try:
        runtime.message_log.record(event, "out")
        runtime.publisher.publish(EVENTS, FAILED_EVENT, encode(event), message_id=event["message_id"],
                                  type=FAILED_EVENT, correlation_id=event["correlation_id"], mandatory=False).result(10)
    except Exception as exc:  # the row says `failed` and the ERROR line is out; the event could not be sent
        UNANNOUNCED.inc()
        log.error("scheduled job %s (%s): the %s event could not be published (%s)", job, period, FAILED_EVENT,
                  type(exc).__name__)


def _candidates(db, jobs: dict[str, Job], now: datetime, settings) -> list[tuple[Job, str, bool]]:
    """(job, period) pairs worth trying to claim: the current period, missed ones, due retries, expired leases."""
    names = list(jobs)
    with db.unit_of_work() as session:
        latest = dict(session.execute(select(ScheduledRun.job, func.max(ScheduledRun.period))
                                      .where(ScheduledRun.job.in_(names)).group_by(ScheduledRun.job)).all())
        stale = session.execute(select(ScheduledRun.job, ScheduledRun.period).where(
            ScheduledRun.job.in_(names),
            or_(and_(ScheduledRun.status == "retry", ScheduledRun.next_attempt_at <= now),
                and_(ScheduledRun.status == "running", ScheduledRun.lease_until < _wall())))).all()
    out: list[tuple[Job, str, bool]] = []
    for job in jobs.values():
        current = job.period(now)
        periods = missed_periods(job.past_periods(now, job.look_back(settings)), latest.get(job.name), current)
        held_back = {p for name, p in stale if name == job.name}
        periods = sorted(set(periods) | held_back)  # oldest first, whatever brought them here
        if current is not None and current not in periods:
            periods.append(current)
        out.extend((job, p, p in held_back) for p in periods)
    return out


def run_due(runtime, now: datetime | None, jobs: dict[str, Job], who: str | None = None) -> list[str]:
    """Run every (job, period) of `jobs` that is due and not yet done; return the names run here."""
    now = now or _wall()
    who = who or f"{socket.gethostname()}:{os.getpid()}"
    settings = runtime.settings
    lease = settings.scheduler_lease_seconds
    ran = []
    for job, period, stale in _candidates(runtime.db, jobs, now, settings):
        backoff = job.backoff(settings)
        max_attempts = len(backoff) + 1
        attempt = claim(runtime.db, job.name, period, who, now=now, lease_seconds=lease, max_attempts=max_attempts)
        if attempt is None:
            exhausted = _expire_exhausted(runtime.db, job.name, period, max_attempts) if stale else None
            if exhausted is not None:
                signal_failed(runtime, job.name, period, exhausted[0], exhausted[1])
            continue
        if attempt > 1:
            log.warning("scheduled job %s (%s): attempt %d of %d", job.name, period, attempt, max_attempts)
        with _Heartbeat(runtime.db, job.name, period, who, lease):
            try:
                outcome = job.run(runtime, period)
            except Exception as exc:
                outcome = f"{type(exc).__name__}: {exc}"[:2000]
                retry_at = next_attempt(attempt, backoff, now)
                if retry_at is not None:
                    log.warning("scheduled job %s (%s) failed (attempt %d of %d), retrying at %s: %s", job.name,
                                period, attempt, max_attempts, retry_at.isoformat(), outcome[:300])
                    if _finish(runtime.db, job.name, period, who, {"status": "retry", "outcome": outcome,
                                                                   "next_attempt_at": retry_at}):
                        RUNS.labels(job.name, "retry").inc()
                elif _finish(runtime.db, job.name, period, who, {"status": "failed", "outcome": outcome}):
                    RUNS.labels(job.name, "failed").inc()
                    signal_failed(runtime, job.name, period, attempt, outcome)
            else:
                if _finish(runtime.db, job.name, period, who, {"status": "succeeded", "outcome": (outcome or "")[:2000]}):
                    RUNS.labels(job.name, "succeeded").inc()
                else:
                    log.error("scheduled job %s (%s) finished after another scheduler took its run over (its lease "
                              "ran out: raise GOVLINK_SCHEDULER_LEASE_SECONDS?)", job.name, period)
        ran.append(job.name)
    return ran


def run_forever(runtime, stop: threading.Event, tick_seconds: float = 5.0, *, jobs: dict[str, Job],
                on_tick: Callable[[], None] | None = None) -> None:
    """Run what is due every `tick_seconds` until `stop` is set; `on_tick()` after each tick that worked."""
    while not stop.is_set():
        try:
            run_due(runtime, None, jobs)
        except Exception:  # the database is down: try again next tick
            log.exception("scheduler tick failed")
        else:
            if on_tick is not None:
                on_tick()
        stop.wait(tick_seconds)
