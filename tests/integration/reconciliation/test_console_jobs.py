"""A day's run started from the finance console is a background job on the real PostgreSQL: a
courier bill uploaded for the day is its courier side, the job reports its stages and ends done
with the run (an identical re-run: the same run), or failed with the reason."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from logistics_bridge.bills import write_sf_bill
from logistics_bridge.carriers.base import BillLine
from reconciliation import jobs, queries
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationJob,
                                         ReconciliationRun, ReconciliationStep)


@pytest.fixture()
def runtime_and_day(settings, recon_db, unique):
    from bootstrap.runtime import Runtime

    runtime = Runtime(settings)
    day = date(2004, 1, 1) + timedelta(days=int(unique[:6], 16) % 6000)
    yield runtime, day
    with recon_db.unit_of_work() as s:
        s.execute(delete(ReconciliationJob).where(ReconciliationJob.business_date == day))
        ids = select(ReconciliationRun.id).where(ReconciliationRun.business_date == day)
        disc = select(ReconciliationDiscrepancy.id).where(ReconciliationDiscrepancy.run_id.in_(ids))
        s.execute(delete(ReconciliationStep).where(ReconciliationStep.discrepancy_id.in_(disc)))
        s.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id.in_(ids)))
        s.execute(ReconciliationRun.__table__.update().where(ReconciliationRun.id.in_(ids)).values(supersedes_id=None))
        s.execute(delete(ReconciliationRun).where(ReconciliationRun.business_date == day))
        s.execute(delete(ReconciliationImport).where(ReconciliationImport.business_date == day))
    runtime.close()


def _job(runtime, job_id):
    jobs.start(runtime, job_id).result(timeout=120)
    with runtime.db.unit_of_work() as s:
        return jobs.get(s, job_id)


def test_an_uploaded_courier_bill_is_run_as_a_job(runtime_and_day, unique):
    runtime, day = runtime_and_day
    at = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    lines = [BillLine(f"SF{int(unique[:8], 16) % 10**10:010d}{i}", "sf", 1200 + i, 100, 500, at) for i in range(3)]
    kept = jobs.upload(runtime.db, runtime.settings, source="sf_bill", day=day, filename="sf.csv",
                       raw=write_sf_bill(lines), by="finance01")
    assert kept.line_count == 3

    job_id = jobs.queue(runtime.db, kind="logistics", day=day, carrier="sf", by="finance01")
    with runtime.db.unit_of_work() as s:
        assert jobs.get(s, job_id)["state"] == "queued"
    job = _job(runtime, job_id)
    assert (job["state"], job["stage"], job["done"], job["percent"]) == ("done", "store", 3, 100), job
    with runtime.db.unit_of_work() as s:
        run = queries.get_run(s, job["run_id"])
    assert (run["kind"], run["business_date"], run["discrepancy_count"]) == ("logistics", day, 3)  # billed, no leg

    again = _job(runtime, jobs.queue(runtime.db, kind="logistics", day=day, carrier="sf", by="finance02"))
    assert again["state"] == "done" and again["run_id"] == job["run_id"]  # identical inputs: the same run


def test_a_job_without_a_statement_fails_with_the_reason(runtime_and_day):
    runtime, day = runtime_and_day
    job = _job(runtime, jobs.queue(runtime.db, kind="payments", day=day, platform="wechatpay", by="finance01"))
    assert (job["state"], job["error_code"]) == ("failed", "statement_missing") and job["run_id"] is None
    with pytest.raises(jobs.ReconciliationInputError):
        jobs.queue(runtime.db, kind="payments", day=day, platform="alipay", by="finance01")
