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
- A cancelled notice stays cancelled: the platform refuses payment for it, so a
  confirmation after cancellation is a reconciliation case (STATUS_MISMATCH), not a
  state change.
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
    CANCELLED = "cancelled"  # withdrawn by the collecting agency before payment
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


def transition(state: str, event: str, *, earlier_refunds: bool = False) -> State:
    """Return the state a notice in ``state`` moves to on ``event``.

    ``earlier_refunds`` matters only for ``payment.refund_failed``: it says whether
    refunds before the failed one succeeded, so the notice returns to
    ``partly_refunded`` instead of ``paid``. Raises :class:`IllegalTransition` for
    any move not in :data:`TRANSITIONS`, including unknown states and events.
    """
    current, happened = _coerce(State, state), _coerce(Event, event)
    target = TRANSITIONS.get((current, happened))
    if target is None:
        raise IllegalTransition(str(state), str(event))
    if happened is Event.REFUND_FAILED and earlier_refunds:
        return State.PARTLY_REFUNDED
    return target


def allowed_events(state: str) -> frozenset[Event]:
    """The events a notice in ``state`` accepts (empty for final or unknown states)."""
    current = _coerce(State, state)
    return frozenset(event for (source, event) in TRANSITIONS if source is current)


def is_final(state: str) -> bool:
    """True if no event can move a notice out of ``state``.

    ``expired`` is not final: a late confirmation may still arrive (see module doc).
    """
    current = _coerce(State, state)
    if current is None:
        raise IllegalTransition(str(state), "(is_final)")
    return current in FINAL_STATES


def replay(events: list[str], *, start: str = INITIAL_STATE) -> State:
    """Fold a notice's event history into its current state.

    Refund failures are resolved from the history itself: a success before the
    failure means earlier refunds exist.
    """
    state = State(start)
    refunded_before = False
    for event in events:
        state = transition(state, event, earlier_refunds=refunded_before)
        if state is State.PARTLY_REFUNDED:
            refunded_before = True
    return state
