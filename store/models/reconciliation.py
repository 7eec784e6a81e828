"""Tables of reconciliation (R7): imported files, versioned runs, discrepancies, resolution steps.

Nothing here is deleted: a re-run supersedes the day's current run (a new version), a resolution
is a chain of steps with who and when, an unmatch is a reversal step.
"""
from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class ReconciliationImport(Base):
    """A statement or bill file exactly as received, with its SHA-256 (imported once per kind)."""

    __tablename__ = "reconciliation_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # nontax_statement | wechat_bill | sf_bill | ems_bill
    business_date: Mapped[date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    imported_by: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("source", "sha256", name="uq_reconciliation_imports_source_sha256"),)


class ReconciliationRun(Base):
    """One version of a day's reconciliation of one kind; the newest is ``current``."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # payments | logistics
    business_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # current | superseded
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    input_hash: Mapped[str] = mapped_column(String(64))  # over the imported files' SHA-256s
    content_hash: Mapped[str] = mapped_column(String(64))  # RunResult.content_hash
    import_ids: Mapped[list] = mapped_column(JSON)
    matched_count: Mapped[int] = mapped_column(BigInteger)
    matched_amount_fen: Mapped[int] = mapped_column(BigInteger)
    discrepancy_count: Mapped[int] = mapped_column(Integer)
    unmatched_amount_fen: Mapped[int] = mapped_column(BigInteger)
    counts: Mapped[dict] = mapped_column(JSON)
    cleared_count: Mapped[int] = mapped_column(Integer)
    started_by: Mapped[str] = mapped_column(String(200))  # scheduler | a finance user
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("kind", "business_date", "version", name="uq_reconciliation_runs_kind_date_version"),
        Index("ix_reconciliation_runs_business_date", "business_date"),
    )


class ReconciliationDiscrepancy(Base):
    """One finding of a run, with both sides' records as JSON."""

    __tablename__ = "reconciliation_discrepancies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    seq: Mapped[int] = mapped_column(Integer)  # position in the run's sorted result
    category: Mapped[str] = mapped_column(String(24))
    subtype: Mapped[str] = mapped_column(String(48))
    key: Mapped[str] = mapped_column(String(64))  # payment code or waybill number
    rule: Mapped[str] = mapped_column(String(48))
    left_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    right_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    left_records: Mapped[list] = mapped_column(JSON)  # our side
    right_records: Mapped[list] = mapped_column(JSON)  # the statement's / bill's side
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of both sides: finds a carried item
    status: Mapped[str] = mapped_column(String(16))  # open | confirmed | resolved | approved | carried | cleared
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "seq", name="uq_reconciliation_discrepancies_run_id_seq"),
        Index("ix_reconciliation_discrepancies_run_category", "run_id", "category"),
        Index("ix_reconciliation_discrepancies_status", "status"),
        Index("ix_reconciliation_discrepancies_run_status_seq", "run_id", "status", "seq"),  # a run's open ones, paged
        Index("ix_reconciliation_discrepancies_fingerprint", "fingerprint"),
    )


class ReconciliationStep(Base):
    """One step of a discrepancy's resolution: who, when, what, why."""

    __tablename__ = "reconciliation_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    discrepancy_id: Mapped[int] = mapped_column(
        ForeignKey("reconciliation_discrepancies.id", name="fk_reconciliation_steps_discrepancy_id"))  # 63-char limit
    action: Mapped[str] = mapped_column(String(16))  # confirm | resolve | approve | reject | carry | clear
    actor: Mapped[str] = mapped_column(String(200))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_reconciliation_steps_discrepancy_id", "discrepancy_id"),)


class ReconciliationJob(Base):
    """A day's reconciliation started from the finance console, run in the background.

    queued -> running -> done (with the run) | failed (with a code and a message); ``stage`` and
    ``done``/``total`` are its progress. A re-run is a new job with the same parameters. A job whose
    owner stopped beating (``heartbeat_at`` older than the lease) is failed ``owner_lost``.
    """

    __tablename__ = "reconciliation_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # payments | logistics
    business_date: Mapped[date] = mapped_column(Date)
    platform: Mapped[str] = mapped_column(String(16), default="")  # payments: nontax | wechatpay
    carrier: Mapped[str] = mapped_column(String(16), default="")  # logistics: sf | ems | "" (every carrier)
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    stage: Mapped[str] = mapped_column(String(16), default="")  # statement | bill | match | store
    done: Mapped[int] = mapped_column(Integer, default=0)  # steps finished of `total`
    total: Mapped[int] = mapped_column(Integer, default=3)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    error_code: Mapped[str | None] = mapped_column(String(48))
    error_message: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The lease (reconciliation/job_leases.py): the process holding a queued or running job, its last heartbeat.
    owner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_reconciliation_jobs_created_at", "created_at"), Index("ix_reconciliation_jobs_state", "state"))
