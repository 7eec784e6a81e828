"""The payment bridge's decisions: pure functions over a notice's facts, no database, no platform, no clock.

The handlers (`payment_bridge.handlers`) load what a decision needs, call it, and apply its result. A
decision reads a notice duck-typed (`status`, `total_fen`, `paid_fen`, `refunded_fen`, `payment_code`,
`due_at`), so the unit tests pass plain objects.

The state sets are derived from the transition table of `payment_bridge.states`, defined here once and
exported to other areas through `payment_bridge.api`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from payment_bridge.errors import NoticeClosed, NoticePaid, PaymentError, Refused
from payment_bridge.states import TRANSITIONS, Event, State, allowed_events


def _reachable(start: set[State]) -> frozenset[State]:
    seen, todo = set(start), list(start)
    while todo:
        current = todo.pop()
        for (source, _event), target in TRANSITIONS.items():
            if source is current and target not in seen:
                seen.add(target)
                todo.append(target)
    return frozenset(seen)


def _entered_by(*events: Event) -> set[State]:
    return {target for (_source, event), target in TRANSITIONS.items() if event in events}


# Unpaid and payable: a payment is applied to it (`payment.paid` is allowed).
OPEN_STATES = frozenset(source for (source, event) in TRANSITIONS if event is Event.PAID)
# Money was taken: a payment, or a payment after close, and everything a refund can lead to from there.
PAID_STATES = _reachable(_entered_by(Event.PAID, Event.PAID_AFTER_CLOSE))
# Closed before (paid_after_close: closed, and paid anyway).
CLOSED_STATES = frozenset(_entered_by(Event.CANCELLED, Event.PAID_AFTER_CLOSE))
# Nothing is under way for the case any more: neither awaiting payment at the platform nor money owed back
# (a case's timeline is finished when its notices are all settled).
SETTLED_STATES = frozenset(set(State) - {State.CREATED, State.REGISTERED, State.PAID_AFTER_CLOSE})

APPLIED, DUPLICATE, DUPLICATE_PAYMENT, UNAPPLIED, REFUSED = (
    "applied", "duplicate", "duplicate_payment", "unapplied", "refused")
PAID_AFTER_CLOSE = str(State.PAID_AFTER_CLOSE)  # also a confirmation's outcome


# ================================================================== confirmations
@dataclass(frozen=True)
class ConfirmationDecision:
    """What a platform's confirmation does.

    `outcome`: applied | duplicate (this transaction was seen before) | duplicate_payment (a second payment
    of a paid notice: kept for reconciliation) | paid_after_close | unapplied (a state that takes no
    payment, e.g. failed) | refused. `event`: the transition to make, if any. `records`: whether a
    confirmation row is written. `error`: what the platform is told, raised after anything recorded is
    committed (None: the confirmation is accepted).
    """

    outcome: str
    event: Event | None = None
    error: PaymentError | None = None

    @property
    def records(self) -> bool:
        return self.outcome not in (DUPLICATE, REFUSED)


def notice_closed(payment_code: str) -> NoticeClosed:
    return NoticeClosed(409, "notice_closed", f"Payment notice {payment_code} was closed before this payment: "
                        "the payment is recorded for a refund, not applied.",
                        {"payment_code": payment_code, "status": PAID_AFTER_CLOSE})


def decide_confirmation(notice, payment, *, payer_token: str | None = None,
                        seen: str | None = None) -> ConfirmationDecision:
    """What the confirmed `payment` does to `notice` (None: no notice has its payment code on that platform).

    `seen`: the outcome recorded for this transaction id before, if any (a replay changes nothing; a
    payment after close is refused every time it comes back). `payer_token`: who the notice's payer is in
    the platform's form, checked when the payment names its payer.
    """
    if seen is not None:
        return ConfirmationDecision(DUPLICATE, error=notice_closed(payment.order_ref) if seen == PAID_AFTER_CLOSE
                                    else None)
    if notice is None:
        return ConfirmationDecision(REFUSED, error=Refused(
            404, "unknown_notice", "No notice has this payment code on this platform.",
            {"payment_code": payment.order_ref}))
    if payment.amount_fen != notice.total_fen:
        return ConfirmationDecision(REFUSED, error=Refused(
            422, "amount_mismatch", f"Paid {payment.amount_fen} fen but the notice is for {notice.total_fen} fen.",
            {"payment_code": notice.payment_code}))
    if payment.payer_token is not None and payment.payer_token != payer_token:
        return ConfirmationDecision(REFUSED, error=Refused(
            422, "payer_mismatch", "The payer of the payment is not the payer of the notice.",
            {"payment_code": notice.payment_code}))
    if notice.status in PAID_STATES:
        return ConfirmationDecision(DUPLICATE_PAYMENT)  # a second payment of one code: reconciliation (DUPLICATE)
    if notice.status == State.CANCELLED:  # money for a closed notice: recorded, owed back
        return ConfirmationDecision(PAID_AFTER_CLOSE, Event.PAID_AFTER_CLOSE, notice_closed(notice.payment_code))
    if Event.PAID not in allowed_events(notice.status):
        return ConfirmationDecision(UNAPPLIED)  # e.g. paid though the platform refused it: STATUS_MISMATCH
    return ConfirmationDecision(APPLIED, Event.PAID)


# ================================================================== refunds
def refundable_fen(paid_fen: int, refunded_fen: int, pending_fen: int) -> int:
    """What can still be refunded: paid, less refunded, less refunds in flight."""
    return paid_fen - refunded_fen - pending_fen


def check_refund(notice, *, pending_fen: int, amount_fen: int) -> int:
    """Refuse a refund the notice cannot take (409); returns the refundable amount."""
    refundable = refundable_fen(notice.paid_fen, notice.refunded_fen, pending_fen)
    if Event.REFUND_REQUESTED not in allowed_events(notice.status):
        raise Refused(409, "refund_not_allowed",
                      f"A notice in state {notice.status} cannot be refunded"
                      + (" (a refund is in progress)." if notice.status == State.REFUND_PENDING else "."),
                      {"status": notice.status, "refundable_fen": max(refundable, 0)})
    if amount_fen <= 0 or amount_fen > refundable:
        raise Refused(409, "refund_exceeds_refundable", f"At most {refundable} fen can still be refunded.",
                      {"refundable_fen": refundable})
    return refundable


def refund_success(notice, *, amount_fen: int) -> tuple[Event, int]:
    """The event a succeeded refund of `amount_fen` makes, and the notice's refunded total after it."""
    refunded = notice.refunded_fen + amount_fen
    return (Event.REFUNDED if refunded >= notice.paid_fen else Event.PARTLY_REFUNDED), refunded


# ================================================================== closing
def notice_paid(notice) -> NoticePaid:
    return NoticePaid(409, "notice_paid", f"The notice is {notice.status}: a paid notice cannot be closed; "
                      "refund it instead.", {"status": notice.status,
                                             "refundable_fen": max(notice.paid_fen - notice.refunded_fen, 0)})


def decide_close(notice) -> bool:
    """True: close it. False: closed before, or never accepted by the platform (nothing payable): leave it.

    Raises `NoticePaid` for a paid notice (refund it instead).
    """
    if notice.status in CLOSED_STATES or notice.status == State.FAILED:
        return False
    if notice.status not in OPEN_STATES:
        raise notice_paid(notice)
    return True


# ================================================================== polling
class PollAction(Enum):
    APPLY = "apply"  # the platform reports a payment: apply it like a confirmation
    CANCEL = "cancel"  # the platform cancelled the registered notice
    EXPIRE = "expire"  # the platform expired it
    CLOSE_AND_EXPIRE = "close_and_expire"  # overdue here: withdraw it there, then expire it
    TOUCH = "touch"  # nothing new: ask again later


def decide_poll(notice, result, now: datetime) -> PollAction:
    """What the poller does with the platform's answer (`QueryResult`) about `notice`."""
    if result.payment is not None:
        return PollAction.APPLY
    if result.state == State.CANCELLED and notice.status == State.REGISTERED:
        return PollAction.CANCEL
    if notice.status == State.REGISTERED and (result.state == State.EXPIRED or notice.due_at <= now):
        return PollAction.EXPIRE if result.state == State.EXPIRED else PollAction.CLOSE_AND_EXPIRE
    return PollAction.TOUCH


# ================================================================== the platform asked after waiting notices
# Unpaid notices a payment may still reach without a confirmation we saw: registered ones, expired ones (a
# payment made as it expired) and cancelled ones on a platform that could not withdraw them.
ASKED_STATES = frozenset({State.REGISTERED, State.EXPIRED, State.CANCELLED})
ASK_DAYS = 30  # ... until this long after their due date
ASK_MAX = {State.REGISTERED: timedelta(hours=1)}  # a payable notice is asked after at least hourly
ASK_MAX_DEFAULT = timedelta(days=1)


def asks_platform(status: str) -> bool:
    """True: a notice entering `status` is asked after by the poller (`platform_check_at` is set)."""
    return status in ASKED_STATES


def next_platform_check(status: str, withdrawn: bool, due_at: datetime, changed_at: datetime, now: datetime,
                        retry: timedelta) -> datetime | None:
    """When the poller asks the platform about a waiting notice again, having asked it `now` (None: it does
    not ask now, nor later). After a quarter of the time since the notice last changed, between `retry` and
    an hour while it is payable (a day once expired or cancelled), until ASK_DAYS after its due date.
    `withdrawn`: the notice's platform withdraws cancelled notices (nothing to ask)."""
    closes = due_at + timedelta(days=ASK_DAYS)
    if not asks_platform(status) or (status == State.CANCELLED and withdrawn) or now >= closes:
        return None
    wait = min(max((now - changed_at) / 4, retry), max(retry, ASK_MAX.get(status, ASK_MAX_DEFAULT)))
    return min(now + wait, closes)


# ================================================================== e-receipts
RECEIPT_DAYS = 30  # a paid notice's missing e-receipt is searched this long after the notice last changed
RECEIPT_PLATFORMS = frozenset({"nontax"})  # platforms that issue fiscal e-receipts (财政电子票据)
RECEIPT_CHECK_MAX = timedelta(days=1)


def searches_receipt(platform: str, status: str) -> bool:
    """True: a notice of `platform` now in `status` has an e-receipt the poller looks for."""
    return platform in RECEIPT_PLATFORMS and status in PAID_STATES


@dataclass(frozen=True)
class ReceiptCheck:
    search: bool  # ask the platform for the e-receipt now
    next_at: datetime | None  # when the poller looks again (None: never; the search is over)
    give_up: bool  # the window passed without it: say so, once


def receipt_check(has_receipt: bool, changed_at: datetime, now: datetime, retry: timedelta) -> ReceiptCheck:
    """What the poller does with a paid notice whose e-receipt check is due.

    Found: the search is over. Within RECEIPT_DAYS of the notice's last change: ask now, and again after a
    quarter of that age, between `retry` and a day (a notice whose e-receipt never comes costs some 60 looks
    in its window, not one a round), and at the latest when the window closes. After it: give up.
    """
    if has_receipt:
        return ReceiptCheck(search=False, next_at=None, give_up=False)
    closes = changed_at + timedelta(days=RECEIPT_DAYS)
    if now >= closes:
        return ReceiptCheck(search=False, next_at=None, give_up=True)
    wait = min(max((now - changed_at) / 4, retry), max(retry, RECEIPT_CHECK_MAX))
    return ReceiptCheck(search=True, next_at=min(now + wait, closes), give_up=False)
