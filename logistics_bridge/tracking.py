"""Normalised tracking: one status set for every carrier, and the rule that moves it.

Every carrier's codes map onto :class:`Status` in that carrier's ``units`` module.
A leg's status only moves forward (by :data:`RANK`); once final it never changes.

Ranks group the last mile together on purpose: out for delivery, a failed attempt and
"waiting at a parcel station" alternate in real traces (SF 204 -> 70 -> 204 -> 80), so
moves between them are lateral, not backward.

Signed-by-someone-else rule (:func:`is_signed_by_other`), applied to delivered events only:

1. A text naming a proxy is flagged: ``代收``, ``代签``, ``他人``, ``非本人``, a parcel
   station or locker (``驿站``, ``快递柜``, ``丰巢``, ``代收点``), left at the door, or a
   gatekeeper, front desk, property office, mail room, relative, colleague or neighbour.
2. Otherwise a named signer (``签收人是: X``, ``签收人: X``) is flagged when X is not
   ``本人`` and a recipient name is known and X differs from it. Without a recipient
   name a bare person's name is not flagged (we cannot tell).
3. Anything else (``本人签收``, a plain "已签收") is not flagged.

A flagged delivery still closes the leg; the flag is for staff to follow up (a
government result handed to someone else may need a call to the applicant).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from logistics_bridge.errors import IllegalStatus


class Status(StrEnum):
    """The normalised tracking status set (DOMAIN.md section 4)."""

    CREATED = "created"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    REFUSED = "refused"
    RETURN_TO_SENDER = "return_to_sender"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


# unknown carries no position: it never moves a status, it is only history.
RANK: dict[Status, int] = {
    Status.CREATED: 0,
    Status.PICKED_UP: 1,
    Status.IN_TRANSIT: 2,
    Status.OUT_FOR_DELIVERY: 3,
    Status.READY_FOR_PICKUP: 3,
    Status.DELIVERY_FAILED: 3,
    Status.REFUSED: 4,
    Status.DELIVERED: 5,
    Status.RETURN_TO_SENDER: 5,
    Status.CANCELLED: 5,
}

FINAL: frozenset[Status] = frozenset({Status.DELIVERED, Status.CANCELLED, Status.RETURN_TO_SENDER})


def to_status(value: str | Status) -> Status:
    """Return ``value`` as a :class:`Status`, or raise :class:`IllegalStatus`."""
    try:
        return Status(value)
    except ValueError:
        raise IllegalStatus(f"not a tracking status: {value!r}") from None


def is_final(status: str | Status) -> bool:
    """True for delivered, cancelled and returned: nothing moves a leg out of these."""
    return to_status(status) in FINAL


def can_move(current: str | Status, new: str | Status) -> bool:
    """True if a leg at ``current`` may take ``new`` (forward or lateral, never from a final)."""
    current, new = to_status(current), to_status(new)
    if current in FINAL or new is Status.UNKNOWN:
        return False
    if current is Status.UNKNOWN:
        return True
    return RANK[new] >= RANK[current]


def require_move(current: str | Status, new: str | Status) -> Status:
    """Return ``new`` if :func:`can_move` allows it, else raise :class:`IllegalStatus`.

    For callers that set a status themselves (e.g. cancelling a leg) rather than
    replaying carrier events.
    """
    if not can_move(current, new):
        raise IllegalStatus(f"a leg cannot move from {current!s} to {new!s}")
    return to_status(new)


@dataclass(frozen=True)
class TrackingEvent:
    """One carrier scan, normalised. ``occurred_at`` is always aware UTC."""

    carrier: str  # who reported it: "sf", "ems", "kuaidi100"
    waybill: str
    event_id: str  # unique per carrier; the dedupe key
    status: Status
    raw_code: str  # the carrier's own code, kept for audit and for remapping later
    occurred_at: datetime
    location: str = ""
    description: str = ""
    signed_by_other: bool = False

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("occurred_at must be timezone-aware")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(timezone.utc))
        object.__setattr__(self, "status", to_status(self.status))
        if not self.event_id:
            raise ValueError("event_id must not be empty")


def derive_event_id(*parts: str) -> str:
    """A stable event id from the fields that identify a scan.

    For carriers whose events carry no id (EMS traces, Kuaidi100, SF route queries),
    so that the same scan seen by push and by poll dedupes to one event.
    """
    joined = "\x1f".join(part.strip() for part in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


_PROXY_WORDS = (
    "代收", "代签", "他人", "非本人", "驿站", "快递柜", "丰巢", "智能柜", "代收点", "门卫", "保安",
    "前台", "物业", "收发室", "传达室", "家人", "家属", "同事", "邻居", "家门口",
)
_SIGNER = re.compile(r"签收人(?:是|为)?\s*[:：]?\s*[【\[(（]?\s*([^\s,，。;；)）】\]]+)")
_IN_PERSON = frozenset({"本人", "本人签收"})


def is_signed_by_other(text: str, recipient_name: str | None = None) -> bool:
    """Apply the module's signed-by-someone-else rule to a delivery remark."""
    if not text:
        return False
    if any(word in text for word in _PROXY_WORDS):
        return True
    match = _SIGNER.search(text)
    if match is None or match.group(1) in _IN_PERSON or not recipient_name:
        return False
    return match.group(1) != recipient_name.strip()


def _order_key(event: TrackingEvent) -> tuple[datetime, int]:
    # Same-second scans: the lower-ranked one happened first (out for delivery, then delivered).
    return event.occurred_at, RANK.get(event.status, -1)


def apply_events(
    current_status: str | Status,
    events: Iterable[TrackingEvent],
    *,
    seen_ids: Collection[str] = (),
    recipient_name: str | None = None,
) -> tuple[Status, list[TrackingEvent]]:
    """Fold carrier events into a leg's status. Pure.

    - Drops events whose ``event_id`` is in ``seen_ids`` (already stored) or repeats
      one earlier in ``events``.
    - Sorts the rest by time (same second: lower rank first).
    - Ignores anything once the status is final, and any event that would move the
      status backward. ``unknown`` events are kept as history but never move it.
    - With ``recipient_name``, re-judges ``signed_by_other`` on delivered events.

    Returns the new status and the accepted events (to store on the leg's timeline),
    in time order.
    """
    status = to_status(current_status)
    seen = set(seen_ids)
    fresh: list[TrackingEvent] = []
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        fresh.append(event)
    accepted: list[TrackingEvent] = []
    for event in sorted(fresh, key=_order_key):
        if status in FINAL:
            break
        if event.status is Status.UNKNOWN:
            accepted.append(event)
            continue
        if not can_move(status, event.status):
            continue
        if event.status is Status.DELIVERED and recipient_name is not None:
            flag = is_signed_by_other(event.description, recipient_name)
            event = dataclasses.replace(event, signed_by_other=flag)
        status = event.status
        accepted.append(event)
    return status, accepted
