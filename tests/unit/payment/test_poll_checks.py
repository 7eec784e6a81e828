"""The payments poll's schedules: when the platform is asked after a waiting notice (domain.next_platform_check)
and when a paid notice's missing e-receipt is looked for or given up (domain.receipt_check)."""
from datetime import datetime, timedelta, timezone

from payment_bridge.domain import ASK_DAYS, RECEIPT_DAYS, asks_platform, next_platform_check, receipt_check, \
    searches_receipt

PAID_AT = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
RETRY = timedelta(seconds=60)


def test_only_a_paid_non_tax_notice_has_an_e_receipt_to_look_for():
    assert searches_receipt("nontax", "paid") and searches_receipt("nontax", "refunded")
    assert not searches_receipt("nontax", "registered") and not searches_receipt("nontax", "expired")
    assert not searches_receipt("wechatpay", "paid")


def test_a_found_receipt_ends_the_checks():
    check = receipt_check(True, PAID_AT, PAID_AT + timedelta(days=RECEIPT_DAYS + 5), RETRY)
    assert (check.search, check.next_at, check.give_up) == (False, None, False)


def test_a_young_notice_is_asked_about_after_the_retry_then_less_often_at_most_daily():
    first = receipt_check(False, PAID_AT, PAID_AT, RETRY)
    assert first.search and first.next_at == PAID_AT + RETRY and not first.give_up
    later = receipt_check(False, PAID_AT, PAID_AT + timedelta(hours=8), RETRY)
    assert later.next_at == PAID_AT + timedelta(hours=10)  # a quarter of its age
    old = receipt_check(False, PAID_AT, PAID_AT + timedelta(days=10), RETRY)
    assert old.next_at == PAID_AT + timedelta(days=11)


def test_a_receipt_that_never_comes_costs_a_few_looks_and_is_given_up_when_its_window_closes():
    now, looks = PAID_AT, 0
    while True:
        check = receipt_check(False, PAID_AT, now, RETRY)
        if check.give_up:
            break
        assert check.search and now < check.next_at <= PAID_AT + timedelta(days=RECEIPT_DAYS)
        looks, now = looks + 1, check.next_at
    assert now == PAID_AT + timedelta(days=RECEIPT_DAYS)  # given up as the window closes, not a day late
    assert 30 <= looks <= 80, looks  # some 60, not one a minute for 30 days (43,200)


def test_a_check_found_late_past_the_window_gives_up_without_asking():
    check = receipt_check(False, PAID_AT, PAID_AT + timedelta(days=RECEIPT_DAYS, hours=1), RETRY)
    assert check.give_up and not check.search and check.next_at is None


# ------------------------------------------------------------------ the platform asked after waiting notices
DUE = PAID_AT + timedelta(days=9)


def test_only_notices_a_payment_may_reach_unseen_are_asked_after():
    assert asks_platform("registered") and asks_platform("expired") and asks_platform("cancelled")
    assert not asks_platform("created") and not asks_platform("paid") and not asks_platform("refunded")
    assert next_platform_check("paid", False, DUE, PAID_AT, PAID_AT, RETRY) is None
    # cancelled: only where the platform could not withdraw it
    assert next_platform_check("cancelled", True, DUE, PAID_AT, PAID_AT, RETRY) is None
    assert next_platform_check("cancelled", False, DUE, PAID_AT, PAID_AT, RETRY) == PAID_AT + RETRY


def test_a_payable_notice_is_asked_after_at_least_hourly_an_expired_one_daily():
    registered_at = PAID_AT
    assert next_platform_check("registered", False, DUE, registered_at, registered_at, RETRY) == registered_at + RETRY
    at = registered_at + timedelta(minutes=40)
    assert next_platform_check("registered", False, DUE, registered_at, at, RETRY) == at + timedelta(minutes=10)
    at = registered_at + timedelta(days=5)
    assert next_platform_check("registered", False, DUE, registered_at, at, RETRY) == at + timedelta(hours=1)
    assert next_platform_check("expired", False, DUE, DUE, DUE + timedelta(days=8), RETRY) == DUE + timedelta(days=9)


def test_asking_ends_thirty_days_after_the_due_date():
    closes = DUE + timedelta(days=ASK_DAYS)
    assert next_platform_check("expired", False, DUE, DUE, closes - timedelta(hours=2), RETRY) == closes
    assert next_platform_check("expired", False, DUE, DUE, closes, RETRY) is None
