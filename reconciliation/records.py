"""Normalised records of every source, compact enough for a million rows a side.

Records are named tuples (one tuple each, no per-instance dict). Times are integer seconds
since the epoch, UTC (``at`` / ``paid_at``), so a million of them cost no datetime objects;
:func:`epoch` and :func:`from_epoch` convert at the edges. Money is integer fen.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from logistics_bridge.carriers.base import BillLine
from kernel.clock import require_aware
from payment_bridge.statements.normalised import PAID as LINE_PAID
from payment_bridge.statements.normalised import REFUND as LINE_REFUND
from payment_bridge.statements.normalised import StatementLine

# Ledger payment statuses (our side of a payment code).
PAID = "paid"
REFUNDED = "refunded"
UNPAID = "unpaid"
LEDGER_STATUSES = frozenset({PAID, REFUNDED, UNPAID})
# Statement line kinds (the platform's side), as payment_bridge.statements spells them.
KIND_PAID = LINE_PAID
KIND_REFUND = LINE_REFUND
# Shipment and courier bill statuses.
BOOKED = "booked"
CANCELLED = "cancelled"
BILLED = "billed"
RETURNED = "returned"


def epoch(moment: datetime) -> int:
    """Aware datetime -> integer UTC seconds."""
    return int(require_aware(moment).timestamp())


def from_epoch(seconds: int) -> datetime:
    """Integer UTC seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


class LedgerPayment(NamedTuple):
    """Our ledger's view of a payment code: a recorded payment, a refunded one, or an unpaid notice."""

    payment_code: str  # 缴款码 (or our out_trade_no for a channel)
    transaction_id: str  # the channel's number for the payment, "" when none is known
    amount_fen: int
    status: str  # paid | refunded | unpaid
    paid_at: int  # UTC seconds; 0 when unpaid


class StatementEntry(NamedTuple):
    """One movement on a platform statement or channel bill."""

    reference: str  # payment code / out_trade_no as the platform reports it
    transaction_id: str
    amount_fen: int  # positive, paid or refunded
    fee_fen: int
    kind: str  # paid | refund
    at: int  # UTC seconds
    line_no: int

    @classmethod
    def from_line(cls, line: StatementLine) -> "StatementEntry":
        return cls(line.order_ref, line.transaction_id, line.amount_fen, line.fee_fen, line.status,
                   epoch(line.paid_at), line.line_no)


class Shipment(NamedTuple):
    """A booked waybill with what we quoted and which payment paid the postage."""

    waybill_no: str
    carrier: str
    quote_fen: int  # postage quoted to (and paid by) the applicant
    postage_code: str  # payment code of the postage payment, "" when none
    weight_g: int  # declared weight
    status: str  # booked | cancelled
    booked_at: int  # UTC seconds


class CourierCharge(NamedTuple):
    """One courier bill line (logistics_bridge.bills.BillLine, compact)."""

    waybill_no: str
    carrier: str
    fee_fen: int  # freight
    surcharge_fen: int
    weight_g: int  # billed weight
    status: str  # billed | cancelled | returned
    at: int  # UTC seconds
    line_no: int

    @property
    def total_fen(self) -> int:
        return self.fee_fen + self.surcharge_fen

    @classmethod
    def from_bill_line(cls, line: BillLine) -> "CourierCharge":
        return cls(line.waybill_no, line.carrier, line.fee_fen, line.surcharge_fen, line.weight_g,
                   line.status, epoch(line.billed_at), line.line_no or 0)


RECORD_TYPES = {cls.__name__: cls for cls in (LedgerPayment, StatementEntry, Shipment, CourierCharge)}


def record_to_json(record: NamedTuple | None) -> dict | None:
    """A record as a JSON object (with its type), for storage and exports."""
    if record is None:
        return None
    out = {"type": type(record).__name__}
    out.update(record._asdict())
    return out


def record_from_json(data: dict) -> NamedTuple:
    """The inverse of :func:`record_to_json`."""
    values = dict(data)
    cls = RECORD_TYPES[values.pop("type")]
    return cls(**values)
