"""A scheduler killed in the middle of a job, and every scheduler down across two periods (R7, R10):
no period is skipped.

The schedulers are real processes (`tests/chaos/scheduler_proc.py`: `bus.scheduler.run_forever`
with test jobs) on the test database, SIGKILLed with `os.killpg`. A job appends `start` and `done`
lines to a file; effect = a `done` line for a (job, period).

- scheduler-kill: three jobs of one long period, each working 3 s, lease 2 s. Scheduler A is killed
  while the first job runs; schedulers B and C start. Once A's lease has expired one of them runs
  the first job again (attempt 2) and the other jobs run once each.
- scheduler-downtime: a job every 3 s that may catch up 10 periods. Scheduler A runs it, is killed,
  and nothing runs for 10.5 s (three periods or more); scheduler D comes back and runs every missed
  period, oldest first, then the current one.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

from bus.scheduler import Job
from store.db import Database
from store.models.scheduler import ScheduledRun

REPO = Path(__file__).resolve().parents[2]


def _start(settings, tmp_path: Path, name: str, jobs: list[dict], effects: Path, **env) -> subprocess.Popen:
    environment = dict(os.environ, GOVLINK_DATABASE_URL=settings.database_url, GOVLINK_AMQP_URL=settings.amqp_url,
                       GOVLINK_MESSAGE_LOG_SPOOL_DIR=str(tmp_path / "spool"), GOVLINK_LOG_JSON="false",
                       CHAOS_JOBS=json.dumps(jobs), CHAOS_EFFECTS=str(effects), **env)
    return subprocess.Popen([sys.executable, "-m", "tests.chaos.scheduler_proc"], env=environment, cwd=REPO,
                            stdout=open(tmp_path / f"{name}.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            _kill(proc)


def _lines(effects: Path, kind: str) -> list[tuple[str, str, str]]:
    if not effects.exists():
        return []
    return [tuple(line.split()[1:]) for line in effects.read_text().splitlines() if line.startswith(kind + " ")]


def _wait(what: str, seconds: float, check, logs: list[Path]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} within {seconds:.0f} s\n" + "\n".join(
            p.read_text()[-1500:] for p in logs if p.exists())
        time.sleep(0.1)


def test_a_scheduler_killed_mid_job_is_taken_over_after_its_lease(settings, tmp_path, unique, chaos_line):
    names = [f"chaos-kill-{unique}-{i}" for i in range(3)]
    jobs = [{"name": n, "every_seconds": 10 ** 8, "seconds": 3} for n in names]
    effects = tmp_path / "effects"
    logs = [tmp_path / f"{n}.log" for n in ("a", "b", "c")]
    procs = []
    try:
        a = _start(settings, tmp_path, "a", jobs, effects, GOVLINK_SCHEDULER_LEASE_SECONDS="2")
        procs.append(a)
        _wait("the first job did not start", 30, lambda: any(j == names[0] for j, *_ in _lines(effects, "start")), logs)
        time.sleep(1)  # well inside the job's 3 s
        _kill(a)
        killed_at = time.monotonic()
        assert not _lines(effects, "done"), "the job ended before the kill: the scenario tested nothing"
        for name in ("b", "c"):
            procs.append(_start(settings, tmp_path, name, jobs, effects, GOVLINK_SCHEDULER_LEASE_SECONDS="2"))
        _wait("not every job completed", 60, lambda: {j for j, *_ in _lines(effects, "done")} >= set(names), logs)
        taken_over_after = time.monotonic() - killed_at
        time.sleep(2)  # a doubled run would show up now
        done = Counter(j for j, *_ in _lines(effects, "done"))
        db = Database(settings.database_url)
        with db.unit_of_work() as s:
            rows = {r.job: r for r in s.execute(select(ScheduledRun).where(ScheduledRun.job.in_(names))).scalars()}
        db.dispose()
        completed = sum(1 for n in names if done[n] >= 1 and rows[n].status == "succeeded")
        chaos_line("scheduler-kill", jobs=len(names), completed=completed, skipped=len(names) - completed,
                   doubled=sum(c - 1 for c in done.values() if c > 1), killed_attempts=rows[names[0]].attempts,
                   taken_over_after_s=round(taken_over_after, 1), lease_s=2)
        assert completed == len(names) and all(done[n] == 1 for n in names), (done, rows)
        assert rows[names[0]].attempts == 2, "the killed run was not claimed again"
        assert str(a.pid) not in {pid for j, _, pid in _lines(effects, "done")}
    finally:
        for proc in procs:
            _stop(proc)


def test_periods_missed_while_every_scheduler_was_down_are_caught_up(settings, tmp_path, unique, chaos_line):
    period_seconds, down_seconds = 3, 10.5
    name = f"chaos-down-{unique}"
    job = Job(name, None, every_seconds=period_seconds)
    jobs = [{"name": name, "every_seconds": period_seconds, "catch_up": 10}]
    effects = tmp_path / "effects"
    logs = [tmp_path / "a.log", tmp_path / "d.log"]
    a = d = None
    try:
        a = _start(settings, tmp_path, "a", jobs, effects, GOVLINK_SCHEDULER_LEASE_SECONDS="2")
        db = Database(settings.database_url)

        def succeeded() -> int:
            with db.unit_of_work() as s:
                return len(s.execute(select(ScheduledRun.period).where(
                    ScheduledRun.job == name, ScheduledRun.status == "succeeded")).all())

        # Killed between runs: a kill between a job's effect and its `succeeded` would have it run
        # again after the lease (at least once: jobs are idempotent); that is the scheduler-kill case.
        _wait("the job did not run twice", 30, lambda: succeeded() >= 2, logs)
        _kill(a)
        db.dispose()
        down_at = datetime.now(timezone.utc)
        before = {p for _, p, _ in _lines(effects, "done")}
        time.sleep(down_seconds)
        up_at = datetime.now(timezone.utc)
        current = job.period(up_at)
        d = _start(settings, tmp_path, "d", jobs, effects, GOVLINK_SCHEDULER_LEASE_SECONDS="2")
        _wait("the scheduler did not come back", 30,
              lambda: current in {p for _, p, _ in _lines(effects, "done")}, logs)
        time.sleep(1)
        done = Counter(p for _, p, _ in _lines(effects, "done"))
        # Every period that began while no scheduler ran (and the one the kill interrupted, if it had not
        # run), but the one current at the return: that one would have run anyway.
        start = int(down_at.timestamp()) // period_seconds * period_seconds
        missed = [job.period(datetime.fromtimestamp(t, timezone.utc))
                  for t in range(start, int(up_at.timestamp()) + 1, period_seconds)]
        missed = [p for p in missed if p not in before and p != current]
        caught_up = sum(1 for p in missed if done[p] >= 1)
        order = [p for _, p, pid in _lines(effects, "done") if pid == str(d.pid)]
        chaos_line("scheduler-downtime", periods=len(missed), caught_up=caught_up,
                   doubled=sum(c - 1 for c in done.values() if c > 1), period_s=period_seconds,
                   down_s=round((up_at - down_at).total_seconds(), 1))
        assert len(missed) >= 2, "the schedulers were not down across two periods"
        assert caught_up == len(missed), (missed, done)
        assert order == sorted(order), "missed periods run oldest first"
        assert all(c == 1 for c in done.values()), done
        first = min(done)
        every = {job.period(datetime.fromtimestamp(t, timezone.utc)) for t in range(
            int(datetime.strptime(first, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()),
            int(datetime.strptime(current, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()) + 1,
            period_seconds)}
        assert every <= set(done), sorted(every - set(done))
    finally:
        for proc in (a, d):
            if proc is not None:
                _stop(proc)
