"""Scheduled jobs for operators: each job's last run, its status, its next run, its recent failures,
and a retry of a run that failed for good (the scheduler claims it at its next tick; audited).

The jobs are the process table's (`bootstrap.table`), handed to the gateway as `app.extensions["govlink_jobs"]`;
the runs are `scheduled_runs` (bus/scheduler.py), read by primary key (job, period) only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from kernel.clock import BEIJING
from kernel.errors import Refused
from operations import audit
from store.models.scheduler import ScheduledRun


def schedule_text(job) -> str:
    """(pure) "every 60 s" or "daily 02:00 (Beijing)"."""
    return f"every {job.every_seconds} s" if job.every_seconds else f"daily {job.daily_at:%H:%M} (Beijing)"


def next_run(job, last: dict | None, now: datetime) -> datetime | None:
    """(pure) When the job runs next: a retry's own time, None while it runs, now when its current period
    has not run yet, else the start of the next period."""
    if last is not None and last["status"] == "running":
        return None
    if last is not None and last["status"] == "retry" and last.get("next_attempt_at"):
        return max(last["next_attempt_at"], now)
    current = job.period(now)
    if current is not None and (last is None or last["period"] < current):
        return now
    if job.every_seconds:
        epoch = (int(now.timestamp()) // job.every_seconds + 1) * job.every_seconds
        return datetime.fromtimestamp(epoch, timezone.utc)
    local = now.astimezone(BEIJING)
    day = local.date() + (timedelta(days=1) if current is not None else timedelta())
    return datetime.combine(day, job.daily_at, BEIJING).astimezone(timezone.utc)


def _run_view(row: ScheduledRun | None) -> dict | None:
    if row is None:
        return None
    return {"period": row.period, "status": row.status, "attempts": row.attempts, "claimed_by": row.claimed_by,
            "started_at": row.started_at, "finished_at": row.finished_at, "outcome": (row.outcome or "")[:500],
            "next_attempt_at": row.next_attempt_at}


def overview(session, jobs: dict, now: datetime) -> list[dict]:
    """Every job: schedule, last run, next run, failures since yesterday (Beijing)."""
    since = (now.astimezone(BEIJING).date() - timedelta(days=1)).isoformat()  # sorts before that day's periods
    out = []
    for name, job in jobs.items():
        last = _run_view(session.execute(select(ScheduledRun).where(ScheduledRun.job == name)
                                         .order_by(ScheduledRun.period.desc()).limit(1)).scalar())
        failures = session.execute(select(func.count()).where(ScheduledRun.job == name, ScheduledRun.period >= since,
                                                              ScheduledRun.status == "failed")).scalar()
        out.append({"name": name, "schedule": schedule_text(job), "last_run": last, "next_run": next_run(job, last, now),
                    "failures_since": since, "failures": failures or 0})
    return out


def retry(session, jobs: dict, name: str, *, actor: str, period: str | None = None, reason: str | None = None,
          now: datetime) -> dict:
    """Make a failed run due again now (all its attempts back); audited. 404 unknown job, 409 nothing failed."""
    if name not in jobs:
        raise Refused(404, "unknown_job", f"No scheduled job named {name!r}; see GET /api/v1/operations/jobs.")
    query = select(ScheduledRun).where(ScheduledRun.job == name).with_for_update()
    query = (query.where(ScheduledRun.period == period) if period
             else query.where(ScheduledRun.status == "failed").order_by(ScheduledRun.period.desc()).limit(1))
    row = session.execute(query).scalar()
    if row is None or row.status != "failed":
        raise Refused(409, "nothing_to_retry", f"{name}{' ' + period if period else ''}: no run that failed for good "
                      f"to retry ({'its status is ' + row.status if row is not None else 'none found'}).")
    row.status, row.attempts, row.next_attempt_at, row.lease_until = "retry", 0, now, None
    audit.record(session, actor=actor, action="job.retry", target=f"{name}/{row.period}", count=1,
                 reason=(reason or "").strip()[:500] or None)
    return _run_view(row)
