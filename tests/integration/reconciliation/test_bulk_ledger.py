"""The ledger as PostgreSQL writes it for DuckDB (`export_ledger_csv`) is the ledger `payment_ledger`
reads, odd strings and all, and the bulk path over it gives the reference's result."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete

from payment_bridge.statements import StatementLine, parse_nontax_statement, write_nontax_statement
from reconciliation.bulk import reconcile_payments_bulk
from reconciliation.duck import duck_session, sql_literal
from reconciliation.ledger import export_ledger_csv, payment_ledger, payment_ledger_query
from reconciliation.payments import reconcile_payments
from reconciliation.records import PAID, LedgerPayment, StatementEntry, from_epoch
from reconciliation.scenarios import OUR_DIVISION, payment_rules, payment_scenario
from store.models.payment import PaymentConfirmation, PaymentNotice, PaymentRefund
from tests.support.payment_ledger import seed_payment_ledger

RULES = payment_rules()
ODD = ['a,b', 'q"uote"', 'two\nlines', 'cr\r\nlf', '汉字', 'UPPER', 'select', '"']


@pytest.fixture()
def odd_day(recon_db, unique):
    """A day of its own far from every other test's (the unpaid notices of 90 days take part), with
    transaction numbers CSV must quote; every row removed afterwards."""
    day = date(2100, 1, 1) + timedelta(days=int(unique[:6], 16) % 20000)
    scenario = payment_scenario(day, clean=40, per_category=2, seed=5)
    base = int(unique[:8], 16) % 10**8
    codes: dict[str, str] = {}

    def code(old: str) -> str:
        return codes.setdefault(old, f"{old[:10]}{base:08d}{len(codes):02d}")

    ledger = [p._replace(payment_code=code(p.payment_code),
                         transaction_id=f"{unique}{p.transaction_id}" if p.transaction_id else "")
              for p in scenario.ledger]
    ledger = [p._replace(transaction_id=f"{unique}{ODD[k]}") if p.status == PAID and k < len(ODD) else p
              for k, p in enumerate(ledger)]
    statement = [e._replace(reference=code(e.reference), transaction_id=f"{unique}{e.transaction_id}")
                 for e in scenario.statement]
    created = datetime.combine(day, datetime.min.time(), UTC) - timedelta(hours=7)
    with recon_db.unit_of_work() as s:
        notices = seed_payment_ledger(s, ledger, created)
    raw = write_nontax_statement(day, OUR_DIVISION, [
        StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
        for e in sorted(statement, key=lambda e: e.line_no)])
    yield day, raw
    with recon_db.unit_of_work() as s:
        ids = list(notices.values())
        s.execute(delete(PaymentConfirmation).where(PaymentConfirmation.notice_id.in_(ids)))
        s.execute(delete(PaymentRefund).where(PaymentRefund.notice_id.in_(ids)))
        s.execute(delete(PaymentNotice).where(PaymentNotice.id.in_(ids)))


def _exported(recon_db, day) -> list[LedgerPayment]:
    """The day's ledger through PostgreSQL's CSV and DuckDB, as records."""
    with duck_session(threads=1) as session:
        with session.create("ledger.csv") as out, recon_db.engine.connect() as connection:
            export_ledger_csv(connection, *payment_ledger_query(day, RULES, platform="nontax"), out)
        rows = session.con.execute(f"""
            SELECT * FROM read_csv({sql_literal(session.path('ledger.csv'))}, columns = {{'payment_code': 'VARCHAR',
                'transaction_id': 'VARCHAR', 'amount_fen': 'BIGINT', 'status': 'VARCHAR', 'paid_at': 'BIGINT'}},
                header = false, auto_detect = false, quote = '"', escape = '"', allow_quoted_nulls = false,
                strict_mode = true)""").fetchall()
    return sorted(LedgerPayment(*row) for row in rows)


def test_the_exported_ledger_is_the_ledger(recon_db, odd_day):
    day, _ = odd_day
    with recon_db.engine.connect() as connection:
        read = sorted(payment_ledger(connection, day, RULES, platform="nontax"))
    exported = _exported(recon_db, day)
    assert exported == read
    assert {t for p in read for t in ODD if p.transaction_id.endswith(t)} == set(ODD)


def test_the_bulk_path_on_postgresql_gives_the_references_result(recon_db, odd_day):
    day, raw = odd_day

    def export(out):
        with recon_db.engine.connect() as connection:
            export_ledger_csv(connection, *payment_ledger_query(day, RULES, platform="nontax"), out)

    run = reconcile_payments_bulk(export, raw, day, RULES)
    with recon_db.engine.connect() as connection:
        ledger = list(payment_ledger(connection, day, RULES, platform="nontax"))
    entries = [StatementEntry.from_line(line) for line in parse_nontax_statement(raw).lines]
    expected = reconcile_payments(ledger, entries, day, RULES)
    assert run.result.content_hash == expected.content_hash
    assert run.clean_in_bulk > 0 and run.statement_date == day


def test_a_day_without_a_ledger(recon_db):
    out = io.BytesIO()
    with recon_db.engine.connect() as connection:
        export_ledger_csv(connection, *payment_ledger_query(date(1990, 1, 1), RULES, platform="nontax"), out)
    assert out.getvalue() == b""
