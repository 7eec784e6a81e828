"""The bulk path (DuckDB counts the clean pairs, the engine gets the rest) gives the result, and the
content hash, of the pure-Python reference `reconcile_payments` over the whole day."""
import os
import stat
import tempfile
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payment_bridge.errors import StatementError
from payment_bridge.statements import StatementLine, write_nontax_statement
from reconciliation.bulk import reconcile_payments_bulk
from reconciliation.duck import duck_session
from reconciliation.payments import _consistent, amount_and_time_rule, cutoff_epoch, reconcile_payments
from reconciliation.records import (KIND_PAID, KIND_REFUND, PAID, REFUNDED, UNPAID, LedgerPayment, StatementEntry,
                                    from_epoch)
from reconciliation.scenarios import OUR_DIVISION, payment_rules, payment_scenario
from tests.support.ledger_rows import ledger_source

DAY = date(2024, 3, 15)
NEXT = DAY + timedelta(days=1)


def statement_file(entries, day=DAY) -> tuple[bytes, list[StatementEntry]]:
    """The daily file of ``entries`` (in line order), and the entries as the file numbers them."""
    ordered = sorted(entries, key=lambda e: e.line_no)
    raw = write_nontax_statement(day, OUR_DIVISION, [
        StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
        for e in ordered])
    return raw, [e._replace(line_no=n) for n, e in enumerate(ordered, start=3)]


def both(ledger, entries, day=DAY, rules=payment_rules(), carried=()):
    """(the bulk path's result, the reference's); checks the bulk path counted every pair it may."""
    raw, numbered = statement_file(entries, day)
    expected = reconcile_payments(ledger, numbered, day, rules, carried)
    run = reconcile_payments_bulk(ledger_source(ledger), raw, day, rules, carried, threads=2)
    assert run.clean_in_bulk == clean_in_bulk(ledger, numbered, carried)
    return run.result, expected


def clean_in_bulk(ledger, entries, carried) -> int:
    """The pairs the bulk step may count: codes with one record a side, consistent, not carried."""
    carried_codes = {r[0] for d in carried for r in (*d.left, *d.right)}
    lefts, rights = {}, {}
    for record in ledger:
        lefts.setdefault(record.payment_code, []).append(record)
    for entry in entries:
        rights.setdefault(entry.reference, []).append(entry)
    return sum(1 for code, ls in lefts.items()
               if len(ls) == 1 and len(rights.get(code, ())) == 1 and code not in carried_codes
               and _consistent(ls[0], rights[code][0]))


@pytest.mark.parametrize("clean, per_category, seed", [(0, 1, 1), (300, 4, 7), (2000, 9, 11)])
def test_the_bulk_path_finds_what_the_engine_finds(clean, per_category, seed):
    scenario = payment_scenario(DAY, clean, per_category, seed=seed)
    found, expected = both(scenario.ledger, scenario.statement)
    assert found.content_hash == expected.content_hash
    assert found.counts() == dict(sorted(scenario.expected.items()))
    assert (found.matched_count, found.matched_amount_fen) == (expected.matched_count, expected.matched_amount_fen)


def test_carried_timing_items_clear_the_next_day():
    scenario = payment_scenario(DAY, 200, 3, seed=3)
    today, expected_today = both(scenario.ledger, scenario.statement)
    assert today.content_hash == expected_today.content_hash and len(today.carried) == 6
    found, expected = both(scenario.next_ledger, scenario.next_statement, NEXT, carried=today.carried)
    assert found.content_hash == expected.content_hash
    assert len(found.cleared) == scenario.expected_cleared and found.discrepancies == []


def test_a_code_with_a_carried_item_is_never_counted_clean_in_bulk():
    """Yesterday's line across the cut-off, and today a clean-looking pair of the same code: the
    pair must reach the engine with the carried line (here the carried line becomes a DUPLICATE)."""
    cutoff = cutoff_epoch(DAY, payment_rules())
    code = "34010024300000000001"
    today, _ = both([], [StatementEntry(code, "T1", 1000, 0, KIND_PAID, cutoff - 20, 3)])
    assert [d.category for d in today.carried] == ["TIMING"]
    found, expected = both([LedgerPayment(code, "T1", 1000, PAID, cutoff + 10)],
                           [StatementEntry(code, "T1", 1000, 0, KIND_PAID, cutoff + 30, 3)], NEXT,
                           carried=today.carried)
    assert found.content_hash == expected.content_hash
    assert found.counts() == {"DUPLICATE": 1}


def test_tolerance_rules_see_the_same_leftovers():
    rules = payment_rules(tolerances=(amount_and_time_rule("amount_time", amount_fen=100, window_seconds=3600),))
    scenario = payment_scenario(DAY, 500, 5, seed=5)
    noon = cutoff_epoch(DAY, rules) - 12 * 3600
    code = "34010024300099999{:03d}"
    ledger = scenario.ledger + [LedgerPayment(code.format(1), "", 5000, PAID, noon),  # a proposal
                                LedgerPayment(code.format(2), "", 9000, PAID, noon),  # two candidates
                                LedgerPayment(code.format(3), "", 9010, PAID, noon)]
    entries = scenario.statement + [StatementEntry(code.format(4), "X1", 5050, 0, KIND_PAID, noon + 100, 10**6),
                                    StatementEntry(code.format(5), "X2", 9005, 0, KIND_PAID, noon + 100, 10**6 + 1)]
    found, expected = both(ledger, entries, rules=rules)
    assert found.content_hash == expected.content_hash
    assert found.counts()["PROPOSED"] == 1 and found.counts()["AMBIGUOUS"] == 6


def test_odd_ledger_strings_survive_the_stream():
    noon = cutoff_epoch(DAY, payment_rules()) - 12 * 3600
    code = "34010024300000000{:03d}"
    ledger = [LedgerPayment(code.format(1), 'a,"b"\nc', 100, PAID, noon),
              LedgerPayment(code.format(2), "", 200, REFUNDED, noon),
              LedgerPayment("非税,码", "T3", 300, PAID, noon),
              LedgerPayment(code.format(4), "", 400, UNPAID, 0)]
    entries = [StatementEntry(code.format(2), "R2", 200, 0, KIND_REFUND, noon, 3),
               StatementEntry(code.format(4), "T4", 400, 0, KIND_PAID, noon, 4)]
    found, expected = both(ledger, entries)
    assert found.content_hash == expected.content_hash
    assert found.matched_count == 1 and found.counts() == {"SHORT": 2, "STATUS_MISMATCH": 1}


CODES = [f"3401002430000000000{i}" for i in range(4)]
ledger_records = st.builds(LedgerPayment, st.sampled_from(CODES), st.sampled_from(["", "t1", "t2"]),
                           st.sampled_from([100, 200]), st.sampled_from([PAID, REFUNDED, UNPAID]),
                           st.integers(0, 3))
statement_records = st.builds(lambda *fields: StatementEntry(*fields, 0),
                              st.sampled_from(CODES + ["99999924300000000001"]), st.sampled_from(["t1", "t2", "t3"]),
                              st.sampled_from([100, 200, 190]), st.sampled_from([0, 10]),
                              st.sampled_from([KIND_PAID, KIND_REFUND]), st.integers(0, 3))


@settings(max_examples=150, deadline=None)
@given(st.lists(ledger_records, max_size=8), st.lists(statement_records, max_size=8), st.booleans())
def test_any_small_day_agrees_with_the_engine(ledger, entries, with_tolerance):
    """Duplicates, statuses, empty transaction numbers, refunds: the SQL's idea of a clean pair is
    the engine's."""
    noon = cutoff_epoch(DAY, payment_rules()) - 12 * 3600
    ledger = [p._replace(paid_at=noon + p.paid_at * 60 if p.status != UNPAID else 0) for p in ledger]
    entries = [e._replace(at=noon + e.at * 60, line_no=n) for n, e in enumerate(entries)]
    rules = payment_rules(tolerances=(amount_and_time_rule("near", amount_fen=10, window_seconds=120),)
                          if with_tolerance else ())
    found, expected = both(ledger, entries, rules=rules)
    assert found.content_hash == expected.content_hash


def test_a_bad_statement_is_refused_and_nothing_is_left_behind(monkeypatch):
    with tempfile.TemporaryDirectory() as scratch:
        monkeypatch.setattr(tempfile, "tempdir", scratch)
        raw, _ = statement_file([StatementEntry("34010024300000000001", "T1", 100, 0, KIND_PAID, 1710460800, 3)])
        with pytest.raises(StatementError, match="line 3"):
            reconcile_payments_bulk(ledger_source([]), raw.replace(b"T1", b"T 1"), DAY, payment_rules())
        assert os.listdir(scratch) == []


def test_the_private_directory_and_its_files():
    with duck_session(threads=1) as session:
        assert stat.S_IMODE(os.stat(session.directory).st_mode) == 0o700
        session.pipe("x.csv")
        assert stat.S_IMODE(os.stat(session.path("x.csv")).st_mode) == 0o600
        with pytest.raises(ValueError):
            session.path("../x.csv")
        import duckdb

        with pytest.raises(duckdb.Error):  # DuckDB reads nothing outside it
            session.con.execute("SELECT * FROM read_csv('/etc/hostname')").fetchall()
        with pytest.raises(duckdb.Error):
            session.con.execute("SET enable_external_access = true")
    assert not os.path.exists(session.directory)


def test_a_ledger_without_a_transaction_number_pairs_on_the_rest():
    """NULL or '' alike: `not left.transaction_id` in the engine."""
    noon = cutoff_epoch(DAY, payment_rules()) - 12 * 3600
    codes = ["34010024300000000001", "34010024300000000002"]
    raw, entries = statement_file([StatementEntry(code, "T", 100, 0, KIND_PAID, noon, 3) for code in codes])
    ledger = [LedgerPayment(codes[0], None, 100, PAID, noon), LedgerPayment(codes[1], "", 100, PAID, noon)]
    run = reconcile_payments_bulk(ledger_source(ledger), raw, DAY, payment_rules())
    assert run.clean_in_bulk == 2 and run.result.discrepancies == []


def test_the_days_text_is_stored_uncompressed(monkeypatch):
    """The bulk run's tables keep their codes and transaction numbers as they are: choosing and
    applying DuckDB's text compressions (FSST, dictionary) was most of the CPU of storing them."""
    from contextlib import contextmanager

    from reconciliation import bulk

    compressions = {}
    opened = bulk.duck_session

    @contextmanager
    def watched(**options):
        with opened(**options) as session:
            yield session
            session.con.execute("CHECKPOINT")
            compressions.update(session.con.execute("""
                SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('statement')
                 WHERE column_name IN ('reference', 'transaction_id') AND segment_type = 'VARCHAR'
                 GROUP BY column_name""").fetchall())

    monkeypatch.setattr(bulk, "duck_session", watched)
    scenario = payment_scenario(DAY, 3000, 2, seed=5)
    found, expected = both(scenario.ledger, scenario.statement)
    assert found.content_hash == expected.content_hash
    assert compressions == {"reference": ["Uncompressed"], "transaction_id": ["Uncompressed"]}


def test_the_days_database_is_thrown_away_without_a_checkpoint(monkeypatch):
    """The run's on-disk DuckDB is deleted when the run ends: closing it writes no checkpoint (at ten
    million rows a side, part of the second it took to close). Its WAL is still there when the
    private directory is removed."""
    import shutil

    from reconciliation import duck

    left_behind = []
    remove = shutil.rmtree

    def watched(path, *args, **kwargs):
        left_behind.extend(sorted(os.listdir(path)))
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(duck.shutil, "rmtree", watched)
    with duck_session(threads=1, on_disk=True) as session:
        session.con.execute("CREATE TABLE t AS SELECT range AS i FROM range(1000)")
    assert "work.duckdb.wal" in left_behind
    assert not os.path.exists(session.directory)


@pytest.mark.parametrize("engine_fails", [False, True])
def test_the_days_database_is_closed_and_removed_beside_the_engine(monkeypatch, engine_fails):
    """Once the clean pairs are counted, DuckDB is closed and its private directory removed in a
    thread while the engine matches the rest; the run returns (or raises) only after both, and the
    directory is gone either way."""
    import threading

    from reconciliation import bulk

    opened, directories, closed_by = bulk.duck_session, [], []

    def watched(**options):
        session_manager = opened(**options)

        class Watched:
            def __enter__(self):
                session = session_manager.__enter__()
                directories.append(session.directory)
                return session

            def __exit__(self, *exc):
                closed_by.append(threading.current_thread().name)
                return session_manager.__exit__(*exc)
        return Watched()

    def match(*args, **kwargs):
        if engine_fails:
            raise RuntimeError("the engine failed")
        return real_match(*args, **kwargs)

    real_match = bulk.match
    monkeypatch.setattr(bulk, "duck_session", watched)
    monkeypatch.setattr(bulk, "match", match)
    scenario = payment_scenario(DAY, 300, 2, seed=3)
    raw, _numbered = statement_file(scenario.statement)
    if engine_fails:
        with pytest.raises(RuntimeError, match="the engine failed"):
            reconcile_payments_bulk(ledger_source(scenario.ledger), raw, DAY, payment_rules(), threads=2)
    else:
        run = reconcile_payments_bulk(ledger_source(scenario.ledger), raw, DAY, payment_rules(), threads=2)
        assert {"close", "engine", "prefilter"} <= set(run.stages)
    assert closed_by and closed_by[0] != threading.current_thread().name  # closed in the run's thread pool
    assert not os.path.exists(directories[0])
