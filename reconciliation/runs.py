"""Runs, discrepancies and their resolution in the database (the I/O edge of reconciliation).

- :func:`import_file` keeps a statement or bill exactly as received, with its SHA-256;
- :func:`store_run` writes a :class:`~reconciliation.categories.RunResult` as the day's new
  current version (an identical re-run returns the current one; a different one supersedes it),
  bulk-inserting the discrepancies (COPY on PostgreSQL), carrying TIMING items and clearing
  yesterday's carried items that found their partner;
- :func:`confirm`, :func:`resolve`, :func:`approve`, :func:`reject` move a discrepancy along,
  each step kept with who and when; the resolver cannot approve their own resolution.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from kernel.errors import CodedError
from reconciliation.categories import TIMING, Discrepancy, RunResult
from reconciliation.records import record_from_json, record_to_json
from kernel.clock import utcnow
from store.models.reconciliation import (ReconciliationDiscrepancy, ReconciliationImport, ReconciliationRun,
                                         ReconciliationStep)

OPEN, CONFIRMED, RESOLVED, APPROVED, CARRIED, CLEARED = "open", "confirmed", "resolved", "approved", "carried", "cleared"
REASON_CODES = frozenset({
    "platform_late", "ledger_corrected", "refund_issued", "duplicate_refunded", "fee_booked",
    "bank_error", "courier_credit_note", "courier_charge_accepted", "matched_manually", "written_off",
})
SYSTEM = "system"


# The HTTP status of a refused step, by code (anything else: 409, the discrepancy's state forbids it).
RESOLUTION_STATUS = {"not_found": 404, "four_eyes": 403}


class ResolutionError(CodedError, ValueError):
    """A resolution step that is not allowed; ``code`` says why (status 404, 403 or 409)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code, status=RESOLUTION_STATUS.get(code, 409))

    def __str__(self) -> str:
        return self.message


def fingerprint(left: Sequence, right: Sequence) -> str:
    """SHA-256 of a discrepancy's records, to find a carried item again the next day."""
    return _fingerprint([record_to_json(r) for r in left], [record_to_json(r) for r in right])


def _fingerprint(left: list, right: list) -> str:
    """:func:`fingerprint` of the records as JSON objects (:func:`record_to_json`)."""
    data = {"left": left, "right": right}
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode()).hexdigest()


def import_file(session: Session, *, source: str, business_date: date, filename: str, raw: bytes,
                imported_by: str) -> ReconciliationImport:
    """Keep ``raw`` unchanged with its SHA-256; the same file imported twice is the same import."""
    digest = hashlib.sha256(raw).hexdigest()
    existing = session.scalar(select(ReconciliationImport).where(
        ReconciliationImport.source == source, ReconciliationImport.sha256 == digest))
    if existing is not None:
        return existing
    row = ReconciliationImport(source=source, business_date=business_date, filename=filename[:255],
                               sha256=digest, size_bytes=len(raw), raw=bytes(raw), imported_by=imported_by)
    session.add(row)
    session.flush()
    return row


def input_hash(import_shas: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(import_shas)).encode()).hexdigest()


def current_run(session: Session, kind: str, business_date: date, *, lock: bool = False) -> ReconciliationRun | None:
    query = select(ReconciliationRun).where(ReconciliationRun.kind == kind,
                                            ReconciliationRun.business_date == business_date,
                                            ReconciliationRun.status == "current")
    return session.scalar(query.with_for_update() if lock else query)


def carried_into(session: Session, kind: str, business_date: date) -> list[Discrepancy]:
    """Yesterday's carried TIMING items, to pass to today's engine run."""
    previous = current_run(session, kind, business_date - timedelta(days=1))
    if previous is None:
        return []
    rows = session.scalars(select(ReconciliationDiscrepancy).where(
        ReconciliationDiscrepancy.run_id == previous.id, ReconciliationDiscrepancy.status == CARRIED))
    return [_to_discrepancy(row) for row in rows]


def _to_discrepancy(row: ReconciliationDiscrepancy) -> Discrepancy:
    return Discrepancy(row.category, row.key, tuple(record_from_json(r) for r in row.left_records),
                       tuple(record_from_json(r) for r in row.right_records), subtype=row.subtype, rule=row.rule,
                       left_amount_fen=row.left_amount_fen, right_amount_fen=row.right_amount_fen)


def store_run(session: Session, result: RunResult, *, started_by: str, import_shas: Sequence[str] = (),
              import_ids: Sequence[int] = ()) -> ReconciliationRun:
    """Store ``result`` as the day's current run. Two schedulers racing: the row lock on the
    current run (and the unique version) let only one write; an identical result is not stored
    twice."""
    inputs = input_hash(import_shas)
    previous = current_run(session, result.kind, result.business_date, lock=True)
    if previous is not None and previous.content_hash == result.content_hash and previous.input_hash == inputs:
        return previous
    version = (session.scalar(select(func.max(ReconciliationRun.version)).where(
        ReconciliationRun.kind == result.kind, ReconciliationRun.business_date == result.business_date)) or 0) + 1
    if previous is not None:
        previous.status = "superseded"
        session.flush()
    now = utcnow()
    run = ReconciliationRun(
        kind=result.kind, business_date=result.business_date, version=version, status="current",
        supersedes_id=previous.id if previous else None, input_hash=inputs, content_hash=result.content_hash,
        import_ids=list(import_ids), matched_count=result.matched_count,
        matched_amount_fen=result.matched_amount_fen, discrepancy_count=len(result.discrepancies),
        unmatched_amount_fen=sum(max(d.left_amount_fen or 0, d.right_amount_fen or 0) for d in result.discrepancies),
        counts=result.counts(), cleared_count=len(result.cleared), started_by=started_by, started_at=now,
        finished_at=now)
    session.add(run)
    session.flush()
    _insert_discrepancies(session, run.id, result.discrepancies, now)
    _clear_carried(session, result, now)
    return run


_COLUMNS = ("run_id", "seq", "category", "subtype", "key", "rule", "left_amount_fen", "right_amount_fen",
            "left_records", "right_records", "fingerprint", "status", "updated_at")


def _rows(run_id: int, discrepancies: Sequence[Discrepancy], now):
    for seq, d in enumerate(discrepancies, start=1):
        left, right = [record_to_json(r) for r in d.left], [record_to_json(r) for r in d.right]
        yield (run_id, seq, d.category, d.subtype, d.key, d.rule, d.left_amount_fen, d.right_amount_fen,
               left, right, _fingerprint(left, right), CARRIED if d.category == TIMING else OPEN, now)


def _insert_discrepancies(session: Session, run_id: int, discrepancies: Sequence[Discrepancy], now) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection  # psycopg 3: COPY is the fast path
        columns = ", ".join(f'"{c}"' for c in _COLUMNS)
        with raw.cursor() as cursor, cursor.copy(f"COPY reconciliation_discrepancies ({columns}) FROM STDIN") as copy:
            for row in _rows(run_id, discrepancies, now):
                copy.write_row([*row[:8], json.dumps(row[8], ensure_ascii=False),
                                json.dumps(row[9], ensure_ascii=False), *row[10:]])
        return
    batch = [dict(zip(_COLUMNS, row)) for row in _rows(run_id, discrepancies, now)]
    if batch:
        session.execute(insert(ReconciliationDiscrepancy), batch)


def _clear_carried(session: Session, result: RunResult, now) -> None:
    """Yesterday's carried items whose partner came today: cleared, with a system step."""
    if not result.cleared:
        return
    previous = current_run(session, result.kind, result.business_date - timedelta(days=1))
    if previous is None:
        return
    prints = set()
    for d in result.cleared:
        for record in d.left:
            prints.add(fingerprint((record,), ()))
        for record in d.right:
            prints.add(fingerprint((), (record,)))
    rows = session.scalars(select(ReconciliationDiscrepancy).where(
        ReconciliationDiscrepancy.run_id == previous.id, ReconciliationDiscrepancy.status == CARRIED,
        ReconciliationDiscrepancy.fingerprint.in_(sorted(prints))).with_for_update()).all()
    for row in rows:
        _step(session, row, "clear", SYSTEM, CLEARED, note=f"matched in the {result.business_date} run", now=now)


def _step(session: Session, row: ReconciliationDiscrepancy, action: str, actor: str, to_status: str, *,
          reason_code: str | None = None, note: str | None = None, now=None) -> ReconciliationStep:
    now = now or utcnow()
    step = ReconciliationStep(discrepancy_id=row.id, action=action, actor=actor, from_status=row.status,
                              to_status=to_status, reason_code=reason_code, note=note, at=now)
    row.status = to_status
    row.updated_at = now
    session.add(step)
    session.flush()
    return step


def _locked(session: Session, discrepancy_id: int) -> ReconciliationDiscrepancy:
    row = session.scalar(select(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.id == discrepancy_id)
                         .with_for_update())
    if row is None:
        raise ResolutionError(f"no discrepancy {discrepancy_id}", code="not_found")
    return row


def _require(row: ReconciliationDiscrepancy, *allowed: str) -> None:
    if row.status not in allowed:
        raise ResolutionError(f"discrepancy {row.id} is {row.status}, expected {' or '.join(allowed)}",
                              code="wrong_status")


def confirm(session: Session, discrepancy_id: int, actor: str, note: str | None = None) -> ReconciliationStep:
    """A finance user confirms the finding is real."""
    row = _locked(session, discrepancy_id)
    _require(row, OPEN, CARRIED)
    return _step(session, row, "confirm", actor, CONFIRMED, note=note)


def resolve(session: Session, discrepancy_id: int, actor: str, reason_code: str, note: str) -> ReconciliationStep:
    """Record how it was settled: a declared reason code and a note."""
    if reason_code not in REASON_CODES:
        raise ResolutionError(f"unknown reason code {reason_code!r}", code="unknown_reason_code")
    if not note or not note.strip():
        raise ResolutionError("a resolution needs a note", code="note_required")
    row = _locked(session, discrepancy_id)
    _require(row, CONFIRMED)
    return _step(session, row, "resolve", actor, RESOLVED, reason_code=reason_code, note=note)


def _resolver(session: Session, row: ReconciliationDiscrepancy) -> str | None:
    return session.scalar(select(ReconciliationStep.actor).where(
        ReconciliationStep.discrepancy_id == row.id, ReconciliationStep.action == "resolve")
        .order_by(ReconciliationStep.id.desc()).limit(1))


def approve(session: Session, discrepancy_id: int, actor: str, note: str | None = None) -> ReconciliationStep:
    """A second person approves the resolution; the resolver cannot approve their own."""
    row = _locked(session, discrepancy_id)
    _require(row, RESOLVED)
    if _resolver(session, row) == actor:
        raise ResolutionError("the resolver cannot approve their own resolution", code="four_eyes")
    return _step(session, row, "approve", actor, APPROVED, note=note)


def reject(session: Session, discrepancy_id: int, actor: str, note: str) -> ReconciliationStep:
    """The approver sends a resolution back (a reversal step; nothing is deleted)."""
    row = _locked(session, discrepancy_id)
    _require(row, RESOLVED)
    if _resolver(session, row) == actor:
        raise ResolutionError("the resolver cannot review their own resolution", code="four_eyes")
    return _step(session, row, "reject", actor, CONFIRMED, note=note)


def steps(session: Session, discrepancy_id: int) -> list[ReconciliationStep]:
    return list(session.scalars(select(ReconciliationStep).where(
        ReconciliationStep.discrepancy_id == discrepancy_id).order_by(ReconciliationStep.id)))


__all__ = ["APPROVED", "CARRIED", "CLEARED", "CONFIRMED", "OPEN", "REASON_CODES", "RESOLVED", "ResolutionError",
           "approve", "carried_into", "confirm", "current_run", "fingerprint", "import_file", "reject",
           "resolve", "steps", "store_run"]
