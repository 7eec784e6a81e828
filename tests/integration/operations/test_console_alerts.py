"""The consoles on a real Keycloak sign-in (Flask test client as the gateway, PostgreSQL, RabbitMQ):

- gap 1: a finance-console reconciliation job whose process died (failed `owner_lost` by the sweep) is
  an operations alert (API and page) and is shown on the finance console's reconcile page and job page;
- gap 2: the operations console's alert messages are in Chinese by default and in English on request,
  while the API keeps its machine-readable kind and code (and its English message)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete

from kernel.clock import utcnow
from reconciliation import job_leases, jobs
from simulators.channels.signin import Browserless
from store.models.reconciliation import ReconciliationJob
from store.models.scheduler import ScheduledRun
from tests.support.console_signin import BASE, console_sign_in
from tests.support.keycloak_users import sign_in

pytestmark = pytest.mark.integration
DEMO_PASSWORD = "Hefei-Demo-2026"
API = "/api/v1/operations"


@pytest.fixture()
def lost_job(app, db, unique):
    """A job left running by a gateway process that died ten minutes ago, failed by the sweep."""
    day = date(1980, 1, 1) + timedelta(days=int(unique[:6], 16) % 3000)
    runtime = app.extensions["govlink"]
    job_id = jobs.queue(runtime.db, kind="payments", day=day, platform="nontax", by="finance01")
    with runtime.db.unit_of_work() as s:
        row = s.get(ReconciliationJob, job_id)
        row.state, row.owner, row.heartbeat_at = "running", "gw-gone:99:dead", utcnow() - timedelta(minutes=10)
    job_leases.reclaim(runtime.db, now=utcnow(), lease=job_leases.lease_of(runtime.settings))
    yield job_id, day
    with runtime.db.unit_of_work() as s:
        s.execute(delete(ReconciliationJob).where(ReconciliationJob.business_date == day))


def test_an_abandoned_reconciliation_job_is_an_alert_and_shown_on_the_finance_console(app, settings, lost_job):
    job_id, day = lost_job
    client = app.test_client()
    token = sign_in(settings, "operator01", DEMO_PASSWORD)
    found = client.get(f"{API}/alerts", headers={"Authorization": f"Bearer {token}"}).get_json()["alerts"]
    mine = [a for a in found if a["subject"] == f"job {job_id}"]
    assert mine and mine[0]["kind"] == "reconciliation_job_abandoned" and mine[0]["code"] == "job_owner_lost", found
    assert mine[0]["severity"] == "critical" and mine[0]["params"]["day"] == day.isoformat()

    finance = app.test_client()
    console_sign_in(finance, Browserless(settings.issuer), "finance01", "/console/finance/reconcile")
    page = finance.get("/console/finance/reconcile?lang=zh", base_url=BASE).get_data(as_text=True)
    assert 'id="abandoned-jobs"' in page and f'data-job-id="{job_id}"' in page.split('id="abandoned-jobs"')[1]
    assert "运行该作业的网关进程已停止" in page
    job_page = finance.get(f"/console/finance/jobs/{job_id}?lang=en", base_url=BASE).get_data(as_text=True)
    assert 'data-code="owner_lost"' in job_page and "stopped before it finished" in job_page
    assert 'http-equiv="refresh"' not in job_page and 'id="rerun-form"' in job_page


def test_the_alerts_page_speaks_chinese_by_default_and_english_on_request(app, settings, db, lost_job):
    job_id, _day = lost_job
    period = "2099-01-02"
    now = datetime.now(timezone.utc)
    with db.unit_of_work() as s:
        s.execute(delete(ScheduledRun).where(ScheduledRun.job == "reconcile.daily", ScheduledRun.period == period))
        s.add(ScheduledRun(job="reconcile.daily", period=period, status="failed", attempts=6, claimed_by="test",
                           started_at=now, finished_at=now, outcome="RuntimeError: statement missing"))
    try:
        operator = app.test_client()
        console_sign_in(operator, Browserless(settings.issuer), "operator01", "/console/operations/alerts")
        zh = operator.get("/console/operations/alerts", base_url=BASE).get_data(as_text=True)  # Chinese by default
        assert f"对账作业 {job_id}" in zh and "进程已停止" in zh, zh[-3000:]
        assert "reconcile.daily（2099-01-02）经 6 次尝试后失败" in zh
        assert "its process stopped" not in zh and "failed after 6 attempt(s)" not in zh
        en = operator.get("/console/operations/alerts?lang=en", base_url=BASE).get_data(as_text=True)
        assert f"reconciliation job {job_id}" in en and "failed after 6 attempt(s)" in en
        assert "进程已停止" not in en
        # The API is unchanged by the language: kind and code are the machine's, the message stays English.
        token = sign_in(settings, "operator01", DEMO_PASSWORD)
        api = operator.get(f"{API}/alerts", headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh"})
        failed = [a for a in api.get_json()["alerts"] if a["kind"] == "job_failed" and a["subject"] == "reconcile.daily"]
        assert failed and failed[0]["code"] == "job_failed" and "failed after 6 attempt(s)" in failed[0]["message"]
    finally:
        with db.unit_of_work() as s:
            s.execute(delete(ScheduledRun).where(ScheduledRun.job == "reconcile.daily", ScheduledRun.period == period))
