"""Ledger vs statement: every category of DOMAIN.md section 5, TIMING carry and clear, determinism."""
import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation import categories as c
from reconciliation.engine import Pairing, ToleranceRule, match  # noqa: F401  (the rule type used by payment rules)
from reconciliation.payments import amount_and_time_rule, cutoff_epoch, payment_pairing, reconcile_payments
from reconciliation.records import KIND_PAID, KIND_REFUND, PAID, REFUNDED, UNPAID, LedgerPayment, StatementEntry
from reconciliation.scenarios import payment_rules, payment_scenario

DAY = date(2024, 3, 15)
RULES = payment_rules()
NOON = cutoff_epoch(DAY, RULES) - 12 * 3600
CODE = "340100243000000000{:02d}"


def L(n, txn="T", amount=1000, status=PAID, at=NOON):
    return LedgerPayment(CODE.format(n), txn and f"{txn}{n}", amount, status, at if status != UNPAID else 0)


def S(n, txn="T", amount=1000, fee=0, kind=KIND_PAID, at=NOON, line=3, reference=None):
    return StatementEntry(reference or CODE.format(n), f"{txn}{n}", amount, fee, kind, at, line)


def only(result):
    assert len(result.discrepancies) == 1, result.discrepancies
    return result.discrepancies[0]


@pytest.mark.parametrize("ledger, statement, category, subtype", [
    ([], [S(1)], c.LONG, KIND_PAID),
    ([L(1)], [], c.SHORT, ""),
    ([L(1)], [S(1, amount=999)], c.AMOUNT_MISMATCH, ""),
    ([L(1)], [S(1, amount=994, fee=6)], c.FEE, "net_of_fee"),
    ([L(1, txn="", status=UNPAID)], [S(1)], c.STATUS_MISMATCH, "unpaid_here_paid_there"),
    ([L(1)], [S(1), S(1, txn="R", kind=KIND_REFUND)], c.STATUS_MISMATCH, "refund_on_statement_only"),
    ([L(1), L(1, txn="R", status=REFUNDED)], [S(1)], c.STATUS_MISMATCH, "refund_in_ledger_only"),
    ([L(1)], [S(1), S(1, txn="C", at=NOON + 60)], c.DUPLICATE, "second_payment"),
    ([], [S(1, reference="99999924300000000001")], c.UNIDENTIFIED, KIND_PAID),
    ([L(1, txn="", status=UNPAID)], [S(1, txn="A"), S(1, txn="B", amount=2000)], c.AMBIGUOUS, "payment_code"),
])
def test_each_category(ledger, statement, category, subtype):
    d = only(reconcile_payments(ledger, statement, DAY, RULES))
    assert (d.category, d.subtype) == (category, subtype)
    assert d.key == CODE.format(1) or category == c.UNIDENTIFIED


def test_refund_on_both_sides_is_consistent():
    result = reconcile_payments([L(1), L(1, txn="R", status=REFUNDED)], [S(1), S(1, txn="R", kind=KIND_REFUND)],
                                DAY, RULES)
    assert result.discrepancies == [] and result.matched_count == 2


def test_timing_is_carried_and_cleared_the_next_day():
    cutoff = cutoff_epoch(DAY, RULES)
    late_ours = L(1, at=cutoff - 30)  # the platform books it after midnight
    late_theirs = S(2, at=cutoff - 20)  # our callback arrives after midnight
    today = reconcile_payments([late_ours], [late_theirs], DAY, RULES)
    assert [(d.category, d.subtype) for d in today.discrepancies] == [
        (c.TIMING, "ledger_before_cutoff"), (c.TIMING, "statement_across_cutoff")]
    assert len(today.carried) == 2
    tomorrow = reconcile_payments([L(2, at=cutoff + 10)], [S(1, at=cutoff + 40)], date(2024, 3, 16), RULES,
                                  carried=today.carried)
    assert tomorrow.discrepancies == [] and len(tomorrow.cleared) == 2


def test_a_carried_item_still_missing_the_next_day_becomes_short():
    cutoff = cutoff_epoch(DAY, RULES)
    today = reconcile_payments([L(1, at=cutoff - 30)], [], DAY, RULES)
    tomorrow = reconcile_payments([], [], date(2024, 3, 16), RULES, carried=today.carried)
    assert [d.category for d in tomorrow.discrepancies] == [c.SHORT]


def test_the_cutoff_is_configurable():
    from datetime import time

    rules = payment_rules(cutoff=time(16, 0))  # a platform closing its day at 16:00 Beijing
    assert cutoff_epoch(DAY, rules) == cutoff_epoch(DAY, RULES) - 8 * 3600


def test_tolerance_rules_only_take_what_exact_keys_left_and_only_propose():
    rules = payment_rules(tolerances=(amount_and_time_rule("amount_time", amount_fen=0, window_seconds=120),))
    ledger = [L(1), L(2, amount=5000)]
    statement = [S(1), S(9, amount=5000, at=NOON + 30, reference="34010024300000000077")]
    d = only(reconcile_payments(ledger, statement, DAY, rules))
    assert (d.category, d.subtype, d.rule) == (c.PROPOSED, "amount_time", "amount_time")


def test_every_generated_discrepancy_is_found_exactly():
    s = payment_scenario(DAY, clean=3000, per_category=7, seed=11)
    result = reconcile_payments(s.ledger, s.statement, DAY, RULES)
    assert result.counts() == dict(sorted(s.expected.items()))
    assert result.matched_count == 3000 + 7 * 3  # the clean ones, and the matched halves of 3 cases
    tomorrow = reconcile_payments(s.next_ledger, s.next_statement, date(2024, 3, 16), RULES, carried=result.carried)
    assert tomorrow.discrepancies == [] and len(tomorrow.cleared) == s.expected_cleared


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 200), st.integers(1, 4), st.integers(0, 10_000))
def test_generated_days_are_found_exactly_and_deterministically(clean, per_category, seed):
    s = payment_scenario(DAY, clean=clean, per_category=per_category, seed=seed)
    result = reconcile_payments(s.ledger, s.statement, DAY, RULES)
    assert result.counts() == dict(sorted(s.expected.items()))
    rnd = random.Random(seed)
    ledger, statement = s.ledger[:], s.statement[:]
    rnd.shuffle(ledger)
    rnd.shuffle(statement)
    again = reconcile_payments(ledger, statement, DAY, RULES)
    assert again.content_hash == result.content_hash
    assert again.discrepancies == result.discrepancies


def test_a_different_input_gives_a_different_hash():
    s = payment_scenario(DAY, clean=50, per_category=1, seed=3)
    a = reconcile_payments(s.ledger, s.statement, DAY, RULES)
    b = reconcile_payments(s.ledger[:-1], s.statement, DAY, RULES)
    assert a.content_hash != b.content_hash


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
