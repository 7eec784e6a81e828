"""Partitioned reconciliation gives the same result (content hash) as the one-process run."""
import io
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payment_bridge.errors import StatementError
from payment_bridge.statements import StatementLine, write_nontax_statement
from reconciliation.engine import Pairing, match
from reconciliation.partitions import partition_of, partition_sql, reconcile_payments_partitioned
from reconciliation.payments import payment_pairing, reconcile_payments
from reconciliation.records import LedgerPayment, StatementEntry, from_epoch
from reconciliation.scenarios import OUR_DIVISION, payment_rules, payment_scenario
from reconciliation.statement_stream import NontaxStatementReader, split_statement

DAY = date(2024, 3, 15)


def _statement_bytes(entries) -> bytes:
    lines = [StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind,
                           from_epoch(e.at), 0) for e in sorted(entries, key=lambda e: e.line_no)]
    return write_nontax_statement(DAY, OUR_DIVISION, lines)


def _slices(ledger):
    def read(k, n):
        return [p for p in ledger if n == 1 or partition_of(p.payment_code, n) == k]
    return read


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_partitioned_equals_one_process(workers):
    scenario = payment_scenario(DAY, 300, 4, seed=7)
    raw = _statement_bytes(scenario.statement)
    entries = list(NontaxStatementReader(io.BytesIO(raw)))
    expected = reconcile_payments(scenario.ledger, entries, DAY, payment_rules())
    run = reconcile_payments_partitioned(_slices(scenario.ledger), raw, DAY, payment_rules(), workers=workers)
    assert run.result.content_hash == expected.content_hash
    assert run.result.counts() == dict(sorted(scenario.expected.items()))
    assert run.line_count == len(scenario.statement)


def test_carried_items_clear_across_partitions():
    scenario = payment_scenario(DAY, 50, 3, seed=3)
    first = reconcile_payments(scenario.ledger, scenario.statement, DAY, payment_rules())
    next_day = DAY + timedelta(days=1)
    expected = reconcile_payments(scenario.next_ledger, scenario.next_statement, next_day, payment_rules(),
                                  carried=first.carried)
    raw = write_nontax_statement(next_day, OUR_DIVISION, [
        StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
        for e in scenario.next_statement])
    run = reconcile_payments_partitioned(_slices(scenario.next_ledger), raw, next_day, payment_rules(),
                                         carried=first.carried, workers=2)
    assert len(run.result.cleared) == scenario.expected_cleared == len(expected.cleared)
    assert run.result.counts() == expected.counts()


def test_totals_are_checked_over_the_parts():
    scenario = payment_scenario(DAY, 20, 1, seed=1)
    raw = _statement_bytes(scenario.statement).replace("合计,".encode("gbk"), "合计,9".encode("gbk"))
    with pytest.raises(StatementError, match="totals"):
        reconcile_payments_partitioned(_slices(scenario.ledger), raw, DAY, payment_rules(), workers=2)


def test_a_bad_row_is_named_by_its_line_in_the_whole_file():
    scenario = payment_scenario(DAY, 20, 0, seed=1)
    raw = _statement_bytes(scenario.statement)
    lines = raw.split(b"\n")
    lines[6] = lines[6].replace(b",", b";", 1)
    with pytest.raises(StatementError, match="line 7"):
        reconcile_payments_partitioned(_slices(scenario.ledger), b"\n".join(lines), DAY, payment_rules(), workers=2)


def test_split_keeps_line_numbers_and_partitions():
    scenario = payment_scenario(DAY, 40, 1, seed=2)
    split = split_statement(_statement_bytes(scenario.statement), 2)
    numbers = sorted(split.line_numbers[0] + split.line_numbers[1])
    assert numbers == list(range(3, 3 + len(scenario.statement)))
    for k in (0, 1):
        reader = NontaxStatementReader.part(split, k)
        entries = list(reader)
        assert all(partition_of(e.reference, 2) == k for e in entries)
        assert [e.line_no for e in entries] == split.line_numbers[k]


def test_partition_sql_is_the_same_rule():
    assert partition_sql("payment_code", 1, 2) == "mod(ascii(right(payment_code, 1)), 2) = 1"
    with pytest.raises(ValueError):
        partition_sql("x; drop table y", 0, 2)


records = st.tuples(st.sampled_from("ABCDE"), st.sampled_from(["", "t1", "t2"]), st.integers(1, 3),
                    st.sampled_from(["paid", "refunded", "unpaid"]), st.integers(0, 5))
rights = st.tuples(st.sampled_from("ABCDEF"), st.sampled_from(["", "t1", "t2"]), st.integers(1, 3),
                   st.integers(0, 1), st.sampled_from(["paid", "refund"]), st.integers(0, 5), st.integers(0, 99))


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=12), st.lists(rights, max_size=12))
def test_fast_keys_change_nothing(left, right):
    """The fast-key check inside the loop is only a shortcut of ``clean``."""
    left = [LedgerPayment(*r) for r in left]
    right = [StatementEntry(*r) for r in right]
    pairing = payment_pairing(payment_rules())
    slow = Pairing(**{**pairing.__dict__, "fast_keys": None})
    assert match(pairing, left, right) == match(slow, left, right)
