"""The logistics bridge's decisions, pure (no database, no carrier, no clock of their own).

The handlers (`logistics_bridge.legs`, `.booking`, `.cancelling`, `.intake`, `.polling`, `.pickups` ...) load
rows, ask these functions what to do, and store the answer with its `shipment.*` event. Every refusal is a
`Refused` (the kernel's, with `status`, `code`, `message` and `details`), so routes translate nothing.

The postage of a leg is paid through the payment bridge; its notice states come from `payment_bridge.api`
(the one copy), and the sets here are derived from them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from kernel.identifiers import InvalidIdentifier, identifier_kind, validate_resident_id, validate_uscc
from logistics_bridge.errors import CarrierError, Refused
from logistics_bridge.tracking import FINAL, Status, TrackingEvent, apply_events
from payment_bridge.api import OPEN_STATES, PAID_STATES

CARRIERS = ("sf", "ems")  # the couriers govlink has adapters for (a profile may book fewer)
LEG_KINDS = ("materials", "results")  # 申请材料 applicant -> centre; 办理结果 centre -> applicant
MIN_WEIGHT_G, MAX_WEIGHT_G = 1, 30_000
LIVE_STATES = ("awaiting_payment", "booked", "closed")  # a case has at most one such leg of each kind
CONTENTS = {"materials": "申请材料", "results": "办理结果"}  # what the waybill and the postage item say

# Postage that books its leg: paid, also when a refund followed; never paid after the notice was closed.
BOOKABLE_POSTAGE = frozenset(str(state) for state in PAID_STATES) - {"paid_after_close"}
REFUNDABLE_POSTAGE = ("paid", "paid_after_close")  # paid in full, nothing refunded yet
CLOSED_POSTAGE = "cancelled"  # closed unpaid: where the platform cannot withdraw it, a payer may still pay
MAX_POSTAGE_WAIT = timedelta(days=1)  # a closed notice is looked at again at least this often while watched


# ------------------------------------------------------------------ quote and create
def quote(profiles, carrier: str, weight_g: int | None) -> tuple[int, int]:
    """(weight_g, postage_fen) of a leg with `carrier` (default weight: an envelope of documents)."""
    if carrier not in profiles.bookable:
        raise Refused(422, "unknown_carrier", f"No courier {carrier!r}; choose from {', '.join(profiles.bookable)}.")
    weight = weight_g or profiles.default_weight_g
    if not MIN_WEIGHT_G <= weight <= MAX_WEIGHT_G:
        raise Refused(422, "invalid_weight", f"weight_g must be {MIN_WEIGHT_G} to {MAX_WEIGHT_G} grams.")
    return weight, profiles.quote(carrier, weight)


def service_for(services: Mapping, service_code: str, kind: str):
    """The service (事项) a leg of `kind` is for, if that leg may go by courier."""
    service = services.get(service_code)
    if service is None:
        raise Refused(422, "unknown_service", f"Service {service_code!r} offers no courier delivery.")
    if kind not in LEG_KINDS:
        raise Refused(422, "invalid_kind", f"kind must be one of {', '.join(LEG_KINDS)}.")
    if kind not in service.courier_legs:
        raise Refused(422, "leg_not_by_courier", f"For {service.name} the {kind} leg is handled at the counter only.",
                      {"courier_legs": sorted(service.courier_legs)})
    return service


def applicant(value: str) -> tuple[str, str]:
    """A validated applicant key and its kind (resident | enterprise)."""
    try:
        if identifier_kind(value) == "resident_id":
            return validate_resident_id(value), "resident"
        return validate_uscc(value), "enterprise"
    except InvalidIdentifier as exc:
        raise Refused(422, "invalid_applicant_key", str(exc), {"rule": exc.code}) from None


def parties(kind: str, address, centre) -> tuple:
    """(sender, recipient): materials go from the applicant to the centre, results back."""
    return (address, centre) if kind == "materials" else (centre, address)


def leg_exists(case_id: str, kind: str, leg_id: str) -> Refused:
    return Refused(409, "leg_exists", f"Case {case_id} already has a {kind} leg; cancel it first to book another.",
                   {"leg_id": leg_id})


def carrier_unavailable(exc: CarrierError) -> Refused:
    """A carrier call that failed, as a caller of govlink sees it: 503 while it is not answering, else 502."""
    if exc.retryable:
        return Refused(503, exc.code, f"The courier is not answering: {exc.message}")
    return Refused(502, exc.code, str(exc))


# ------------------------------------------------------------------ booking
def should_book(state: str) -> bool:
    """Only a leg awaiting payment is booked; booked, cancelled or failed legs are left as they are."""
    return state == "awaiting_payment"


def postage_books_leg(status: str | None) -> bool:
    return status in BOOKABLE_POSTAGE


PAYMENT_CHECK_MAX = timedelta(days=1)


def next_payment_check(created_at: datetime, now: datetime, retry: timedelta, status: str | None) -> datetime:
    """When the poll asks again after the postage notice of a leg awaiting payment: after `retry` when the
    notice is paid (its booking is retried), else after a quarter of the leg's age, between `retry` and a
    day (a leg unpaid for a week costs one look a day, not one a round)."""
    if postage_books_leg(status):
        return now + retry
    return now + min(max((now - created_at) / 4, retry), max(retry, PAYMENT_CHECK_MAX))


def booking_retry(exc: CarrierError) -> bool:
    """True: try the booking again later (the carrier did not answer); False: the booking failed."""
    return exc.retryable


def needs_subscription(state: str, carrier: str, via_kuaidi100: Iterable[str]) -> bool:
    """A booked leg of a carrier tracked through Kuaidi100 has its waybill subscribed there."""
    return state == "booked" and carrier in tuple(via_kuaidi100)


# ------------------------------------------------------------------ cancelling
class CancelStep(Enum):
    ALREADY = "already"  # cancelled before: answer it as it is
    LOCAL = "local"  # not booked: nothing to cancel at the carrier
    AT_CARRIER = "at_carrier"  # booked, not picked up: cancel the waybill first


def cancel_step(state: str, tracking_status: str | None) -> CancelStep:
    """What cancelling a leg takes; a parcel already picked up cannot be cancelled."""
    if state == "cancelled":
        return CancelStep.ALREADY
    if state == "closed" or (tracking_status and tracking_status != Status.CREATED):
        raise Refused(409, "already_picked_up", f"The parcel is already {tracking_status}: it can no longer be "
                      "cancelled.", {"tracking_status": tracking_status})
    return CancelStep.AT_CARRIER if state == "booked" else CancelStep.LOCAL


def carrier_cancel_refused(exc: CarrierError, carrier: str, waybill_no: str | None) -> Refused:
    return Refused(409 if exc.code == "cancel_refused" else 502, f"carrier_{exc.code}",
                   f"{carrier.upper()} did not cancel waybill {waybill_no}: {exc.message}",
                   {"carrier_code": exc.carrier_code})


class PostageStep(Enum):
    CLOSE = "close"  # unpaid and payable: close the notice
    REFUND = "refund"  # paid in full: give it back (once; the refund request id is the leg's)
    WAIT = "wait"  # closed unpaid: a late payment may still come (paid_after_close), look again later
    DONE = "done"  # being or already given back, or never payable: nothing more to do


def postage_step(status: str | None) -> PostageStep:
    """What the postage notice of a cancelled leg needs, from its status."""
    if status in OPEN_STATES:
        return PostageStep.CLOSE
    if status in REFUNDABLE_POSTAGE:
        return PostageStep.REFUND
    if status == CLOSED_POSTAGE:
        return PostageStep.WAIT
    return PostageStep.DONE


def next_postage_check(step: PostageStep, now: datetime, cancelled_at: datetime, *, retry: timedelta,
                       watch: timedelta, failed: bool = False) -> datetime | None:
    """When the postage of a cancelled leg is looked at again, after `step` was taken (None: settled).

    A close or a refund request the payment side did not take (`failed`) is tried again after `retry`; a
    refund it took is settled here (if the platform then fails it, that is finance's, from the
    reconciliation; asking again replays the same refund request). A closed notice is watched for a late
    payment for `watch` after the cancel, looked at less and less often (after as long again as it has been
    closed, at most daily).
    """
    if failed or step is PostageStep.CLOSE:
        return now + retry
    if step in (PostageStep.DONE, PostageStep.REFUND):
        return None
    age = now - cancelled_at
    if age >= watch:
        return None
    return now + min(max(age, retry), MAX_POSTAGE_WAIT)


def postage_watch_ended(step: PostageStep, now: datetime, cancelled_at: datetime, *, watch: timedelta,
                        failed: bool = False) -> bool:
    """True when `next_postage_check` stops watching a closed notice unpaid: the watch is given up (said once)."""
    return step is PostageStep.WAIT and not failed and now - cancelled_at >= watch


# ------------------------------------------------------------------ pickup code
def pickup_locked(attempts: int, *, limit: int) -> bool:
    return attempts >= limit


def wrong_pickup_code() -> Refused:
    return Refused(422, "wrong_pickup_code", "The pickup code does not match.")


def pickup_lockout() -> Refused:
    return Refused(423, "pickup_code_locked", "Too many wrong codes: verify the recipient's identity at the counter "
                   "instead.")


# ------------------------------------------------------------------ tracking
@dataclass(frozen=True)
class Move:
    """An event that moves a leg's tracking status (forward or lateral); a change is announced."""

    event: TrackingEvent  # signed_by_other re-judged for deliveries
    status: str  # the leg's tracking status after it
    state: str  # the leg's state after it (closed once final)
    announce: bool  # a change of status: written as a `shipment.<status>` event


@dataclass
class TrackingFold:
    """What new carrier events do to a leg."""

    status: Status  # the tracking status afterwards
    moves: list[Move] = field(default_factory=list)  # in time order; other accepted events are history only
    closes: bool = False
    signed_by_other: bool = False
    last_raw_code: str | None = None

    @property
    def moved_ids(self) -> set[str]:
        return {move.event.event_id for move in self.moves}

    @property
    def announced(self) -> list[Move]:
        return [move for move in self.moves if move.announce]


def fold_tracking(state: str, tracking_status: str | None, fresh: Iterable[TrackingEvent], *,
                  recipient_name: str | None = None) -> TrackingFold:
    """Fold new (deduplicated) events into a leg: forward only, a final status closes a booked leg."""
    previous = tracking_status or str(Status.CREATED)
    status, accepted = apply_events(previous, fresh, recipient_name=recipient_name)
    fold = TrackingFold(status=status)
    for event in accepted:
        if event.status is Status.UNKNOWN:
            continue
        fold.last_raw_code = event.raw_code[:32]
        if event.status is Status.DELIVERED and event.signed_by_other:
            fold.signed_by_other = True
        announce = str(event.status) != previous
        if announce:
            previous = str(event.status)
            if event.status in FINAL and state == "booked":
                state, fold.closes = "closed", True
        fold.moves.append(Move(event, previous, state, announce))
    return fold


def dedup_key(event: TrackingEvent) -> str:
    """An event's key, unique per leg: its source and the carrier's event id."""
    return f"{event.carrier}:{event.event_id}"[:80]
