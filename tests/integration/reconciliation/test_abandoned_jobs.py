"""A finance-console job whose gateway process died is not left `queued` or `running` for ever (gap 1):
a real process holds a job's lease by its heartbeat; once it is killed (SIGKILL: no clean-up) and the
lease runs out, the sweep (the scheduler's `reconciliation.reclaim`) fails the job with `owner_lost`,
counts it, logs it at ERROR with identifiers masked, and the operations board alerts on it. A job
whose owner still beats is left alone."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete

from kernel.clock import utcnow
from kernel.identifiers import make_resident_id
from reconciliation import job_leases, jobs
from store.models.reconciliation import ReconciliationJob

HOLDER = """
import sys, time
from bootstrap.runtime import Runtime
from config.settings import Settings
from reconciliation import job_leases, jobs
from datetime import date
runtime = Runtime(Settings.from_env())
job_id = jobs.queue(runtime.db, kind="payments", day=date.fromisoformat(sys.argv[1]), platform="nontax", by=sys.argv[2])
job_leases.hold(runtime.db, runtime.settings, job_id)   # what jobs.start does before the run thread takes it
print(job_id, flush=True)
time.sleep(600)
"""


@pytest.fixture()
def day(recon_db, unique):
    day = date(1990, 1, 1) + timedelta(days=int(unique[:6], 16) % 3000)
    yield day
    with recon_db.unit_of_work() as s:
        s.execute(delete(ReconciliationJob).where(ReconciliationJob.business_date == day))


def _abandoned(kind: str) -> float:
    return REGISTRY.get_sample_value("govlink_reconciliation_jobs_abandoned_total", {"kind": kind}) or 0.0


def _state(db, job_id):
    with db.unit_of_work() as s:
        return jobs.get(s, job_id)


def test_a_job_of_a_killed_process_is_failed_counted_logged_and_alerted(settings, recon_db, day, caplog, tmp_path):
    requester = make_resident_id()  # a requester that looks like an ID number must not reach the log unmasked
    env = dict(os.environ, GOVLINK_DATABASE_URL=settings.database_url, GOVLINK_RECONCILIATION_JOB_LEASE_SECONDS="2")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, day.isoformat(), requester], env=env,
                              stdout=subprocess.PIPE, stderr=open(tmp_path / "holder.log", "wb"), text=True,
                              start_new_session=True)
    try:
        line = holder.stdout.readline()
        assert line.strip().isdigit(), (tmp_path / "holder.log").read_text()[-2000:]
        job_id = int(line)
        lease = timedelta(seconds=2)
        time.sleep(3)  # longer than the lease: only the heartbeat keeps it
        assert job_leases.reclaim(recon_db, now=utcnow(), lease=lease) == []
        job = _state(recon_db, job_id)
        assert job["state"] == "queued" and job["owner"] and job["heartbeat_at"] > utcnow() - lease
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(10)
    before = _abandoned("payments")
    time.sleep(3)
    with caplog.at_level(logging.ERROR, logger="reconciliation.job_leases"):
        reclaimed = job_leases.reclaim(recon_db, now=utcnow(), lease=lease)
    assert [j["id"] for j in reclaimed] == [job_id]
    job = _state(recon_db, job_id)
    assert (job["state"], job["error_code"]) == ("failed", "owner_lost"), job
    assert "stopped" in job["error_message"] and job["finished_at"] is not None
    assert _abandoned("payments") == before + 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and str(job_id) in r.getMessage()]
    assert errors, caplog.text
    assert requester not in caplog.text
    assert job_leases.reclaim(recon_db, now=utcnow(), lease=lease) == []  # once

    from operations import alerts

    with recon_db.unit_of_work() as s:
        recent = jobs.recent(s, limit=200)
    found = [a for a in alerts.reconciliation_job_alerts(recent, utcnow(), lease) if a["subject"] == f"job {job_id}"]
    assert found and found[0]["kind"] == "reconciliation_job_abandoned" and found[0]["severity"] == "critical"
    assert requester not in found[0]["message"]


def test_a_running_job_whose_owner_still_beats_is_left_alone(settings, recon_db, day):
    job_id = jobs.queue(recon_db, kind="logistics", day=day, carrier="sf", by="finance01")
    with recon_db.unit_of_work() as s:
        row = s.get(ReconciliationJob, job_id)
        row.state, row.started_at, row.owner = "running", utcnow() - timedelta(hours=1), "another-gateway:7:beats"
        row.heartbeat_at = utcnow()
    stale_id = jobs.queue(recon_db, kind="logistics", day=day, carrier="ems", by="finance01")
    with recon_db.unit_of_work() as s:
        row = s.get(ReconciliationJob, stale_id)
        row.state, row.owner, row.heartbeat_at = "running", "gone-gateway:8:dead", utcnow() - timedelta(minutes=10)
    reclaimed = job_leases.reclaim(recon_db, now=utcnow(), lease=timedelta(minutes=2))
    assert stale_id in [j["id"] for j in reclaimed] and job_id not in [j["id"] for j in reclaimed]
    assert _state(recon_db, job_id)["state"] == "running"
    assert _state(recon_db, stale_id)["state"] == "failed"
