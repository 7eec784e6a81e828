"""The payment bridge's pure decisions: no database, no platform, no clock of their own.

What a platform's confirmation does to a notice in each state, what can still be refunded, what a
refund's success moves the notice to, whether a notice can be closed, what the poller does with a
platform's answer, and the state sets other areas read (all derived from `payment_bridge.states`).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from kernel.errors import CodedError
from kernel.errors import Refused as KernelRefused
from payment_bridge.domain import (CLOSED_STATES, OPEN_STATES, PAID_STATES, SETTLED_STATES, PollAction,
                                   check_refund, decide_close, decide_confirmation, decide_poll, refund_success,
                                   refundable_fen)
from payment_bridge.errors import NoticeClosed, NoticePaid, PaymentError, Refused
from payment_bridge.platforms.base import ConfirmedPayment, PlatformUnavailable, QueryResult
from payment_bridge.states import TRANSITIONS, Event, State

NOW = datetime(2031, 5, 6, 7, 8, tzinfo=timezone.utc)


@dataclass
class Notice:
    status: str
    total_fen: int = 1000
    paid_fen: int = 0
    refunded_fen: int = 0
    payment_code: str = "340100250000001"
    due_at: datetime = NOW + timedelta(days=1)


def _payment(amount_fen=1000, payer_token=None, order_ref="340100250000001"):
    return ConfirmedPayment(order_ref=order_ref, transaction_id="T-1", amount_fen=amount_fen, paid_at=NOW,
                            payer_token=payer_token)


# ------------------------------------------------------------------ state sets
def test_state_sets_have_the_members_the_three_old_copies_agreed_on():
    assert OPEN_STATES == {State.CREATED, State.REGISTERED, State.EXPIRED}
    assert PAID_STATES == {State.PAID, State.REFUND_PENDING, State.PARTLY_REFUNDED, State.REFUNDED,
                           State.PAID_AFTER_CLOSE}
    assert CLOSED_STATES == {State.CANCELLED, State.PAID_AFTER_CLOSE}
    # supervision's "the notice is settled" (the case timeline's TERMINAL_NOTICE before)
    assert SETTLED_STATES == {"paid", "expired", "cancelled", "refund_pending", "partly_refunded", "refunded",
                              "failed"}


def test_state_sets_follow_the_table():
    # open: a payment is applied to it; paid: money was taken and not (all) given back yet or ever
    assert OPEN_STATES == {source for (source, event) in TRANSITIONS if event is Event.PAID}
    assert all((state, Event.REFUND_REQUESTED) in TRANSITIONS for state in PAID_STATES - {State.REFUND_PENDING,
                                                                                          State.REFUNDED})
    assert not OPEN_STATES & PAID_STATES


def test_state_sets_are_exported_once_through_the_api():
    import payment_bridge.api as api
    import payment_bridge.domain as domain

    assert api.PAID_STATES is domain.PAID_STATES and api.OPEN_STATES is domain.OPEN_STATES
    assert api.SETTLED_STATES is domain.SETTLED_STATES


# ------------------------------------------------------------------ confirmations
@pytest.mark.parametrize("status", sorted(OPEN_STATES))
def test_confirmation_of_an_open_notice_is_applied(status):
    decision = decide_confirmation(Notice(status), _payment())
    assert (decision.outcome, decision.event, decision.error, decision.records) == ("applied", Event.PAID, None, True)


@pytest.mark.parametrize("status", sorted(PAID_STATES))
def test_second_payment_of_a_paid_notice_is_kept_for_reconciliation(status):
    decision = decide_confirmation(Notice(status), _payment())
    assert (decision.outcome, decision.event, decision.error, decision.records) == \
        ("duplicate_payment", None, None, True)


def test_payment_of_a_closed_notice_is_recorded_then_refused():
    decision = decide_confirmation(Notice(State.CANCELLED), _payment())
    assert decision.outcome == "paid_after_close" and decision.event is Event.PAID_AFTER_CLOSE
    assert decision.records
    assert isinstance(decision.error, NoticeClosed)
    assert (decision.error.status, decision.error.code) == (409, "notice_closed")
    assert decision.error.details == {"payment_code": "340100250000001", "status": "paid_after_close"}


def test_payment_of_a_failed_notice_is_recorded_unapplied():
    decision = decide_confirmation(Notice(State.FAILED), _payment())
    assert (decision.outcome, decision.event, decision.error, decision.records) == ("unapplied", None, None, True)


def test_every_state_has_a_confirmation_decision():
    outcomes = {state: decide_confirmation(Notice(state), _payment()).outcome for state in State}
    assert set(outcomes.values()) == {"applied", "duplicate_payment", "paid_after_close", "unapplied"}


def test_replayed_transaction_is_a_duplicate_and_never_recorded_twice():
    decision = decide_confirmation(Notice(State.PAID), _payment(), seen="applied")
    assert (decision.outcome, decision.event, decision.error, decision.records) == ("duplicate", None, None, False)
    decision = decide_confirmation(None, _payment(), seen="duplicate_payment")
    assert decision.outcome == "duplicate" and not decision.records


def test_replayed_payment_after_close_is_refused_every_time():
    decision = decide_confirmation(None, _payment(order_ref="PC-9"), seen="paid_after_close")
    assert decision.outcome == "duplicate" and not decision.records
    assert isinstance(decision.error, NoticeClosed) and decision.error.details["payment_code"] == "PC-9"


def test_unknown_notice_is_refused_404():
    decision = decide_confirmation(None, _payment(order_ref="PC-X"))
    assert decision.outcome == "refused" and not decision.records and decision.event is None
    assert (decision.error.status, decision.error.code, decision.error.details) == \
        (404, "unknown_notice", {"payment_code": "PC-X"})


@pytest.mark.parametrize("status", list(State))
def test_amount_mismatch_is_refused_in_every_state(status):
    decision = decide_confirmation(Notice(status, total_fen=1000), _payment(amount_fen=999))
    assert decision.outcome == "refused" and not decision.records
    assert (decision.error.status, decision.error.code) == (422, "amount_mismatch")
    assert "999" in decision.error.message and "1000" in decision.error.message


def test_payer_mismatch_is_refused_and_a_missing_token_is_not_checked():
    decision = decide_confirmation(Notice(State.REGISTERED), _payment(payer_token="OTHER"), payer_token="MINE")
    assert (decision.outcome, decision.error.status, decision.error.code) == ("refused", 422, "payer_mismatch")
    assert decide_confirmation(Notice(State.REGISTERED), _payment(payer_token="MINE"),
                               payer_token="MINE").outcome == "applied"
    assert decide_confirmation(Notice(State.REGISTERED), _payment(), payer_token="MINE").outcome == "applied"


# ------------------------------------------------------------------ refunds
def test_refundable_is_paid_less_refunded_less_pending():
    assert refundable_fen(1000, 0, 0) == 1000
    assert refundable_fen(1000, 300, 200) == 500
    assert refundable_fen(1000, 1000, 0) == 0


@pytest.mark.parametrize("status", [State.PAID, State.PARTLY_REFUNDED, State.PAID_AFTER_CLOSE])
def test_refund_within_the_refundable_amount_passes(status):
    assert check_refund(Notice(status, paid_fen=1000, refunded_fen=200), pending_fen=0, amount_fen=800) == 800


def test_refund_above_the_refundable_amount_is_refused():
    with pytest.raises(Refused) as caught:
        check_refund(Notice(State.PARTLY_REFUNDED, paid_fen=1000, refunded_fen=200), pending_fen=0, amount_fen=801)
    assert (caught.value.status, caught.value.code, caught.value.details) == \
        (409, "refund_exceeds_refundable", {"refundable_fen": 800})
    with pytest.raises(Refused):
        check_refund(Notice(State.PAID, paid_fen=1000), pending_fen=0, amount_fen=0)


@pytest.mark.parametrize("status", sorted(set(State) - {State.PAID, State.PARTLY_REFUNDED, State.PAID_AFTER_CLOSE}))
def test_refund_in_any_other_state_is_refused(status):
    with pytest.raises(Refused) as caught:
        check_refund(Notice(status, paid_fen=1000), pending_fen=0, amount_fen=1)
    assert (caught.value.status, caught.value.code) == (409, "refund_not_allowed")
    assert caught.value.details["status"] == status
    assert ("in progress" in caught.value.message) is (status == State.REFUND_PENDING)


def test_refund_pending_reports_what_is_left_after_the_pending_one():
    with pytest.raises(Refused) as caught:
        check_refund(Notice(State.REFUND_PENDING, paid_fen=1000), pending_fen=400, amount_fen=1)
    assert caught.value.details == {"status": "refund_pending", "refundable_fen": 600}


def test_refund_success_moves_to_refunded_or_partly_refunded():
    assert refund_success(Notice(State.REFUND_PENDING, paid_fen=1000), amount_fen=1000) == (Event.REFUNDED, 1000)
    assert refund_success(Notice(State.REFUND_PENDING, paid_fen=1000, refunded_fen=300), amount_fen=400) == \
        (Event.PARTLY_REFUNDED, 700)
    assert refund_success(Notice(State.REFUND_PENDING, paid_fen=1000, refunded_fen=300), amount_fen=700) == \
        (Event.REFUNDED, 1000)


# ------------------------------------------------------------------ closing
@pytest.mark.parametrize("status", sorted(OPEN_STATES))
def test_open_notice_is_closed(status):
    assert decide_close(Notice(status)) is True


@pytest.mark.parametrize("status", sorted(CLOSED_STATES | {State.FAILED}))
def test_closed_or_failed_notice_is_returned_as_it_is(status):
    assert decide_close(Notice(status)) is False


@pytest.mark.parametrize("status", sorted(PAID_STATES - CLOSED_STATES))
def test_paid_notice_is_not_closed_but_refunded(status):
    with pytest.raises(NoticePaid) as caught:
        decide_close(Notice(status, paid_fen=1000, refunded_fen=300))
    assert (caught.value.status, caught.value.code) == (409, "notice_paid")
    assert caught.value.details == {"status": status, "refundable_fen": 700}


# ------------------------------------------------------------------ polling
def test_poll_applies_a_payment_the_platform_reports():
    result = QueryResult(State.PAID, _payment())
    for status in (State.REGISTERED, State.EXPIRED, State.CANCELLED):
        assert decide_poll(Notice(status), result, NOW) is PollAction.APPLY


def test_poll_cancels_a_registered_notice_the_platform_cancelled():
    assert decide_poll(Notice(State.REGISTERED), QueryResult(State.CANCELLED), NOW) is PollAction.CANCEL
    assert decide_poll(Notice(State.EXPIRED), QueryResult(State.CANCELLED), NOW) is PollAction.TOUCH


def test_poll_expires_an_overdue_registered_notice():
    assert decide_poll(Notice(State.REGISTERED), QueryResult(State.EXPIRED), NOW) is PollAction.EXPIRE
    overdue = Notice(State.REGISTERED, due_at=NOW)
    assert decide_poll(overdue, QueryResult(State.REGISTERED), NOW) is PollAction.CLOSE_AND_EXPIRE
    assert decide_poll(Notice(State.REGISTERED), QueryResult(State.REGISTERED), NOW) is PollAction.TOUCH
    assert decide_poll(Notice(State.CANCELLED, due_at=NOW), QueryResult(State.REGISTERED), NOW) is PollAction.TOUCH


# ------------------------------------------------------------------ errors
def test_refusals_are_the_kernels_coded_errors_and_payment_errors():
    for cls in (Refused, NoticePaid, NoticeClosed):
        assert issubclass(cls, KernelRefused) and issubclass(cls, PaymentError) and issubclass(cls, CodedError)
    refused = Refused(503, "payment_code_unavailable", "retry", {"x": 1})
    assert (refused.status, refused.code, refused.message, refused.details) == \
        (503, "payment_code_unavailable", "retry", {"x": 1})


def test_payment_errors_as_an_api_caller_sees_them():
    from payment_bridge.errors import ChannelError, for_caller

    refused = Refused(409, "notice_paid", "m", {"status": "paid"})
    assert for_caller(refused) is refused and refused.headers == {}
    assert Refused(503, "payment_code_unavailable", "m").headers == {"Retry-After": "30"}
    down = for_caller(PlatformUnavailable("timed out"))
    assert (down.status, down.code, down.message, down.headers) == \
        (503, "platform_unavailable", "The payment platform is not answering; try again later.",
         {"Retry-After": "30"})
    said_no = for_caller(ChannelError("no such order", platform_code="ORDERNOTEXIST"))
    assert (said_no.status, said_no.code, said_no.message, said_no.details) == \
        (502, "channel_rejected", "The payment platform refused: no such order", {})
