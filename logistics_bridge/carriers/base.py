"""The small carrier interface and the values that cross it.

A carrier adapter is a class that takes its settings and a transport callable
(:class:`Send`) and implements :class:`Carrier` (or only :class:`Tracker`, for a
tracking aggregator). It does no I/O of its own: HTTP, retries and timeouts live in
the ``send`` the caller injects, and every request builder and reply parser under
the carrier's package is a pure function, testable without a network.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from logistics_bridge.address import Address
from logistics_bridge.errors import CarrierError
from logistics_bridge.tracking import TrackingEvent


@dataclass(frozen=True)
class TransportResponse:
    """What a transport hands back: HTTP status, raw body, headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Send(Protocol):
    """Transport callable: POST ``data`` (form fields) or ``body`` (raw bytes) to ``url``."""

    def __call__(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TransportResponse: ...


@dataclass(frozen=True)
class DeclaredItem:
    """A declared content line (托寄物): what is in the parcel."""

    name: str
    quantity: int = 1
    value_fen: int = 0


@dataclass(frozen=True)
class ShipmentRequest:
    """One leg to book. ``leg_id`` is our idempotency key and the carrier's order id."""

    leg_id: str
    sender: Address
    recipient: Address
    weight_g: int
    items: tuple[DeclaredItem, ...] = ()
    service: str = "standard"  # carrier-neutral; each carrier's units map it
    remark: str = ""

    def __post_init__(self) -> None:
        if not self.leg_id or len(self.leg_id) > 64:
            raise ValueError("leg_id must be 1-64 characters")
        if not isinstance(self.weight_g, int) or self.weight_g <= 0:
            raise ValueError("weight_g must be a positive int")


@dataclass(frozen=True)
class Waybill:
    """A booked waybill (运单). ``fee_fen`` is the carrier's quote when it gives one."""

    waybill_no: str
    carrier: str
    leg_id: str
    fee_fen: int | None = None


@dataclass(frozen=True)
class BillLine:
    """One line of a courier bill, or one carrier fee query: what the courier charges."""

    waybill_no: str
    carrier: str
    fee_fen: int  # freight (运费)
    surcharge_fen: int  # everything else (附加费: insurance, packing, remote area ...)
    weight_g: int  # billed weight (计费重量)
    billed_at: datetime  # aware UTC
    status: str = "billed"  # billed | cancelled | returned
    line_no: int | None = None  # position in the source file, for discrepancy reports

    @property
    def total_fen(self) -> int:
        """Freight plus surcharges."""
        return self.fee_fen + self.surcharge_fen


@dataclass(frozen=True)
class PushResult:
    """A parsed carrier push: the events, and the exact reply the carrier expects.

    ``trusted`` is False when the push cannot prove where it came from (SF pushes are
    unsigned; EMS encryption has no integrity check): re-query before acting on it.
    """

    events: tuple[TrackingEvent, ...]
    reply: bytes
    trusted: bool
    reply_content_type: str = "application/json;charset=UTF-8"


class Tracker(abc.ABC):
    """Anything that reports tracking: a carrier or an aggregator."""

    name: str

    @abc.abstractmethod
    def track(self, waybill_no: str, *, phone: str | None = None) -> list[TrackingEvent]:
        """Query the waybill's events. Some carriers check the phone's last four digits."""

    @abc.abstractmethod
    def parse_push(self, body: bytes, content_type: str = "") -> PushResult:
        """Verify and parse an inbound push; raises SignatureError or CarrierError."""


class Carrier(Tracker):
    """A courier we can book with."""

    @abc.abstractmethod
    def create_waybill(self, request: ShipmentRequest) -> Waybill:
        """Book the leg and return its waybill."""

    @abc.abstractmethod
    def cancel(self, leg_id: str, waybill_no: str) -> None:
        """Cancel a booked leg before pickup; raises CarrierError if refused."""

    def fetch_bill(self, waybill_nos: Sequence[str]) -> list[BillLine]:
        """The carrier's billed fee and weight per waybill, where it has such an API.

        Carriers without one send monthly bill files instead (see ``bills``).
        """
        raise CarrierError(
            "unsupported",
            "no per-waybill fee API; import the monthly bill file instead",
            self.name,
        )


def require_ok(response: TransportResponse, carrier: str) -> bytes:
    """Return the body of a 2xx response, else raise a retryable-when-5xx CarrierError."""
    if 200 <= response.status < 300:
        return response.body
    raise CarrierError(
        f"http_{response.status}",
        f"HTTP {response.status} from the carrier",
        carrier,
        retryable=response.status >= 500 or response.status == 429,
    )
