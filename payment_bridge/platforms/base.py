"""The interface every payment platform adapter implements, and the values that cross it.

Adapters do the I/O (HTTP through `kernel.http.http_session`) around the pure builders and
parsers of `payment_bridge.channels`; the handlers (`payment_bridge.handlers`) move state. Errors:
`PlatformUnavailable` (transport: try again later), `ChannelError` (the platform said no),
`SignatureError` / `InvalidMessage` (what came back cannot be trusted).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping, Protocol

from payment_bridge.errors import PaymentError


class PlatformUnavailable(PaymentError):
    """The platform did not answer (timeout, connection refused, HTTP 5xx): retry later."""

    code = "platform_unavailable"
    status = 503


@dataclass(frozen=True)
class Registration:
    """What the platform gave back for a registered notice."""

    platform_ref: str
    pay_url: str | None


@dataclass(frozen=True)
class ConfirmedPayment:
    """A payment as a platform reports it (callback or query)."""

    order_ref: str  # our payment code (non-tax PayCode, WeChat out_trade_no)
    transaction_id: str  # TraNoBus / WeChat transaction_id
    amount_fen: int
    paid_at: datetime  # aware UTC
    pay_mode: str | None = None
    payer_token: str | None = None  # who paid, in the platform's form (see PaymentPlatform.payer_token)


@dataclass(frozen=True)
class QueryResult:
    """The platform's view of a notice: a `payment_bridge.states.State` value, and the payment if paid."""

    state: str
    payment: ConfirmedPayment | None = None


@dataclass(frozen=True)
class RefundResult:
    status: str  # succeeded | processing | failed
    platform_refund_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RefundUpdate:
    """A refund outcome reported by a callback (WeChat REFUND.*)."""

    refund_no: str
    status: str  # succeeded | failed
    platform_refund_id: str | None = None


@dataclass(frozen=True)
class IncomingCallback:
    """A verified callback: a payment, a refund outcome, or something we only acknowledge."""

    kind: str  # payment | refund | other
    payment: ConfirmedPayment | None = None
    refund: RefundUpdate | None = None
    context: object = None  # what the adapter needs to answer (e.g. the request's CFX head)


@dataclass(frozen=True)
class CallbackAnswer:
    status: int
    headers: dict
    body: bytes


@dataclass(frozen=True)
class ReceiptInfo:
    ebill_code: str
    ebill_no: str
    check_code: str
    issue_date: date
    download_url: str


@dataclass(frozen=True)
class DownloadedStatement:
    raw: bytes  # exactly as received
    statement_date: date
    lines: tuple  # payment_bridge.statements.StatementLine


class PaymentPlatform(Protocol):
    name: str
    closes_at_platform: bool  # True if `close` withdraws a notice there (else it stays payable there)

    def register(self, notice) -> Registration:
        """Announce a notice to the platform; raise ChannelError if it refuses, PlatformUnavailable if silent."""

    def query(self, notice) -> QueryResult:
        """Ask the platform for the notice's status (how a lost confirmation is found)."""

    def close(self, notice) -> None:
        """Withdraw an unpaid notice at the platform (a no-op where `closes_at_platform` is False)."""

    def refund(self, notice, refund_no: str, amount_fen: int, reason: str | None) -> RefundResult:
        """Refund `amount_fen` of a paid notice; the platform refunds one `refund_no` once."""

    def fetch_receipt(self, notice) -> ReceiptInfo | None:
        """The fiscal e-receipt of a paid notice, or None when the platform issues none (yet)."""

    def parse_callback(self, headers: Mapping[str, str], raw_body: bytes) -> IncomingCallback:
        """Verify the raw body (signature/MAC first), then parse. Raise SignatureError / InvalidMessage."""

    def callback_answer(self, callback: IncomingCallback | None, ok: bool, code: str, message: str) -> CallbackAnswer:
        """The answer the platform expects, in its own format."""

    def payer_token(self, notice) -> str:
        """How this platform reports the payer of `notice` (compared with ConfirmedPayment.payer_token)."""

    def download_statement(self, day: date) -> DownloadedStatement:
        """The day's statement / bill, raw bytes kept, parsed into normalised lines."""
