"""The logistics worker's and the scheduler's own /healthz and /metrics (gap 3; kernel/process_endpoint.py),
scraped from the real processes as tests/integration/bus/test_worker_signals.py does for the connector worker:

- `govlink worker logistics` on GOVLINK_METRICS_PORT_WORKER_LOGISTICS: healthy while it consumes
  `evt.logistics`; a `payment.paid` event published on govlink.events moves its consumer counter;
- `govlink scheduler` on GOVLINK_METRICS_PORT_SCHEDULER, on a database of its own: healthy while it
  ticks; its runs are counted per job and outcome, and its `reconciliation.reclaim` fails a finance
  job whose process died (govlink_reconciliation_jobs_abandoned_total).
Both answer 401 without the scrape token, and their endpoint goes with the process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, make_url, text

from bus.envelope import encode, new_envelope
from bus.topology import EVENTS
from kernel.clock import utcnow
from store.models.reconciliation import ReconciliationJob
from tests.integration.bus.test_worker_signals import Scrape, _free_port, _until
from tests.support.queues import queue_depth
from tests.support.scratch_db import drop_scratch_database

pytestmark = pytest.mark.integration
GOVLINK = str(Path(sys.executable).with_name("govlink"))


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([GOVLINK, *args], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).json() == {"status": "ok"}
    except (requests.ConnectionError, ValueError):
        return False


def _settled(read, seconds: float = 2.0) -> float:
    """A counter's value once it stopped moving for `seconds` (at most 30 s of trying)."""
    deadline, value = time.monotonic() + 30, read()
    while time.monotonic() < deadline:
        time.sleep(seconds)
        again = read()
        if again == value:
            return value
        value = again
    return value


def _env(settings, **more) -> dict:
    env = dict(os.environ, GOVLINK_DATABASE_URL=settings.database_url, GOVLINK_AMQP_URL=settings.amqp_url,
               GOVLINK_LOG_JSON="false")
    env.update({k: str(v) for k, v in more.items()})
    return env


def test_the_logistics_workers_metrics_show_its_queue_and_the_events_it_handled(settings, tmp_path):
    from bootstrap.runtime import Runtime

    port = _free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "logistics.log"
    worker = _start(["worker", "logistics"], _env(settings, GOVLINK_METRICS_PORT_WORKER_LOGISTICS=port), log)
    scrape = Scrape(url, settings.metrics_token)
    runtime = Runtime(settings)
    try:
        assert _until(lambda: _healthy(url)), log.read_text(errors="replace")[-3000:]
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401  # the scrape token is needed
        assert _until(lambda: scrape.sample("govlink_consumer_connected", queue="evt.logistics") == 1.0, 20)
        # Events earlier tests left on the shared queue are handled first: count from when it is drained.
        handled = lambda: scrape.sample("govlink_consumer_messages_total", queue="evt.logistics", outcome="handled") or 0.0  # noqa: E731
        assert _until(lambda: queue_depth(settings, "evt.logistics") == 0, 60)
        before = _settled(handled)
        # A payment.paid of a notice that is no leg's postage: the worker reads it, books nothing, settles it.
        envelope = new_envelope("payment.paid", {"notice_id": f"not-postage-{uuid.uuid4().hex[:8]}"}, client="govlink/payment-bridge")
        runtime.publisher.publish(EVENTS, "payment.paid", encode(envelope), message_id=envelope["message_id"],
                                  type="payment.paid").result(timeout=10)
        assert _until(lambda: (scrape.sample("govlink_consumer_messages_total", queue="evt.logistics",
                                             outcome="handled") or 0.0) == before + 1, 20), \
            log.read_text(errors="replace")[-3000:]
        # Only its own queue: this process consumes no department queue.
        assert scrape.sample("govlink_consumer_connected", queue="svc.population-registry") is None
    finally:
        _stop(worker)
        runtime.close()
    assert _until(lambda: not _healthy(url), 5)  # the endpoint went with the process


@pytest.fixture()
def own_database(settings):
    """A database of the scheduler's own, migrated: its jobs run against nothing else's rows."""
    from store import migrate
    from store.db import Database

    url = make_url(settings.database_url)
    name = f"govlink_sched_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = url.set(database=name).render_as_string(hide_password=False)
    database = Database(database_url)
    migrate.upgrade(database)
    yield database, database_url
    database.dispose()
    drop_scratch_database(admin, name)
    admin.dispose()


def test_the_schedulers_metrics_count_its_runs_and_the_jobs_it_reclaimed(settings, own_database, tmp_path):
    database, database_url = own_database
    with database.unit_of_work() as s:  # a finance job left running by a gateway process that died
        s.add(ReconciliationJob(kind="payments", business_date=date(2026, 12, 1), platform="nontax", carrier="",
                                state="running", stage="match", done=1, total=3, requested_by="finance01",
                                created_at=utcnow() - timedelta(minutes=10), owner="gw-gone:1:dead",
                                heartbeat_at=utcnow() - timedelta(minutes=10)))
    port = _free_port()
    url, log = f"http://127.0.0.1:{port}", tmp_path / "scheduler.log"
    env = _env(settings, GOVLINK_METRICS_PORT_SCHEDULER=port, GOVLINK_DATABASE_URL=database_url,
               GOVLINK_SIMULATORS_URL="http://127.0.0.1:9")  # no department answers: polls find nothing to ask
    scheduler = _start(["scheduler"], env, log)
    scrape = Scrape(url, settings.metrics_token)
    try:
        assert _until(lambda: _healthy(url)), log.read_text(errors="replace")[-3000:]
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401
        assert _until(lambda: scrape.sample("govlink_scheduler_runs_total", job="reconciliation.reclaim",
                                            outcome="succeeded"), 30), log.read_text(errors="replace")[-3000:]
        assert scrape.sample("govlink_reconciliation_jobs_abandoned_total", kind="payments") == 1.0
        assert _until(lambda: scrape.sample("govlink_scheduler_runs_total", job="supervision.check",
                                            outcome="succeeded"), 30)
        assert scrape.sample("govlink_scheduler_runs_failed_total", job="supervision.check") is None
        with database.unit_of_work() as s:
            job = s.query(ReconciliationJob).one()
            assert (job.state, job.error_code) == ("failed", "owner_lost")
        assert scrape.sample("govlink_consumer_connected", queue="evt.logistics") is None  # not a worker
    finally:
        _stop(scheduler)
    assert _until(lambda: not _healthy(url), 5)
