"""The scheduler: one run per job and period, even with two schedulers at once; leases, back-off,
catch-up and the signal of a job that failed for good (real PostgreSQL and RabbitMQ)."""
import json
import logging
import threading
import time as timer
from datetime import datetime, time, timedelta, timezone

import pika
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from bus.connection import connection_parameters
from bootstrap.runtime import Runtime
from bus.scheduler import FAILED_EVENT, Job, run_due
from bus.topology import EVENTS
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
    for second in range(0, 60, 5):  # an interval job retries after 10 s, then 20 s, then gives up
        run_due(rt, now + timedelta(seconds=second), jobs)
    assert len(attempts) == 3
    with db.unit_of_work() as s:
        row = s.execute(select(ScheduledRun).where(ScheduledRun.job == f"flaky-{unique}")).scalar_one()
    assert row.status == "failed" and "statement not published yet" in row.outcome


def _row(db, job):
    with db.unit_of_work() as s:
        return s.execute(select(ScheduledRun).where(ScheduledRun.job == job)).scalar_one()


def test_a_run_left_running_by_a_dead_scheduler_is_claimed_again_after_its_lease(settings, db, unique):
    """Regression: a `running` row of a scheduler that died used to block its period for ever."""
    runs = []
    name = f"orphan-{unique}"
    jobs = {name: Job(name, lambda rt, p: runs.append(p) or "done", daily_at=time(2, 0))}
    now = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)  # 03:00 on the 27th in Beijing
    with db.unit_of_work() as s:
        s.add(ScheduledRun(job=name, period="2026-11-27", status="running", attempts=1, claimed_by="dead-host:1",
                           lease_until=datetime.now(timezone.utc) + timedelta(seconds=30)))
    rt = Runtime(settings)
    assert run_due(rt, now, jobs) == [] and runs == []  # its lease still holds: the other scheduler may be alive
    with db.unit_of_work() as s:
        s.execute(update(ScheduledRun).where(ScheduledRun.job == name)
                  .values(lease_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert run_due(rt, now, jobs, who="survivor:2") == [name]
    row = _row(db, name)
    assert runs == ["2026-11-27"] and row.status == "succeeded" and row.attempts == 2 and row.claimed_by == "survivor:2"


def test_a_heartbeat_keeps_the_lease_of_a_long_job(settings, db, unique):
    name = f"long-{unique}"
    release, started = threading.Event(), threading.Event()
    runs = []

    def long_job(runtime, period):
        runs.append(period)
        started.set()
        release.wait(10)
        return "done"

    jobs = {name: Job(name, long_job, every_seconds=3600)}
    quick = settings.replace(scheduler_lease_seconds=0.6)
    now = datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc)
    first = threading.Thread(target=run_due, args=(Runtime(quick), now, jobs, "first:1"))
    first.start()
    assert started.wait(10)
    other = Runtime(quick)
    for _ in range(8):  # 2.4 s: four lease lengths, each renewed by the heartbeat
        assert run_due(other, now, jobs, "second:2") == []
        timer.sleep(0.3)
    release.set()
    first.join(10)
    row = _row(db, name)
    assert runs == [now.strftime("%Y-%m-%dT%H:00:00Z")] and row.status == "succeeded" and row.attempts == 1


def _failed_events(settings):
    """A queue bound to scheduler.job.failed on govlink.events; returns (channel, queue name)."""
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    channel = conn.channel()
    channel.exchange_declare(EVENTS, "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, EVENTS, FAILED_EVENT)
    return conn, channel, queue


def test_back_off_over_hours_then_a_visible_final_failure(settings, db, unique, caplog):
    name = f"statement-{unique}"
    attempts = []

    def reconcile(runtime, period):
        attempts.append(period)
        raise RuntimeError("statement not published yet")

    jobs = {name: Job(name, reconcile, daily_at=time(2, 0), retry_backoff=(600, 3600))}
    t0 = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)
    rt = Runtime(settings)
    conn, channel, queue = _failed_events(settings)
    failed_before = REGISTRY.get_sample_value("govlink_scheduler_runs_failed_total", {"job": name}) or 0
    try:
        run_due(rt, t0, jobs)
        row = _row(db, name)
        assert (row.status, row.attempts, row.next_attempt_at) == ("retry", 1, t0 + timedelta(minutes=10))
        assert run_due(rt, t0 + timedelta(seconds=599), jobs) == []
        assert run_due(rt, t0 + timedelta(seconds=600), jobs) == [name]
        row = _row(db, name)
        assert (row.status, row.attempts, row.next_attempt_at) == ("retry", 2, t0 + timedelta(seconds=600 + 3600))
        assert run_due(rt, t0 + timedelta(seconds=600 + 3599), jobs) == []
        with caplog.at_level(logging.ERROR, logger="bus.scheduler"):
            assert run_due(rt, t0 + timedelta(seconds=600 + 3600), jobs) == [name]
        assert run_due(rt, t0 + timedelta(days=0.9), jobs) == []  # failed for good: no fourth attempt
        row = _row(db, name)
        assert (row.status, row.attempts) == ("failed", 3) and "statement not published yet" in row.outcome
        assert len(attempts) == 3
        assert REGISTRY.get_sample_value("govlink_scheduler_runs_failed_total", {"job": name}) == failed_before + 1
        assert any(r.levelno == logging.ERROR and name in r.getMessage() and "FAILED" in r.getMessage()
                   for r in caplog.records)
        event = None
        deadline = timer.monotonic() + 10
        while event is None and timer.monotonic() < deadline:
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                timer.sleep(0.1)
            elif json.loads(body)["payload"]["job"] == name:
                event = json.loads(body)
        assert event and event["type"] == FAILED_EVENT
        assert event["payload"]["period"] == "2026-11-27" and event["payload"]["attempts"] == 3
    finally:
        conn.close()
        rt.close()


def test_a_dead_scheduler_on_the_last_attempt_is_signalled_too(settings, db, unique, caplog):
    name = f"last-{unique}"
    jobs = {name: Job(name, lambda rt, p: "never", daily_at=time(2, 0), retry_backoff=(60,))}
    with db.unit_of_work() as s:
        s.add(ScheduledRun(job=name, period="2026-11-27", status="running", attempts=2, claimed_by="dead-host:1",
                           lease_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
    rt = Runtime(settings)
    try:
        with caplog.at_level(logging.ERROR, logger="bus.scheduler"):
            assert run_due(rt, datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc), jobs) == []
        row = _row(db, name)
        assert row.status == "failed" and "lease expired" in row.outcome
        assert REGISTRY.get_sample_value("govlink_scheduler_runs_failed_total", {"job": name}) == 1
        assert any(r.levelno == logging.ERROR and name in r.getMessage() for r in caplog.records)
    finally:
        rt.close()


def test_days_missed_while_every_scheduler_was_down_are_caught_up(settings, db, unique):
    runs = []
    name = f"catch-up-{unique}"
    jobs = {name: Job(name, lambda rt, p: runs.append(p) or "ok", daily_at=time(2, 0), catch_up=3)}
    with db.unit_of_work() as s:  # the last run before the outage: six days ago
        s.add(ScheduledRun(job=name, period="2026-11-21", status="succeeded", attempts=1, claimed_by="old:1"))
    now = datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc)  # 03:00 on the 27th in Beijing
    rt = Runtime(settings)
    assert run_due(rt, now, jobs) == [name] * 4
    assert runs == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]  # oldest first, three days back at most
    assert run_due(rt, now, jobs) == []


def test_a_new_job_does_not_catch_up_days_before_it_existed(settings, db, unique):
    runs = []
    name = f"new-{unique}"
    jobs = {name: Job(name, lambda rt, p: runs.append(p) or "ok", daily_at=time(2, 0), catch_up=3)}
    assert run_due(Runtime(settings), datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc), jobs) == [name]
    assert runs == ["2026-11-27"]
