"""The decisions about a finance-console job whose owner stopped (gap 1): pure functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operations.alerts import reconciliation_job_alerts
from reconciliation.job_leases import abandoned, owner_lost_message

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def _job(**kw):
    return {"id": 7, "kind": "payments", "business_date": datetime(2026, 12, 6).date(), "state": "running",
            "owner": "gw:1:x", "heartbeat_at": NOW - timedelta(minutes=5), "started_at": NOW - timedelta(minutes=6),
            "created_at": NOW - timedelta(minutes=6), "finished_at": None, "error_code": None,
            "error_message": None, "requested_by": "finance01"} | kw


def test_a_job_is_abandoned_when_its_lease_ran_out_and_it_has_not_ended():
    assert abandoned(_job(), NOW, LEASE)
    assert abandoned(_job(state="queued"), NOW, LEASE)
    assert not abandoned(_job(heartbeat_at=NOW - timedelta(seconds=30)), NOW, LEASE)
    assert not abandoned(_job(state="done"), NOW, LEASE) and not abandoned(_job(state="failed"), NOW, LEASE)
    # a row from before leases existed: its start (or creation) is the last sign of life
    assert abandoned(_job(heartbeat_at=None, owner=None), NOW, LEASE)
    assert not abandoned(_job(heartbeat_at=None, owner=None, started_at=None, created_at=NOW), NOW, LEASE)


def test_the_reason_says_what_happened_and_what_to_do():
    text = owner_lost_message(_job(), NOW)
    assert "stopped" in text and "re-run" in text and "2026-12-06" in text


def test_alerts_name_reclaimed_and_still_stale_jobs_and_nothing_else():
    reclaimed = _job(id=1, state="failed", error_code="owner_lost", error_message="m", finished_at=NOW - timedelta(hours=1))
    stale = _job(id=2)
    old = _job(id=3, state="failed", error_code="owner_lost", finished_at=NOW - timedelta(days=3))
    other = _job(id=4, state="failed", error_code="statement_missing", finished_at=NOW)
    fine = _job(id=5, heartbeat_at=NOW)
    found = reconciliation_job_alerts([reclaimed, stale, old, other, fine], NOW, LEASE)
    assert [(a["kind"], a["subject"], a["severity"]) for a in found] == [
        ("reconciliation_job_abandoned", "job 1", "critical"), ("reconciliation_job_abandoned", "job 2", "critical")]
    assert all(a["code"] in ("job_owner_lost", "job_lease_expired") for a in found)


def test_the_scheduler_sweeps_every_minute():
    from bootstrap.table import process_table

    job = process_table().jobs["reconciliation.reclaim"]
    assert job.every_seconds == 60
