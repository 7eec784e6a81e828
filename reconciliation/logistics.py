"""Postage payments vs waybills vs courier bills: the three-way reconciliation of R7.

Two pairings through the same engine: postage payments meet shipments on the payment code
(``Shipment.postage_code``), shipments meet courier bill lines on the waybill number. Every
finding is a LOGISTICS discrepancy with its subtype (a second payment for one postage code is a
DUPLICATE, a paid amount other than the quote an AMOUNT_MISMATCH).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from reconciliation import categories as c
from reconciliation.categories import Discrepancy, RunResult
from reconciliation.engine import Pairing, match
from reconciliation.records import BOOKED, CANCELLED, PAID, CourierCharge, LedgerPayment, Shipment


@dataclass(frozen=True)
class LogisticsRules:
    weight_tolerance_g: int = 0  # billed weight may exceed the declared weight by this much
    fee_tolerance_fen: int = 0  # billed freight may differ from the quote by this much


def postage_pairing() -> Pairing:
    return Pairing(
        name="postage_code",
        left_group=lambda p: p.payment_code,
        right_group=lambda s: s.postage_code or None,
        clean=lambda p, s: p.status == PAID and p.amount_fen == s.quote_fen,
        amount=lambda p: p.amount_fen,
    )


def bill_pairing(rules: LogisticsRules) -> Pairing:
    def clean(s: Shipment, b: CourierCharge) -> bool:
        return _bill_problem(s, b, rules) is None

    return Pairing(
        name="waybill_no",
        left_group=lambda s: s.waybill_no,
        right_group=lambda b: b.waybill_no,
        clean=clean,
        amount=lambda s: s.quote_fen,
    )


def _bill_problem(s: Shipment, b: CourierCharge, rules: LogisticsRules) -> str | None:
    if b.status == CANCELLED:
        return None if s.status == CANCELLED else "cancelled_by_courier"
    if s.status == CANCELLED:
        return c.CANCELLED_BUT_BILLED
    if abs(b.weight_g - s.weight_g) > rules.weight_tolerance_g:
        return c.WEIGHT_DIFFERS
    if b.surcharge_fen:
        return c.SURCHARGE_DIFFERS
    if abs(b.fee_fen - s.quote_fen) > rules.fee_tolerance_fen:
        return c.FEE_DIFFERS_FROM_QUOTE
    return None


def reconcile_logistics(postage: Iterable[LedgerPayment], shipments: Iterable[Shipment],
                        bill: Iterable[CourierCharge], day: date,
                        rules: LogisticsRules = LogisticsRules()) -> RunResult:
    """Reconcile postage payments, shipments and courier bill lines of one day."""
    shipments = list(shipments)
    out: list[Discrepancy] = []
    paid = match(postage_pairing(), postage, shipments)
    for pair in paid.pairs:
        p, s = pair.left, pair.right
        category = c.AMOUNT_MISMATCH if p.status == PAID else c.STATUS_MISMATCH
        out.append(Discrepancy(category, s.waybill_no, (p,), (s,), subtype="postage_vs_quote", rule=pair.rule,
                               left_amount_fen=p.amount_fen, right_amount_fen=s.quote_fen))
    for p in paid.left_only:
        if p.status == PAID:
            out.append(Discrepancy(c.LOGISTICS, p.payment_code, (p,), (), subtype=c.POSTAGE_WITHOUT_WAYBILL,
                                   left_amount_fen=p.amount_fen))
    for s in paid.right_only:
        if s.status == BOOKED:
            out.append(Discrepancy(c.LOGISTICS, s.waybill_no, (), (s,), subtype=c.WAYBILL_WITHOUT_PAYMENT,
                                   right_amount_fen=s.quote_fen))
    for surplus in paid.surplus:
        if surplus.side == "left":
            out.append(Discrepancy(c.DUPLICATE, surplus.key, (surplus.record,), surplus.partners,
                                   subtype="second_postage_payment", left_amount_fen=surplus.record.amount_fen))
        else:
            out.append(Discrepancy(c.LOGISTICS, surplus.record.waybill_no, surplus.partners, (surplus.record,),
                                   subtype=c.WAYBILL_WITHOUT_PAYMENT, right_amount_fen=surplus.record.quote_fen))
    for amb in paid.ambiguous:
        out.append(Discrepancy(c.AMBIGUOUS, str(amb.key or ""), amb.lefts, amb.rights, subtype=amb.rule))

    billed = match(bill_pairing(rules), shipments, bill)
    for pair in billed.pairs:
        s, b = pair.left, pair.right
        subtype = _bill_problem(s, b, rules)
        category = c.STATUS_MISMATCH if subtype == "cancelled_by_courier" else c.LOGISTICS
        out.append(Discrepancy(category, s.waybill_no, (s,), (b,), subtype=subtype, rule=pair.rule,
                               left_amount_fen=s.quote_fen, right_amount_fen=b.total_fen))
    for b in billed.right_only:
        if b.status != CANCELLED:
            out.append(Discrepancy(c.LOGISTICS, b.waybill_no, (), (b,), subtype=c.BILLED_WITHOUT_WAYBILL,
                                   right_amount_fen=b.total_fen))
    for surplus in billed.surplus:
        if surplus.side == "right" and surplus.record.status != CANCELLED:
            out.append(Discrepancy(c.LOGISTICS, surplus.key, surplus.partners, (surplus.record,),
                                   subtype=c.BILLED_TWICE, right_amount_fen=surplus.record.total_fen))
    for amb in billed.ambiguous:
        out.append(Discrepancy(c.AMBIGUOUS, str(amb.key or ""), amb.lefts, amb.rights, subtype=amb.rule))
    # Shipments not on the bill yet are not findings: couriers bill later than they carry.
    return RunResult("logistics", day, paid.clean_count + billed.clean_count,
                     paid.clean_amount_fen + billed.clean_amount_fen, out)



