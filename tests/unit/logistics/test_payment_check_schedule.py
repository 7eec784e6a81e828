"""When the logistics poll asks again after a leg's postage notice (domain.next_payment_check)."""
from datetime import datetime, timedelta, timezone

from logistics_bridge.domain import PAYMENT_CHECK_MAX, next_payment_check

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)
RETRY = timedelta(seconds=120)


def test_a_paid_notice_is_asked_after_again_after_the_booking_retry():
    assert next_payment_check(NOW - timedelta(days=30), NOW, RETRY, "paid") == NOW + RETRY


def test_an_unpaid_young_leg_is_asked_after_again_after_the_retry():
    assert next_payment_check(NOW - timedelta(minutes=3), NOW, RETRY, "open") == NOW + RETRY


def test_an_unpaid_leg_waits_a_quarter_of_its_age():
    assert next_payment_check(NOW - timedelta(hours=8), NOW, RETRY, "open") == NOW + timedelta(hours=2)
    assert next_payment_check(NOW - timedelta(hours=8), NOW, RETRY, None) == NOW + timedelta(hours=2)


def test_an_old_unpaid_leg_is_asked_after_once_a_day():
    assert next_payment_check(NOW - timedelta(days=40), NOW, RETRY, "expired") == NOW + PAYMENT_CHECK_MAX


def test_a_week_unpaid_costs_a_few_dozen_looks_not_one_a_round():
    created, at, looks = NOW, NOW + RETRY, 0
    while at < NOW + timedelta(days=7):
        at, looks = next_payment_check(created, at, RETRY, "open"), looks + 1
    assert 10 < looks < 40  # a round every minute would be 10,080
