"""Leases of the finance console's reconciliation jobs (gap 1): a job whose process died is never
left ``queued`` or ``running`` for ever.

A job runs on the gateway process that queued it (:mod:`reconciliation.jobs`, one thread per
process). That process *holds* the job from :func:`hold` (when it is started) to :func:`release`
(when it ends): it names itself in ``owner`` (host:pid:token) and a daemon thread renews
``heartbeat_at`` every quarter of ``reconciliation_job_lease_seconds`` while the job waits or runs.
A job whose last sign of life (heartbeat, else start, else creation) is older than the lease has
lost its owner: the scheduler's ``reconciliation.reclaim`` job (every minute, :func:`reclaim`) fails
it with ``owner_lost`` and a message saying what happened and what to do, counts it in
``govlink_reconciliation_jobs_abandoned_total{kind}`` and logs it at ERROR (identifiers masked); the
operations console alerts on it and the finance console shows it (``operations.alerts``,
``routes/finance_jobs.py``).

Failed, not re-run: the process that died may have been taken down by this very job (a huge file, a
memory limit), so running it again on its own could take the next process down in a loop, and the
person who asked should learn that it stopped. A re-run is one click on the job's page and is safe:
the same inputs give the same run (:mod:`reconciliation.service`), a changed input a new version.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import or_, select, update

from config.logging import mask_identifiers
from kernel.clock import to_beijing, utcnow
from store.models.reconciliation import ReconciliationJob

log = logging.getLogger(__name__)

OWNER_LOST = "owner_lost"
OPEN_STATES = ("queued", "running")
ALERT_WITHIN = timedelta(days=1)  # a reclaimed job stays an alert this long
ABANDONED = Counter("govlink_reconciliation_jobs_abandoned_total",
                    "Reconciliation jobs failed owner_lost: the process holding them stopped renewing their lease",
                    ["kind"])
_TOKEN = uuid.uuid4().hex[:8]


def owner() -> str:
    """This process as a job's owner: host, pid (a forked gunicorn worker is another owner) and a token."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{_TOKEN}"


def lease_of(settings) -> timedelta:
    return timedelta(seconds=settings.reconciliation_job_lease_seconds)


# ------------------------------------------------------------------------------- decisions (pure)
def last_sign_of_life(job: dict) -> datetime | None:
    """(pure) The job's last heartbeat, else its start, else its creation."""
    return job.get("heartbeat_at") or job.get("started_at") or job.get("created_at")


def abandoned(job: dict, now: datetime, lease: timedelta) -> bool:
    """(pure) Queued or running, and not heard of for longer than `lease`."""
    seen = last_sign_of_life(job)
    return job["state"] in OPEN_STATES and (seen is None or now - seen > lease)


def owner_lost_message(job: dict, now: datetime) -> str:
    """(pure) Why the job failed and what to do about it."""
    seen = last_sign_of_life(job)
    since = f"{to_beijing(seen):%Y-%m-%d %H:%M:%S} Beijing time" if seen else "ever"
    return (f"The process running this {job['kind']} reconciliation of {job['business_date']} stopped "
            f"(no heartbeat since {since}); the job was {job['state']} and did not finish. "
            f"Start it again with re-run (the same inputs give the same run).")


def needing_attention(jobs: list[dict], now: datetime, lease: timedelta) -> list[dict]:
    """(pure) Jobs failed owner_lost within `ALERT_WITHIN`, and open jobs whose lease ran out (not reclaimed yet)."""
    return [j for j in jobs if abandoned(j, now, lease) or (
        j["state"] == "failed" and j.get("error_code") == OWNER_LOST and j.get("finished_at")
        and now - j["finished_at"] <= ALERT_WITHIN)]


def attention_rows(session, now: datetime) -> list[dict]:
    """The rows :func:`needing_attention` chooses from: open jobs and those failed owner_lost within a day."""
    rows = session.scalars(select(ReconciliationJob).where(or_(
        ReconciliationJob.state.in_(OPEN_STATES),
        (ReconciliationJob.error_code == OWNER_LOST) & (ReconciliationJob.finished_at >= now - ALERT_WITHIN)))
        .order_by(ReconciliationJob.id.desc()).limit(200))
    return [_view(job) for job in rows]


# ------------------------------------------------------------------------------- the heartbeat
class _Heartbeat:
    """The jobs this process holds, and one daemon thread renewing their leases."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[int, object] = {}  # job id -> its database
        self._every = None
        self._thread = None
        self._pid = None

    def hold(self, db, settings, job_id: int) -> None:
        every = max(settings.reconciliation_job_lease_seconds / 4, 0.2)
        with self._lock:
            self._held[job_id] = db
            self._every = min(self._every or every, every)
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="reconciliation-job-heartbeat", daemon=True)
                self._thread.start()
        _renew(db, [job_id], claim=True)

    def release(self, job_id: int) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def _loop(self) -> None:
        while True:
            threading.Event().wait(self._every)
            with self._lock:
                by_db: dict[int, tuple] = {}
                for job_id, db in self._held.items():
                    by_db.setdefault(id(db), (db, []))[1].append(job_id)
            for db, ids in by_db.values():
                try:
                    _renew(db, ids)
                except Exception as exc:  # noqa: BLE001 - the database is away: the next beat tries again
                    log.warning("reconciliation jobs' heartbeat not written (%s)", type(exc).__name__)


def _renew(db, ids: list[int], *, claim: bool = False) -> None:
    me = owner()
    query = update(ReconciliationJob).where(ReconciliationJob.id.in_(ids), ReconciliationJob.state.in_(OPEN_STATES))
    if not claim:
        query = query.where(ReconciliationJob.owner == me)
    with db.unit_of_work() as session:
        session.execute(query.values(owner=me, heartbeat_at=utcnow()))


_HEARTBEAT = _Heartbeat()


def hold(db, settings, job_id: int) -> None:
    """This process holds the job: it owns it and renews its lease until :func:`release`."""
    _HEARTBEAT.hold(db, settings, job_id)


def release(job_id: int) -> None:
    _HEARTBEAT.release(job_id)


# ------------------------------------------------------------------------------- the sweep
def _view(job: ReconciliationJob) -> dict:
    return {c.name: getattr(job, c.name) for c in ReconciliationJob.__table__.columns}


def reclaim(db, *, now: datetime, lease: timedelta) -> list[dict]:
    """Fail every open job whose lease ran out (owner_lost); count and log each at ERROR. The jobs failed."""
    found = []
    with db.unit_of_work() as session:
        rows = session.scalars(select(ReconciliationJob).where(ReconciliationJob.state.in_(OPEN_STATES))
                               .order_by(ReconciliationJob.id).with_for_update(skip_locked=True)).all()
        for job in rows:
            view = _view(job)
            if not abandoned(view, now, lease):
                continue
            job.state, job.error_code, job.finished_at = "failed", OWNER_LOST, now
            job.error_message = owner_lost_message(view, now)
            found.append(_view(job) | {"was": view["state"], "last_seen": last_sign_of_life(view)})
    for job in found:  # after the commit: only what was really failed is counted and logged
        ABANDONED.labels(job["kind"]).inc()
        log.error("reconciliation job %s (%s %s, requested by %s) was %s on %s, which stopped renewing its lease "
                  "(last seen %s, lease %.0f s): failed %s", job["id"], job["kind"], job["business_date"],
                  mask_identifiers(job["requested_by"] or ""), job["was"], job["owner"] or "an unknown process",
                  job["last_seen"].isoformat() if job["last_seen"] else "never", lease.total_seconds(), OWNER_LOST)
    return found


def scheduled(runtime, period: str) -> str:
    """The scheduler's `reconciliation.reclaim` (every minute): a one-line outcome."""
    failed = reclaim(runtime.db, now=utcnow(), lease=lease_of(runtime.settings))
    return f"{len(failed)} abandoned job(s) failed {OWNER_LOST}" + (
        f": {', '.join(str(j['id']) for j in failed)}" if failed else "")
