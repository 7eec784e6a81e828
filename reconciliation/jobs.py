"""Uploaded statement and bill files, and a day's reconciliation run as a background job (the
finance console's "upload & run", issue 20).

An upload is parsed before anything is kept (:func:`check_upload`): a malformed file, or a
statement of another day, is refused with a code and the parser's message naming the line, and
nothing is stored. A good file is kept unchanged with its SHA-256 (:func:`reconciliation.runs.import_file`).

A job (``reconciliation_jobs``) is queued, then run on this process's one reconciliation thread
(one at a time: a run is heavy), reporting its stage and progress; it ends ``done`` with the run
(:mod:`reconciliation.service`, the same code the CLI, the API and the scheduler call) or
``failed`` with a code and a message. While it waits or runs, this process holds its lease
(:mod:`reconciliation.job_leases`); if the process dies, the job is failed ``owner_lost``. The run reads the day's latest uploaded file of the
platform or carrier, else what the payment bridge imported (its daily statement, the bill lines).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from kernel.clock import utcnow
from kernel.errors import CodedError
from reconciliation import job_leases, runs
from reconciliation.service import (BILL_SOURCES, STATEMENT_SOURCES, ReconciliationInputError, payment_rules_for,
                                    reconcile_logistics_day, reconcile_payments_day)
from store.models.reconciliation import ReconciliationImport, ReconciliationJob

log = logging.getLogger(__name__)

# source of an uploaded file -> (kind, platform or carrier)
UPLOADS = {source: ("payments", platform) for platform, source in STATEMENT_SOURCES.items()}
UPLOADS.update({source: ("logistics", carrier) for carrier, source in BILL_SOURCES.items()})
STATES = ("queued", "running", "done", "failed")
STAGES = {"payments": ("statement", "match", "store"), "logistics": ("bill", "match", "store")}

_RUNNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation-job")


@dataclass(frozen=True)
class Upload:
    import_id: int
    source: str
    business_date: date
    line_count: int
    sha256: str


def check_upload(settings, source: str, raw: bytes, day: date) -> int:
    """The number of lines of a statement or bill file; :class:`ReconciliationInputError` if it is not one."""
    from logistics_bridge.bills import EMS_BILL, SF_BILL, parse_bill
    from logistics_bridge.errors import BillFormatError
    from payment_bridge.errors import PaymentError
    from payment_bridge.statements import parse_nontax_statement, parse_wechat_bill

    if source not in UPLOADS:
        raise ReconciliationInputError(f"unknown file type {source[:40]!r}", code="unknown_source")
    if not raw:
        raise ReconciliationInputError("the file is empty", code="file_missing")
    try:
        if source == "nontax_statement":
            _rules, profile = payment_rules_for(settings)
            statement = parse_nontax_statement(raw, profile=profile)
            if statement.statement_date != day:
                raise ReconciliationInputError(f"the statement is for {statement.statement_date}, not {day}",
                                               code="statement_date_mismatch")
            return len(statement.lines)
        if source == "wechat_bill":
            return len(parse_wechat_bill(raw).lines)
        return len(parse_bill(raw, SF_BILL if source == "sf_bill" else EMS_BILL))
    except PaymentError as exc:
        raise ReconciliationInputError(exc.message, code=exc.code) from None
    except BillFormatError as exc:
        raise ReconciliationInputError(exc.message, code="bill_invalid") from None


def upload(db, settings, *, source: str, day: date, filename: str, raw: bytes, by: str) -> Upload:
    """Check ``raw`` and keep it unchanged for ``day`` (the same file twice is the same import)."""
    lines = check_upload(settings, source, raw, day)
    with db.unit_of_work() as session:
        row = runs.import_file(session, source=source, business_date=day, filename=filename or source, raw=raw,
                               imported_by=by)
        return Upload(row.id, row.source, row.business_date, lines, row.sha256)


def recent_imports(session, limit: int = 20) -> list[dict]:
    rows = session.execute(select(ReconciliationImport.id, ReconciliationImport.source,
                                  ReconciliationImport.business_date, ReconciliationImport.filename,
                                  ReconciliationImport.size_bytes, ReconciliationImport.sha256,
                                  ReconciliationImport.imported_by, ReconciliationImport.imported_at)
                           .order_by(ReconciliationImport.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def _latest_upload(session, source: str, day: date) -> tuple[bytes, str] | None:
    row = session.scalars(select(ReconciliationImport).where(
        ReconciliationImport.source == source, ReconciliationImport.business_date == day)
        .order_by(ReconciliationImport.id.desc()).limit(1)).first()
    return (bytes(row.raw), row.filename) if row is not None else None


# ------------------------------------------------------------------------------------ jobs
def queue(db, *, kind: str, day: date, platform: str = "", carrier: str = "", by: str) -> int:
    """A new queued job (the caller then :func:`start`\\ s it); its id."""
    if kind not in STAGES:
        raise ReconciliationInputError(f"unknown kind {kind[:20]!r}", code="unknown_kind")
    if kind == "payments" and platform not in STATEMENT_SOURCES:
        raise ReconciliationInputError(f"unknown platform {platform[:20]!r}", code="unknown_platform")
    if kind == "logistics" and carrier and carrier not in BILL_SOURCES:
        raise ReconciliationInputError(f"unknown carrier {carrier[:20]!r}", code="unknown_carrier")
    with db.unit_of_work() as session:
        job = ReconciliationJob(kind=kind, business_date=day, platform=platform if kind == "payments" else "",
                                carrier=carrier if kind == "logistics" else "", state="queued", stage="", done=0,
                                total=len(STAGES[kind]), requested_by=by, created_at=utcnow(),
                                owner=job_leases.owner(), heartbeat_at=utcnow())
        session.add(job)
        session.flush()
        return job.id


def start(runtime, job_id: int):
    """Run the job on this process's reconciliation thread (a Future); this process holds its lease meanwhile."""
    job_leases.hold(runtime.db, runtime.settings, job_id)
    return _RUNNER.submit(run, runtime, job_id)


def get(session, job_id: int) -> dict | None:
    job = session.get(ReconciliationJob, job_id)
    return None if job is None else _view(job)


def recent(session, limit: int = 20) -> list[dict]:
    return [_view(j) for j in session.scalars(select(ReconciliationJob).order_by(ReconciliationJob.id.desc())
                                              .limit(limit))]


def _view(job: ReconciliationJob) -> dict:
    return {c.name: getattr(job, c.name) for c in ReconciliationJob.__table__.columns} | {
        "percent": 100 if job.state == "done" else round(100 * job.done / max(job.total, 1))}


def _update(db, job_id: int, **values) -> None:
    with db.unit_of_work() as session:
        job = session.get(ReconciliationJob, job_id)
        for name, value in values.items():
            setattr(job, name, value)


def run(runtime, job_id: int) -> None:
    """Run one queued job to ``done`` or ``failed`` (never raises: the outcome is on the job)."""
    try:
        _run(runtime, job_id)
    finally:
        job_leases.release(job_id)


def _run(runtime, job_id: int) -> None:
    db = runtime.db
    with db.unit_of_work() as session:
        job = session.get(ReconciliationJob, job_id)
        if job is None or job.state != "queued":
            return
        kind, day, platform, carrier, by = job.kind, job.business_date, job.platform, job.carrier, job.requested_by
        job.state, job.started_at = "running", utcnow()
        if kind == "payments":
            uploaded = _latest_upload(session, STATEMENT_SOURCES[platform], day)
        else:
            uploaded = _latest_upload(session, BILL_SOURCES[carrier], day) if carrier else None
    stages = STAGES[kind]

    def progress(stage: str, done: int, total: int) -> None:
        _update(db, job_id, stage=stage, done=stages.index(stage) + (1 if done >= total else 0))

    raw, filename = uploaded or (None, None)
    try:
        if kind == "payments":
            summary = reconcile_payments_day(runtime, day, started_by=by, statement=raw, filename=filename,
                                             platform=platform, workers=1, progress=progress)
        else:
            summary = reconcile_logistics_day(runtime, day, started_by=by, bill=raw, filename=filename,
                                              carrier=carrier, progress=progress)
    except CodedError as exc:
        log.info("reconciliation job %s failed: %s", job_id, exc.code)
        _update(db, job_id, state="failed", error_code=exc.code, error_message=exc.message[:2000],
                finished_at=utcnow())
        return
    except Exception:  # noqa: BLE001 - the job says it failed; the log has the trace
        log.exception("reconciliation job %s failed", job_id)
        _update(db, job_id, state="failed", error_code="internal_error",
                error_message="The run stopped on an unexpected error; the log has the details.", finished_at=utcnow())
        return
    _update(db, job_id, state="done", done=len(stages), run_id=summary.run_id, finished_at=utcnow())
