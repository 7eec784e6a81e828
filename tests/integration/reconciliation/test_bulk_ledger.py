"""The ledger as DuckDB reads it from PostgreSQL (`postgres_ledger`) is the ledger `payment_ledger`
reads, odd strings and all, and the bulk path over it gives the reference's result; the extension
DuckDB loads for it must be DuckDB's own, and the database's password stays out of its errors."""
from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from payment_bridge.statements import StatementLine, parse_nontax_statement, write_nontax_statement
from reconciliation.bulk import _load_ledger, reconcile_payments_bulk
from reconciliation.duck import duck_session
from reconciliation import ledger as ledger_module
from reconciliation.ledger import LedgerUnavailable, PostgresLedger, payment_ledger, payment_ledger_query, postgres_ledger
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


def _streamed(recon_db, sql: str, params: dict) -> list[LedgerPayment]:
    """The ledger of ``sql`` read by DuckDB from PostgreSQL, as the bulk path loads it, as records."""
    ledger = postgres_ledger(recon_db.engine, sql, params)
    with duck_session(threads=1, prepare=ledger.attach) as session:
        _load_ledger(session.con.cursor(), ledger, 1, {})
        found = session.con.execute(f"SELECT {', '.join(LedgerPayment._fields)} FROM ledger").fetchall()
    return sorted(LedgerPayment(*row) for row in found)


def test_the_streamed_ledger_is_the_ledger(recon_db, odd_day):
    day, _ = odd_day
    with recon_db.engine.connect() as connection:
        read = sorted(payment_ledger(connection, day, RULES, platform="nontax"))
    streamed = _streamed(recon_db, *payment_ledger_query(day, RULES, platform="nontax"))
    assert streamed == read and any(p.status == "unpaid" and p.paid_at == 0 for p in read)
    assert {t for p in read for t in ODD if p.transaction_id.endswith(t)} == set(ODD)


def test_the_bulk_path_on_postgresql_gives_the_references_result(recon_db, odd_day):
    day, raw = odd_day

    sql, params = payment_ledger_query(day, RULES, platform="nontax")
    run = reconcile_payments_bulk(postgres_ledger(recon_db.engine, sql, params), raw, day, RULES)
    with recon_db.engine.connect() as connection:
        ledger = list(payment_ledger(connection, day, RULES, platform="nontax"))
    entries = [StatementEntry.from_line(line) for line in parse_nontax_statement(raw).lines]
    expected = reconcile_payments(ledger, entries, day, RULES)
    assert run.result.content_hash == expected.content_hash
    assert run.clean_in_bulk > 0 and run.statement_date == day


def test_a_day_without_a_ledger(recon_db):
    assert _streamed(recon_db, *payment_ledger_query(date(1990, 1, 1), RULES, platform="nontax")) == []


def test_parameters_are_values_never_sql(recon_db, odd_day):
    """psycopg binds them on the client for the COPY: a quote in one stays in the value."""
    day, _ = odd_day
    sql, params = payment_ledger_query(day, RULES, platform="nontax")
    with recon_db.engine.connect() as connection:
        paid = sorted(p for p in payment_ledger(connection, day, RULES, platform="nontax") if p.status != "unpaid")
    assert _streamed(recon_db, sql, {**params, "platform": "x' OR '1'='1"}) == paid  # no notice of that platform


def test_the_attached_database_is_read_only_and_the_session_still_shut_in(recon_db):
    ledger = postgres_ledger(recon_db.engine, "SELECT 1")
    with duck_session(threads=1, prepare=ledger.attach) as session:
        with pytest.raises(duckdb.Error):
            session.con.execute("CREATE TABLE ledger_db.public.govlink_duck_probe (x int)")
        with pytest.raises(duckdb.Error):  # no second database, no files outside the private directory
            session.con.execute("ATTACH 'dbname=postgres' AS other (TYPE postgres)")
        with pytest.raises(duckdb.Error):
            session.con.execute("SELECT * FROM read_csv('/etc/hostname')").fetchall()


def test_a_wrong_password_is_refused_without_showing_it(recon_db):
    secret = "Wr0ng-pa55word-x7"
    url = make_url(str(recon_db.engine.url.render_as_string(hide_password=False))).set(password=secret)
    ledger = PostgresLedger(url, "SELECT 1")
    with pytest.raises(LedgerUnavailable) as caught, duck_session(threads=1, prepare=ledger.attach):
        pass
    assert "password authentication failed" in str(caught.value) and caught.value.code == "database_unavailable"
    assert secret not in str(caught.value) and secret not in repr(ledger)


def test_only_duckdbs_signed_extension_is_loaded(recon_db, tmp_path, monkeypatch):
    """A copy of the extension with one byte changed is refused: DuckDB checks its signature."""
    tampered = tmp_path / "postgres_scanner.duckdb_extension"
    shutil.copyfile(ledger_module._extension_path(), tampered)
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(ledger_module, "_extension_path", lambda: str(tampered))
    ledger = postgres_ledger(recon_db.engine, "SELECT 1")
    with pytest.raises(duckdb.Error, match="(?i)signature"), duck_session(threads=1, prepare=ledger.attach):
        pass


def test_connection_options_reach_postgresql_as_written(recon_db):
    """The URL's query options go into libpq's connection string quoted: a quote, a backslash and
    a space stay in the value."""
    name = "govlink 'recon' \\ test"
    url = recon_db.engine.url.update_query_dict({"application_name": name})
    ledger = PostgresLedger(url, "SELECT current_setting('application_name')")
    with duck_session(threads=1, prepare=ledger.attach) as session:
        assert session.con.execute(f"SELECT * FROM {ledger.rows()}").fetchall() == [(name,)]
