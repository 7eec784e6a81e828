"""One day's reconciliation run from the real tables: what the CLI, the API and the scheduler call.

``reconcile_payments_day`` takes the platform's daily statement (a file given by the caller, or
the one ``govlink payments import-statement`` kept), keeps it unchanged with its hash
(:func:`reconciliation.runs.import_file`), reads the ledger of the day from the payment tables
(for the provincial statement, in bulk through DuckDB: :mod:`reconciliation.bulk`), carries
yesterday's TIMING items in and stores the result as the day's current run. ``reconcile_logistics_day`` does the same for
postage payments, booked legs and courier bill lines. Both answer a :class:`RunSummary`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from kernel.errors import CodedError
from reconciliation import runs
from reconciliation.ledger import (courier_bill_lines, payment_ledger, payment_ledger_query, postgres_ledger,
                                  postage_ledger, shipment_ledger)
from reconciliation.logistics import reconcile_logistics
from reconciliation.payments import PaymentRules, reconcile_payments
from reconciliation.records import CourierCharge, StatementEntry

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (stage, done, total)
KINDS = ("payments", "logistics")
STATEMENT_SOURCES = {"nontax": "nontax_statement", "wechatpay": "wechat_bill"}
BILL_SOURCES = {"sf": "sf_bill", "ems": "ems_bill"}


class ReconciliationInputError(CodedError, ValueError):
    """The run cannot start: no statement for the day, a file of another day, a malformed file (422)."""

    status = 422

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code=code)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    kind: str
    business_date: date
    version: int
    matched_count: int
    matched_amount_fen: int
    discrepancy_count: int
    counts: dict
    content_hash: str
    superseded: bool  # a new version replaced an older one

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "business_date": self.business_date.isoformat(),
                "version": self.version, "matched_count": self.matched_count,
                "matched_amount_fen": self.matched_amount_fen, "discrepancy_count": self.discrepancy_count,
                "counts": self.counts, "content_hash": self.content_hash, "superseded": self.superseded}


def payment_rules_for(settings) -> tuple[PaymentRules, object]:
    """The rules of the platform profile in config/payments.yaml, and its payment-code profile."""
    from payment_bridge.profiles import load_profiles

    profiles = load_profiles(settings)
    division = profiles.division
    return PaymentRules(is_ours=lambda reference: reference.startswith(division)), profiles.code_profile


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _summary(run, previous_version: int | None) -> RunSummary:
    return RunSummary(run.id, run.kind, run.business_date, run.version, run.matched_count, run.matched_amount_fen,
                      run.discrepancy_count, dict(run.counts), run.content_hash,
                      previous_version is not None and previous_version != run.version)


def _stored_statement(db, platform: str, day: date) -> tuple[bytes, str]:
    from store.models.payment import PaymentStatement

    with db.unit_of_work() as session:
        row = session.scalars(select(PaymentStatement).where(
            PaymentStatement.platform == platform, PaymentStatement.statement_date == day)
            .order_by(PaymentStatement.imported_at.desc(), PaymentStatement.id.desc()).limit(1)).first()
        if row is None:
            raise ReconciliationInputError(
                f"no {platform} statement imported for {day}: run `govlink payments import-statement {platform} "
                f"--date {day}` or pass --statement FILE", code="statement_missing")
        return bytes(row.raw), f"{platform}-{day:%Y%m%d}"


def reconcile_payments_day(runtime, day: date, *, started_by: str, statement: bytes | None = None,
                           filename: str | None = None, platform: str = "nontax", workers: int | None = None,
                           progress: Progress = _noop) -> RunSummary:
    """Reconcile ``day``'s payments against ``platform``'s statement and store the run.
    ``workers``: the threads DuckDB may use (default: the cores)."""
    from payment_bridge.errors import PaymentError

    if platform not in STATEMENT_SOURCES:
        raise ReconciliationInputError(f"unknown platform {platform!r}", code="unknown_platform")
    db = runtime.db
    rules, code_profile = payment_rules_for(runtime.settings)
    if statement is None:
        statement, filename = _stored_statement(db, platform, day)
    progress("statement", 0, 1)
    with db.unit_of_work() as session:
        imported = runs.import_file(session, source=STATEMENT_SOURCES[platform], business_date=day,
                                    filename=filename or f"{platform}-{day:%Y%m%d}", raw=statement,
                                    imported_by=started_by)
        import_sha, import_id = imported.sha256, imported.id
        carried = runs.carried_into(session, "payments", day)
    del imported  # the import's row holds the file's bytes (or a copy, an earlier import's)
    progress("statement", 1, 1)
    sql, params = payment_ledger_query(day, rules, platform=platform)

    try:
        progress("match", 0, 1)
        if platform == "nontax":
            from reconciliation.bulk import RawStatement, reconcile_payments_bulk

            # handed over: with no reference left here its bytes are freed before the join (issue 18)
            handed, statement = RawStatement(statement), None
            run = reconcile_payments_bulk(postgres_ledger(db.engine, sql, params), handed, day, rules, carried,
                                          profile=code_profile, threads=workers)
            if run.statement_date != day:
                raise ReconciliationInputError(f"the statement is for {run.statement_date}, not {day}",
                                               code="statement_date_mismatch")
            result = run.result
            log.info("payments %s: %d lines, %d pairs clean in bulk, seconds %s", day, run.line_count,
                     run.clean_in_bulk, {stage: round(seconds, 2) for stage, seconds in run.stages.items()})
        else:
            from payment_bridge.statements import parse_wechat_bill

            bill = parse_wechat_bill(statement)
            entries = [StatementEntry.from_line(line) for line in bill.lines]
            with db.engine.connect() as connection:
                result = reconcile_payments(payment_ledger(connection, day, rules, platform=platform), entries, day,
                                            rules, carried)
        progress("match", 1, 1)
    except PaymentError as exc:
        raise ReconciliationInputError(exc.message, code=exc.code) from None
    return _store(db, result, started_by, [import_sha], [import_id], progress)


def reconcile_logistics_day(runtime, day: date, *, started_by: str, bill: bytes | None = None,
                            filename: str | None = None, carrier: str = "",
                            progress: Progress = _noop) -> RunSummary:
    """Reconcile ``day``'s postage payments, booked legs and courier bill lines and store the run.

    With ``bill`` (a courier bill file of ``carrier``) its lines are the courier side and only
    that carrier's legs take part; without, the lines already imported (``govlink logistics
    import-bill``) for parcels billed that day, of ``carrier`` or of every carrier (``""``).
    """
    from logistics_bridge.errors import BillFormatError

    if carrier and carrier not in BILL_SOURCES or (bill is not None and not carrier):
        raise ReconciliationInputError("name the carrier of the bill: sf or ems", code="unknown_carrier")
    db = runtime.db
    rules, _ = payment_rules_for(runtime.settings)
    import_shas: list[str] = []
    import_ids: list[int] = []
    progress("bill", 0, 1)
    if bill is not None:
        from logistics_bridge.bills import EMS_BILL, SF_BILL, parse_bill

        try:
            lines = [CourierCharge.from_bill_line(line)
                     for line in parse_bill(bill, SF_BILL if carrier == "sf" else EMS_BILL)]
        except BillFormatError as exc:
            raise ReconciliationInputError(str(exc), code="bill_invalid") from None
        with db.unit_of_work() as session:
            imported = runs.import_file(session, source=BILL_SOURCES[carrier], business_date=day,
                                        filename=filename or f"{carrier}-{day:%Y%m%d}", raw=bill,
                                        imported_by=started_by)
            import_shas.append(imported.sha256)
            import_ids.append(imported.id)
    else:
        with db.engine.connect() as connection:
            lines = list(courier_bill_lines(connection, day, rules, carrier=carrier))
    progress("bill", 1, 1)
    progress("match", 0, 1)
    with db.engine.connect() as connection:
        postage = list(postage_ledger(connection, day, rules))
        shipments = list(shipment_ledger(connection, day, rules, carrier=carrier))
    result = reconcile_logistics(postage, shipments, lines, day)
    progress("match", 1, 1)
    return _store(db, result, started_by, import_shas, import_ids, progress)


def _store(db, result, started_by: str, import_shas, import_ids, progress: Progress) -> RunSummary:
    progress("store", 0, 1)
    with db.unit_of_work() as session:
        previous = runs.current_run(session, result.kind, result.business_date)
        previous_version = previous.version if previous is not None else None
        run = runs.store_run(session, result, started_by=started_by, import_shas=import_shas,
                             import_ids=import_ids)
        summary = _summary(run, previous_version)
    progress("store", 1, 1)
    return summary
