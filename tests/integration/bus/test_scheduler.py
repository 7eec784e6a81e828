"""The scheduler: one run per job and period, even with two schedulers at once (real PostgreSQL)."""
import threading
from datetime import datetime, time, timezone

from sqlalchemy import select

from bus.runtime import Runtime
from bus.scheduler import Job, run_due
from store.models.scheduler import ScheduledRun


def test_two_schedulers_run_a_daily_job_once(settings, db, unique):
    runs = []
    lock = threading.Lock()

    def reconcile(runtime, period):
        with lock:
            runs.append(period)
        return "ok"

    jobs = {f"daily-{unique}": Job(f"daily-{unique}", reconcile, daily_at=time(2, 0))}
    now = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)  # 03:00 on the 27th in Beijing
    runtimes = [Runtime(settings, name=f"scheduler-{i}") for i in range(2)]
    barrier = threading.Barrier(2)

    def tick(rt):
        barrier.wait()
        for _ in range(5):
            run_due(rt, now, jobs)

    threads = [threading.Thread(target=tick, args=(rt,)) for rt in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runs == ["2026-11-27"]
    with db.unit_of_work() as s:
        row = s.execute(select(ScheduledRun).where(ScheduledRun.job == f"daily-{unique}")).scalar_one()
    assert row.status == "succeeded" and row.outcome == "ok"


def test_daily_job_waits_for_its_beijing_time(settings, db, unique):
    jobs = {f"early-{unique}": Job(f"early-{unique}", lambda rt, p: "ran", daily_at=time(2, 0))}
    before = datetime(2026, 11, 26, 17, 30, tzinfo=timezone.utc)  # 01:30 in Beijing
    assert run_due(Runtime(settings), before, jobs) == []


def test_a_failed_run_is_retried_then_given_up(settings, db, unique):
    attempts = []

    def flaky(runtime, period):
        attempts.append(period)
        raise RuntimeError("statement not published yet")

    jobs = {f"flaky-{unique}": Job(f"flaky-{unique}", flaky, every_seconds=3600)}
    now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    rt = Runtime(settings)
    for _ in range(5):
        run_due(rt, now, jobs)
    assert len(attempts) == 3
    with db.unit_of_work() as s:
        row = s.execute(select(ScheduledRun).where(ScheduledRun.job == f"flaky-{unique}")).scalar_one()
    assert row.status == "failed" and "statement not published yet" in row.outcome
