"""Generated data sets with a known number of discrepancies of every category.

For the tests, the benchmark and demonstrations: ``payment_scenario`` builds one business day's
ledger and statement (plus the next day's, so TIMING items can be carried and cleared) in which
every category of DOMAIN.md section 5 appears exactly ``per_category`` times;
``logistics_scenario`` does the same for postage payments, waybills and courier bills.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from reconciliation import categories as c
from reconciliation.payments import PaymentRules, cutoff_epoch
from reconciliation.records import (BILLED, BOOKED, CANCELLED, KIND_PAID, KIND_REFUND, PAID, REFUNDED, UNPAID,
                                    CourierCharge, LedgerPayment, Shipment, StatementEntry)

OUR_DIVISION = "340100"
FOREIGN_DIVISION = "999999"

PAYMENT_CASES = ("LONG", "SHORT", "AMOUNT_MISMATCH", "FEE", "STATUS_unpaid", "STATUS_refund_statement",
                 "STATUS_refund_ledger", "DUPLICATE", "TIMING_ledger", "TIMING_statement", "UNIDENTIFIED",
                 "AMBIGUOUS")
_CATEGORY_OF = {"STATUS_unpaid": c.STATUS_MISMATCH, "STATUS_refund_statement": c.STATUS_MISMATCH,
                "STATUS_refund_ledger": c.STATUS_MISMATCH, "TIMING_ledger": c.TIMING,
                "TIMING_statement": c.TIMING}


def our_reference(reference: str) -> bool:
    return reference.startswith(OUR_DIVISION)


def payment_rules(**changes) -> PaymentRules:
    return PaymentRules(is_ours=our_reference, **changes)


@dataclass
class PaymentScenario:
    day: date
    ledger: list[LedgerPayment]
    statement: list[StatementEntry]
    expected: Counter = field(default_factory=Counter)  # category -> count
    next_ledger: list[LedgerPayment] = field(default_factory=list)  # the next day: clears the TIMING items
    next_statement: list[StatementEntry] = field(default_factory=list)
    expected_cleared: int = 0


def payment_scenario(day: date, clean: int, per_category: int, *, seed: int = 0,
                     rules: PaymentRules | None = None) -> PaymentScenario:
    """``clean`` consistent payments plus ``per_category`` cases of each of :data:`PAYMENT_CASES`."""
    rules = rules or payment_rules()
    rnd = random.Random(seed)
    cutoff = cutoff_epoch(day, rules)
    day_start = cutoff - 86400
    yy = f"{day.year % 100:02d}"
    ledger: list[LedgerPayment] = []
    lines: list[tuple] = []
    seq = 0

    def code(division: str = OUR_DIVISION) -> str:
        nonlocal seq
        seq += 1
        return f"{division}{yy}30{seq:010d}"

    def txn() -> str:
        return f"B{day:%y%m%d}{seq:010d}{rnd.randrange(10)}"

    def moment() -> int:  # well inside the day, away from the cut-off window
        return day_start + 3600 + rnd.randrange(86400 - 7200)

    def amount() -> int:
        return rnd.randrange(100, 500_000)

    for _ in range(clean):
        k, t, a, m = code(), txn(), amount(), moment()
        ledger.append(LedgerPayment(k, t, a, PAID, m))
        lines.append((k, t, a, 0, KIND_PAID, m + rnd.randrange(3)))
    expected: Counter = Counter()
    next_ledger: list[LedgerPayment] = []
    next_lines: list[tuple] = []
    for case in PAYMENT_CASES:
        for _ in range(per_category):
            k, t, a, m = code(), txn(), amount(), moment()
            if case == "LONG":
                lines.append((k, t, a, 0, KIND_PAID, m))
            elif case == "SHORT":
                ledger.append(LedgerPayment(k, t, a, PAID, m))
            elif case == "AMOUNT_MISMATCH":
                ledger.append(LedgerPayment(k, t, a, PAID, m))
                lines.append((k, t, a + rnd.choice((-1, 1)) * rnd.randrange(1, 99), 0, KIND_PAID, m))
            elif case == "FEE":
                fee = max(1, a // 200)
                ledger.append(LedgerPayment(k, t, a, PAID, m))
                lines.append((k, t, a - fee, fee, KIND_PAID, m))
            elif case == "STATUS_unpaid":
                ledger.append(LedgerPayment(k, "", a, UNPAID, 0))
                lines.append((k, t, a, 0, KIND_PAID, m))
            elif case == "STATUS_refund_statement":
                ledger.append(LedgerPayment(k, t, a, PAID, m))
                lines.append((k, t, a, 0, KIND_PAID, m))
                lines.append((k, "R" + t, a, 0, KIND_REFUND, m + 600))
            elif case == "STATUS_refund_ledger":
                ledger.append(LedgerPayment(k, t, a, PAID, m))
                ledger.append(LedgerPayment(k, "R" + t, a, REFUNDED, m + 600))
                lines.append((k, t, a, 0, KIND_PAID, m))
            elif case == "DUPLICATE":  # paid online and again at the counter
                ledger.append(LedgerPayment(k, t, a, PAID, m))
                lines.append((k, t, a, 0, KIND_PAID, m))
                lines.append((k, "C" + t, a, 0, KIND_PAID, m + 1800))
            elif case == "TIMING_ledger":  # we saw it just before midnight, the platform books it tomorrow
                late = cutoff - 1 - rnd.randrange(rules.timing_window_seconds // 2)
                ledger.append(LedgerPayment(k, t, a, PAID, late))
                next_lines.append((k, t, a, 0, KIND_PAID, cutoff + rnd.randrange(60)))
            elif case == "TIMING_statement":  # the platform booked it today, our callback came after midnight
                late = cutoff - 1 - rnd.randrange(rules.timing_window_seconds // 2)
                lines.append((k, t, a, 0, KIND_PAID, late))
                next_ledger.append(LedgerPayment(k, t, a, PAID, cutoff + rnd.randrange(60)))
            elif case == "UNIDENTIFIED":
                lines.append((code(FOREIGN_DIVISION), t, a, 0, KIND_PAID, m))
            elif case == "AMBIGUOUS":  # an unpaid notice and two different payments quoting its code
                ledger.append(LedgerPayment(k, "", a, UNPAID, 0))
                lines.append((k, t, a, 0, KIND_PAID, m))
                lines.append((k, "X" + t, a + 100, 0, KIND_PAID, m + 60))
            expected[_CATEGORY_OF.get(case, case)] += 1
    rnd.shuffle(ledger)
    rnd.shuffle(lines)
    statement = [StatementEntry(*line, n) for n, line in enumerate(lines, start=3)]
    next_statement = [StatementEntry(*line, n) for n, line in enumerate(next_lines, start=3)]
    return PaymentScenario(day, ledger, statement, expected, next_ledger, next_statement,
                           expected_cleared=2 * per_category)


LOGISTICS_CASES = (c.POSTAGE_WITHOUT_WAYBILL, c.WAYBILL_WITHOUT_PAYMENT, c.FEE_DIFFERS_FROM_QUOTE,
                   c.CANCELLED_BUT_BILLED, c.BILLED_TWICE, c.WEIGHT_DIFFERS, c.SURCHARGE_DIFFERS,
                   c.BILLED_WITHOUT_WAYBILL)


@dataclass
class LogisticsScenario:
    day: date
    postage: list[LedgerPayment]
    shipments: list[Shipment]
    bill: list[CourierCharge]
    expected: Counter = field(default_factory=Counter)  # "LOGISTICS/<subtype>" -> count


def logistics_scenario(day: date, clean: int, per_category: int, *, seed: int = 0) -> LogisticsScenario:
    rnd = random.Random(seed)
    base = cutoff_epoch(day, PaymentRules()) - 86400 + 3600
    postage: list[LedgerPayment] = []
    shipments: list[Shipment] = []
    bill: list[tuple] = []
    seq = 0

    def ids() -> tuple[str, str, int, int, int]:
        nonlocal seq
        seq += 1
        return (f"{OUR_DIVISION}{day.year % 100:02d}30{seq:010d}", f"SF{seq:012d}", rnd.randrange(800, 3000),
                rnd.randrange(100, 5000), base + rnd.randrange(80000))

    def normal(code, waybill, quote, weight, at, status=BOOKED):
        postage.append(LedgerPayment(code, "T" + code, quote, PAID, at))
        shipments.append(Shipment(waybill, "sf", quote, code, weight, status, at))

    for _ in range(clean):
        code, waybill, quote, weight, at = ids()
        normal(code, waybill, quote, weight, at)
        bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 3600))
    expected: Counter = Counter()
    for case in LOGISTICS_CASES:
        for _ in range(per_category):
            code, waybill, quote, weight, at = ids()
            if case == c.POSTAGE_WITHOUT_WAYBILL:
                postage.append(LedgerPayment(code, "T" + code, quote, PAID, at))
            elif case == c.WAYBILL_WITHOUT_PAYMENT:
                shipments.append(Shipment(waybill, "sf", quote, "", weight, BOOKED, at))
                bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 3600))
            elif case == c.FEE_DIFFERS_FROM_QUOTE:
                normal(code, waybill, quote, weight, at)
                bill.append((waybill, "sf", quote + rnd.randrange(1, 500), 0, weight, BILLED, at + 3600))
            elif case == c.CANCELLED_BUT_BILLED:
                normal(code, waybill, quote, weight, at, CANCELLED)
                bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 3600))
            elif case == c.BILLED_TWICE:
                normal(code, waybill, quote, weight, at)
                bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 3600))
                bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 7200))
            elif case == c.WEIGHT_DIFFERS:
                normal(code, waybill, quote, weight, at)
                bill.append((waybill, "sf", quote, 0, weight + 500, BILLED, at + 3600))
            elif case == c.SURCHARGE_DIFFERS:
                normal(code, waybill, quote, weight, at)
                bill.append((waybill, "sf", quote, 300, weight, BILLED, at + 3600))
            elif case == c.BILLED_WITHOUT_WAYBILL:
                bill.append((waybill, "sf", quote, 0, weight, BILLED, at + 3600))
            expected[f"{c.LOGISTICS}/{case}"] += 1
    rnd.shuffle(postage)
    rnd.shuffle(shipments)
    rnd.shuffle(bill)
    return LogisticsScenario(day, postage, shipments,
                             [CourierCharge(*line, n) for n, line in enumerate(bill, start=2)], expected)
