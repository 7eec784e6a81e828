"""Ledger vs platform statement (or channel bill): one day's payment reconciliation.

The ledger of a day lists our money movements keyed by payment code: payments (status
``paid``), refunds (status ``refunded``: the refund's amount, number and time) and, for codes the
statement mentions that we hold as unpaid, the notice (status ``unpaid``). The statement lists the
platform's movements (kind ``paid`` or ``refund``). They meet on the payment code, then the
transaction number inside a code; declared tolerance rules take what is left.

The cut-off (Beijing midnight unless configured) splits days: a movement within
``timing_window_seconds`` of it that one side has and the other does not is TIMING, carried into
the next day's run (pass yesterday's ``carried`` in) and cleared there when its partner shows up.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain
from operator import itemgetter

from kernel.clock import BEIJING
from reconciliation import categories as c
from reconciliation.categories import Discrepancy, RunResult
from reconciliation.engine import (Ambiguity, Match, Matching, Pairing, Refinement, Surplus, ToleranceRule,
                                   match)
from reconciliation.records import (KIND_PAID, KIND_REFUND, PAID, REFUNDED, UNPAID, LedgerPayment,
                                    StatementEntry)

KIND_OF = {PAID: KIND_PAID, REFUNDED: KIND_REFUND}  # a ledger status and the statement kind it shows as
_EXACT_RULES = frozenset({"payment_code", "transaction_id"})


@dataclass(frozen=True)
class PaymentRules:
    """Declared rules of the payment reconciliation (one per platform profile)."""

    cutoff: time = time(0, 0)  # Beijing wall clock where one business day ends and the next begins
    timing_window_seconds: int = 300
    is_ours: Callable[[str], bool] = lambda reference: True  # a reference we issued (else UNIDENTIFIED)
    tolerances: tuple[ToleranceRule, ...] = field(default=())


def cutoff_epoch(day: date, rules: PaymentRules) -> int:
    """UTC seconds of the cut-off that ends business day ``day``."""
    # A midnight cut-off ends the day at the next midnight; any other ends it on the day itself.
    end_day = day + timedelta(days=1) if rules.cutoff == time(0, 0) else day
    return int(datetime.combine(end_day, rules.cutoff, tzinfo=BEIJING).timestamp())


def amount_and_time_rule(name: str, *, amount_fen: int = 0, window_seconds: int = 120) -> ToleranceRule:
    """A tolerance rule for movements without a usable reference: same kind, close amount and time."""
    return ToleranceRule(
        name, left_amount=lambda l: l.amount_fen, right_amount=lambda r: r.amount_fen,
        left_time=lambda l: l.paid_at, right_time=lambda r: r.at, amount_fen=amount_fen,
        window_seconds=window_seconds, left_block=lambda l: KIND_OF.get(l.status), right_block=lambda r: r.kind,
    )


def _consistent(left: LedgerPayment, right: StatementEntry) -> bool:
    # Index access: this runs once per statement line.
    return (left[2] == right[2] and (left[1] == right[1] or not left[1])
            and (left[3] == right[4] if left[3] == PAID else  # PAID == KIND_PAID == "paid"
                 KIND_OF.get(left[3]) == right[4]))


def payment_pairing(rules: PaymentRules, carried: frozenset = frozenset()) -> Pairing:
    """The pairing of ledger and statement; ``carried`` are yesterday's TIMING records."""
    if carried:  # a carried record must come back even when it pairs clean: that clears it
        def clean(left, right):
            return _consistent(left, right) and left not in carried and right not in carried
    else:
        clean = _consistent
    return Pairing(
        name="payment_code",
        left_group=itemgetter(0),  # payment_code
        right_group=itemgetter(0),  # reference
        clean=clean,
        amount=itemgetter(2),  # amount_fen
        refinements=(Refinement("transaction_id", lambda l: l.transaction_id or None,
                                lambda r: r.transaction_id or None),),
        tolerances=rules.tolerances,
        # (code, transaction, amount, status) == (reference, transaction, amount, kind) holds only for
        # status "paid" == kind "paid" with equal numbers and amounts: a clean pair by _consistent.
        fast_keys=(itemgetter(0, 1, 2, 3), itemgetter(0, 1, 2, 4)),
        fast_exclude=frozenset(r[0] for r in carried),
    )


def reconcile_payments(ledger: Iterable[LedgerPayment], statement: Iterable[StatementEntry], day: date,
                       rules: PaymentRules = PaymentRules(),
                       carried: Sequence[Discrepancy] = ()) -> RunResult:
    """Reconcile one business day; ``carried`` are the previous run's TIMING discrepancies."""
    carried_left, carried_right = carried_records(carried)
    pairing = payment_pairing(rules, frozenset(carried_left) | frozenset(carried_right))
    found = match(pairing, chain(ledger, carried_left), chain(statement, carried_right))
    return classify_payments(found, day, rules)


def carried_records(carried: Sequence[Discrepancy]) -> tuple[list[LedgerPayment], list[StatementEntry]]:
    """The ledger and statement records of yesterday's carried TIMING items."""
    return ([r for d in carried if d.category == c.TIMING for r in d.left],
            [r for d in carried if d.category == c.TIMING for r in d.right])


def classify_payments(found: Matching, day: date, rules: PaymentRules) -> RunResult:
    """The discrepancies of a day from what the engine found."""
    cutoff = cutoff_epoch(day, rules)
    out: list[Discrepancy] = []
    cleared: list[Discrepancy] = []
    for pair in found.pairs:
        d = _classify_pair(pair)
        if d is None:
            cleared.append(Discrepancy(c.TIMING, pair.left.payment_code, (pair.left,), (pair.right,),
                                       rule=pair.rule, left_amount_fen=pair.left.amount_fen,
                                       right_amount_fen=pair.right.amount_fen))
        else:
            out.append(d)
    for record in found.left_only:
        d = _left_only(record, cutoff, rules)
        if d is not None:
            out.append(d)
    for record in found.right_only:
        out.append(_right_only(record, cutoff, rules))
    for surplus in found.surplus:
        d = _surplus(surplus)
        if d is not None:
            out.append(d)
    for ambiguity in found.ambiguous:
        out.append(_ambiguous(ambiguity))
    return RunResult("payments", day, found.clean_count, found.clean_amount_fen, out, cleared)


def _classify_pair(pair: Match) -> Discrepancy | None:
    """A pair that was not clean (or involves a carried record: ``None`` means cleared)."""
    left, right = pair.left, pair.right
    common = dict(key=left.payment_code, left=(left,), right=(right,), rule=pair.rule,
                  left_amount_fen=left.amount_fen, right_amount_fen=right.amount_fen)
    kind = KIND_OF.get(left.status)
    if kind != right.kind:
        subtype = "unpaid_here_paid_there" if left.status == UNPAID else f"{left.status}_here_{right.kind}_there"
        return Discrepancy(c.STATUS_MISMATCH, subtype=subtype, **common)
    if pair.rule not in _EXACT_RULES:  # paired by a tolerance rule: a proposal, whatever the amounts
        return Discrepancy(c.PROPOSED, subtype=pair.rule, **common)
    if left.amount_fen != right.amount_fen:
        if right.fee_fen and right.amount_fen + right.fee_fen == left.amount_fen:
            return Discrepancy(c.FEE, subtype="net_of_fee", **common)
        return Discrepancy(c.AMOUNT_MISMATCH, **common)
    if left.transaction_id and left.transaction_id != right.transaction_id:
        return Discrepancy(c.STATUS_MISMATCH, subtype="transaction_id_differs", **common)
    return None  # consistent: a carried record found its partner


def _near_cutoff(moment: int, cutoff: int, rules: PaymentRules) -> bool:
    return abs(moment - cutoff) <= rules.timing_window_seconds


def _left_only(record: LedgerPayment, cutoff: int, rules: PaymentRules) -> Discrepancy | None:
    if record.status == UNPAID:
        return None  # an unpaid notice the statement does not mention is as it should be
    common = dict(key=record.payment_code, left=(record,), left_amount_fen=record.amount_fen)
    if _near_cutoff(record.paid_at, cutoff, rules):
        return Discrepancy(c.TIMING, subtype="ledger_before_cutoff", **common)
    if record.status == REFUNDED:
        return Discrepancy(c.STATUS_MISMATCH, subtype="refund_in_ledger_only", **common)
    return Discrepancy(c.SHORT, **common)


def _right_only(record: StatementEntry, cutoff: int, rules: PaymentRules) -> Discrepancy:
    common = dict(key=record.reference, right=(record,), right_amount_fen=record.amount_fen)
    if not rules.is_ours(record.reference):
        return Discrepancy(c.UNIDENTIFIED, subtype=record.kind, **common)
    if _near_cutoff(record.at, cutoff, rules):
        return Discrepancy(c.TIMING, subtype="statement_across_cutoff", **common)
    return Discrepancy(c.LONG, subtype=record.kind, **common)


def _surplus(surplus: Surplus) -> Discrepancy | None:
    record = surplus.record
    if surplus.side == "right":
        common = dict(key=surplus.key, left=surplus.partners, right=(record,), right_amount_fen=record.amount_fen)
        if record.kind == KIND_PAID:
            return Discrepancy(c.DUPLICATE, subtype="second_payment", **common)
        if any(p.status == REFUNDED for p in surplus.partners):
            return Discrepancy(c.DUPLICATE, subtype="second_refund", **common)
        return Discrepancy(c.STATUS_MISMATCH, subtype="refund_on_statement_only", **common)
    common = dict(key=surplus.key, left=(record,), right=surplus.partners, left_amount_fen=record.amount_fen)
    if record.status == REFUNDED:
        return Discrepancy(c.STATUS_MISMATCH, subtype="refund_in_ledger_only", **common)
    if record.status == PAID:
        return Discrepancy(c.SHORT, subtype="second_payment_in_ledger", **common)
    return None


def _ambiguous(ambiguity: Ambiguity) -> Discrepancy:
    key = ambiguity.key if isinstance(ambiguity.key, str) else ""
    return Discrepancy(c.AMBIGUOUS, key=key, left=ambiguity.lefts, right=ambiguity.rights, subtype=ambiguity.rule,
                       left_amount_fen=sum(r.amount_fen for r in ambiguity.lefts),
                       right_amount_fen=sum(r.amount_fen for r in ambiguity.rights))
