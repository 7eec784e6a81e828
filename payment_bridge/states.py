"""The payment notice (缴款通知书) state machine, written down in one place.

Learned from GOV.UK Pay's ChargeStatus: every allowed move is a row in one table,
keyed by (state, event); anything not in the table is refused. Events carry the
names they have on the bus (``payment.paid``), so a notice's history is a list of
events that replays to its state.

Judgements recorded here:
- ``payment.paid`` is accepted from created and expired as well as registered: the
  finance side is authoritative (DOMAIN.md section 3) and a signed confirmation is
  proof that money was taken (a registration reply may have been lost, or the payer
  paid just before our local expiry). Refusing it would lose track of real money.
- A cancelled (closed) notice is never ``paid``. Where the platform can withdraw a
  notice (WeChat Pay closes the order) it refuses payment; where it cannot (the
  non-tax message set has no withdrawal, see ``payment_bridge.handlers.close``) a payer may
  still pay it there. That confirmation moves the notice to ``paid_after_close``, not
  ``paid``: nothing downstream acts on it (no leg is booked on ``payment.paid``), and
  the money is visibly owed back: ``paid_after_close`` can only be refunded.
- An expired notice can be closed (it was unpaid; closing says a late payment is no
  longer wanted).
- One refund is in flight at a time; a failed refund returns to paid, or to
  partly_refunded when earlier refunds succeeded (the caller knows from its refund
  records, the pure table cannot).
- A repeated event (a duplicate callback) is refused like any other illegal move;
  the idempotent receiver drops duplicates before they reach the state machine.
"""

from enum import StrEnum
from types import MappingProxyType

from payment_bridge.errors import IllegalTransition


class State(StrEnum):
    """States of a payment notice."""

    CREATED = "created"  # recorded locally, not yet accepted by the platform
    REGISTERED = "registered"  # accepted by the platform, payment code issued, awaiting payment
    FAILED = "failed"  # the platform rejected the notice (business error, not a timeout)
    PAID = "paid"
    EXPIRED = "expired"  # payment deadline passed unpaid
    CANCELLED = "cancelled"  # closed (withdrawn) by the collecting agency before payment
    PAID_AFTER_CLOSE = "paid_after_close"  # paid at the platform after we closed it: to be refunded
    REFUND_PENDING = "refund_pending"
    PARTLY_REFUNDED = "partly_refunded"
    REFUNDED = "refunded"


class Event(StrEnum):
    """Events that move a payment notice; the values are the bus message types."""

    REGISTERED = "payment.registered"
    REGISTRATION_FAILED = "payment.registration_failed"
    PAID = "payment.paid"
    EXPIRED = "payment.expired"
    CANCELLED = "payment.cancelled"
    PAID_AFTER_CLOSE = "payment.paid_after_close"
    REFUND_REQUESTED = "payment.refund_requested"
    PARTLY_REFUNDED = "payment.partly_refunded"
    REFUNDED = "payment.refunded"
    REFUND_FAILED = "payment.refund_failed"


INITIAL_STATE = State.CREATED

S, E = State, Event
TRANSITIONS: MappingProxyType = MappingProxyType(
    {
        (S.CREATED, E.REGISTERED): S.REGISTERED,
        (S.CREATED, E.REGISTRATION_FAILED): S.FAILED,
        (S.CREATED, E.PAID): S.PAID,
        (S.CREATED, E.EXPIRED): S.EXPIRED,
        (S.CREATED, E.CANCELLED): S.CANCELLED,
        (S.REGISTERED, E.PAID): S.PAID,
        (S.REGISTERED, E.EXPIRED): S.EXPIRED,
        (S.REGISTERED, E.CANCELLED): S.CANCELLED,
        (S.EXPIRED, E.PAID): S.PAID,
        (S.EXPIRED, E.CANCELLED): S.CANCELLED,
        (S.CANCELLED, E.PAID_AFTER_CLOSE): S.PAID_AFTER_CLOSE,
        (S.PAID_AFTER_CLOSE, E.REFUND_REQUESTED): S.REFUND_PENDING,
        (S.PAID, E.REFUND_REQUESTED): S.REFUND_PENDING,
        (S.PARTLY_REFUNDED, E.REFUND_REQUESTED): S.REFUND_PENDING,
        (S.REFUND_PENDING, E.PARTLY_REFUNDED): S.PARTLY_REFUNDED,
        (S.REFUND_PENDING, E.REFUNDED): S.REFUNDED,
        (S.REFUND_PENDING, E.REFUND_FAILED): S.PAID,
    }
)
del S, E

# Final states are derived from the table, so the table stays the one source.
FINAL_STATES = frozenset(state for state in State if not any(src is state for src, _ in TRANSITIONS))


def _coerce(kind: type[StrEnum], value: str) -> StrEnum | None:
    try:
        return kind(value)
    except ValueError:
        return None


def transition(state: str, event: str, *, earlier_refunds: bool = False,
               paid_after_close: bool = False) -> State:
    """Return the state a notice in ``state`` moves to on ``event``.

    The two flags matter only for ``payment.refund_failed``, which returns the notice
    to where the refund started: ``earlier_refunds`` (refunds before the failed one
    succeeded) to ``partly_refunded``, else ``paid_after_close`` (the money came after
    the notice was closed) to ``paid_after_close``, else ``paid``. Raises
    :class:`IllegalTransition` for any move not in :data:`TRANSITIONS`, including
    unknown states and events.
    """
    current, happened = _coerce(State, state), _coerce(Event, event)
    target = TRANSITIONS.get((current, happened))
    if target is None:
        raise IllegalTransition(str(state), str(event))
    if happened is Event.REFUND_FAILED and earlier_refunds:
        return State.PARTLY_REFUNDED
    if happened is Event.REFUND_FAILED and paid_after_close:
        return State.PAID_AFTER_CLOSE
    return target


def allowed_events(state: str) -> frozenset[Event]:
    """The events a notice in ``state`` accepts (empty for final or unknown states)."""
    current = _coerce(State, state)
    return frozenset(event for (source, event) in TRANSITIONS if source is current)


def is_final(state: str) -> bool:
    """True if no event can move a notice out of ``state``.

    ``expired`` and ``cancelled`` are not final: a late confirmation may still arrive
    (see module doc).
    """
    current = _coerce(State, state)
    if current is None:
        raise IllegalTransition(str(state), "(is_final)")
    return current in FINAL_STATES


def replay(events: list[str], *, start: str = INITIAL_STATE) -> State:
    """Fold a notice's event history into its current state.

    Refund failures are resolved from the history itself: a success before the
    failure means earlier refunds exist; a payment after close is remembered.
    """
    state = State(start)
    refunded_before = after_close = False
    for event in events:
        state = transition(state, event, earlier_refunds=refunded_before, paid_after_close=after_close)
        refunded_before = refunded_before or state is State.PARTLY_REFUNDED
        after_close = after_close or state is State.PAID_AFTER_CLOSE
    return state
