"""The payment notice state machine: the table is the whole truth."""

import itertools

import pytest

from payment_bridge.errors import IllegalTransition
from payment_bridge.states import (
    FINAL_STATES,
    INITIAL_STATE,
    TRANSITIONS,
    Event,
    State,
    allowed_events,
    is_final,
    replay,
    transition,
)

ALL_PAIRS = list(itertools.product(State, Event))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]


@pytest.mark.parametrize(("state", "event"), list(TRANSITIONS))
def test_allowed_transitions(state, event):
    assert transition(state, event) == TRANSITIONS[(state, event)]
    assert transition(str(state), str(event)) == TRANSITIONS[(state, event)]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_illegal_transition_refused(state, event):
    with pytest.raises(IllegalTransition) as caught:
        transition(state, event)
    assert caught.value.state == state and caught.value.event == event
    assert caught.value.code == "illegal_transition"


def test_happy_path():
    assert replay(["payment.registered", "payment.paid"]) is State.PAID
    assert INITIAL_STATE is State.CREATED


def test_duplicate_paid_refused():
    with pytest.raises(IllegalTransition):
        replay(["payment.registered", "payment.paid", "payment.paid"])


def test_final_states():
    assert {State.FAILED, State.REFUNDED} == FINAL_STATES
    for state in State:
        assert is_final(state) == (not allowed_events(state))
    assert not is_final("expired")  # a late confirmation may still arrive
    assert not is_final("cancelled")  # ... and be paid at a platform that cannot withdraw the notice
    with pytest.raises(IllegalTransition):
        is_final("bogus")


def test_late_confirmation_after_expiry_is_accepted_but_not_after_cancel():
    assert replay(["payment.registered", "payment.expired", "payment.paid"]) is State.PAID
    with pytest.raises(IllegalTransition):
        replay(["payment.registered", "payment.cancelled", "payment.paid"])


def test_an_unpaid_notice_closes_and_a_closed_one_is_never_paid():
    for history in (["payment.registered"], ["payment.registered", "payment.expired"], []):
        assert replay([*history, "payment.cancelled"]) is State.CANCELLED
    assert allowed_events("cancelled") == {Event.PAID_AFTER_CLOSE}  # never payment.paid
    for paid in ("paid", "refund_pending", "partly_refunded", "refunded", "paid_after_close", "failed"):
        with pytest.raises(IllegalTransition):
            transition(paid, "payment.cancelled")  # paid: refund instead; failed: nothing to close
    with pytest.raises(IllegalTransition):
        transition("cancelled", "payment.cancelled")  # closing twice is the service's no-op, not an event


def test_money_after_close_can_only_go_back():
    closed_then_paid = ["payment.registered", "payment.cancelled", "payment.paid_after_close"]
    assert replay(closed_then_paid) is State.PAID_AFTER_CLOSE
    assert allowed_events("paid_after_close") == {Event.REFUND_REQUESTED}
    assert replay([*closed_then_paid, "payment.refund_requested", "payment.refund_failed"]) is State.PAID_AFTER_CLOSE
    assert transition("refund_pending", "payment.refund_failed", paid_after_close=True) is State.PAID_AFTER_CLOSE
    assert replay([*closed_then_paid, "payment.refund_requested", "payment.refunded"]) is State.REFUNDED
    partly = [*closed_then_paid, "payment.refund_requested", "payment.partly_refunded"]
    assert replay([*partly, "payment.refund_requested", "payment.refund_failed"]) is State.PARTLY_REFUNDED
    with pytest.raises(IllegalTransition):
        transition("paid_after_close", "payment.paid_after_close")


def test_refund_failure_returns_to_the_right_state():
    assert transition("refund_pending", "payment.refund_failed") is State.PAID
    assert (
        transition("refund_pending", "payment.refund_failed", earlier_refunds=True) is State.PARTLY_REFUNDED
    )
    history = [
        "payment.registered",
        "payment.paid",
        "payment.refund_requested",
        "payment.partly_refunded",
        "payment.refund_requested",
        "payment.refund_failed",
    ]
    assert replay(history) is State.PARTLY_REFUNDED
    assert replay([*history, "payment.refund_requested", "payment.refunded"]) is State.REFUNDED


def test_one_refund_in_flight():
    with pytest.raises(IllegalTransition):
        transition("refund_pending", "payment.refund_requested")


@pytest.mark.parametrize(("state", "event"), [("paid", "paid"), ("nonsense", "payment.paid"), ("", "")])
def test_unknown_names_refused(state, event):
    with pytest.raises(IllegalTransition):
        transition(state, event)
