"""Postage payments vs waybills vs courier bills: every LOGISTICS subtype, three ways."""
from datetime import date

import pytest

from reconciliation import categories as c
from reconciliation.logistics import LogisticsRules, reconcile_logistics
from reconciliation.records import BILLED, BOOKED, CANCELLED, PAID, CourierCharge, LedgerPayment, Shipment
from reconciliation.scenarios import logistics_scenario

DAY = date(2024, 3, 15)
T = 1_710_460_800


def pay(n, amount=1200):
    return LedgerPayment(f"3401002430{n:010d}", f"T{n}", amount, PAID, T)


def ship(n, quote=1200, code=True, status=BOOKED, weight=1000):
    return Shipment(f"SF{n:012d}", "sf", quote, f"3401002430{n:010d}" if code else "", weight, status, T)


def bill(n, fee=1200, surcharge=0, weight=1000, status=BILLED, line=2):
    return CourierCharge(f"SF{n:012d}", "sf", fee, surcharge, weight, status, T + 3600, line)


@pytest.mark.parametrize("postage, shipments, lines, subtype", [
    ([pay(1)], [], [], c.POSTAGE_WITHOUT_WAYBILL),
    ([], [ship(1, code=False)], [bill(1)], c.WAYBILL_WITHOUT_PAYMENT),
    ([pay(1)], [ship(1)], [bill(1, fee=1500)], c.FEE_DIFFERS_FROM_QUOTE),
    ([pay(1)], [ship(1, status=CANCELLED)], [bill(1)], c.CANCELLED_BUT_BILLED),
    ([pay(1)], [ship(1)], [bill(1), bill(1, line=3)], c.BILLED_TWICE),
    ([pay(1)], [ship(1)], [bill(1, weight=1600)], c.WEIGHT_DIFFERS),
    ([pay(1)], [ship(1)], [bill(1, surcharge=200)], c.SURCHARGE_DIFFERS),
    ([], [], [bill(1)], c.BILLED_WITHOUT_WAYBILL),
])
def test_each_logistics_subtype(postage, shipments, lines, subtype):
    result = reconcile_logistics(postage, shipments, lines, DAY)
    assert [(d.category, d.subtype) for d in result.discrepancies] == [(c.LOGISTICS, subtype)]


def test_three_way_clean():
    result = reconcile_logistics([pay(1)], [ship(1)], [bill(1)], DAY)
    assert result.discrepancies == [] and result.matched_count == 2


def test_declared_weight_tolerance():
    rules = LogisticsRules(weight_tolerance_g=100)
    assert reconcile_logistics([pay(1)], [ship(1)], [bill(1, weight=1080)], DAY, rules).discrepancies == []


def test_postage_other_than_the_quote_is_an_amount_mismatch():
    [d] = reconcile_logistics([pay(1, amount=1000)], [ship(1)], [bill(1)], DAY).discrepancies
    assert d.category == c.AMOUNT_MISMATCH


def test_every_generated_logistics_discrepancy_is_found_exactly():
    s = logistics_scenario(DAY, clean=2000, per_category=5, seed=4)
    result = reconcile_logistics(s.postage, s.shipments, s.bill, DAY)
    assert result.counts() == dict(sorted(s.expected.items()))
    # the bill keeps its line order (the first of two clean lines is the match, the second is billed twice)
    again = reconcile_logistics(list(reversed(s.postage)), list(reversed(s.shipments)), s.bill, DAY)
    assert again.content_hash == result.content_hash
