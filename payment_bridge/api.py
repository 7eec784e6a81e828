"""What other areas may use of the payment bridge: this module only, never its handlers or tables.

Logistics creates, closes, reads and refunds postage notices through an object with the `Payments` shape
(the runtime's `payments`), and reads the notice states from here. The state sets are defined once, in
`payment_bridge.domain`, derived from the state table.
"""
from __future__ import annotations

from typing import Protocol

from payment_bridge.domain import CLOSED_STATES, OPEN_STATES, PAID_STATES, SETTLED_STATES
from payment_bridge.errors import NoticeClosed, NoticePaid, PaymentError
from payment_bridge.requests import MAX_ITEMS, PLATFORMS, Item, NoticeRequest, request_hash

__all__ = ["CLOSED_STATES", "MAX_ITEMS", "OPEN_STATES", "PAID_STATES", "PLATFORMS", "SETTLED_STATES", "Item",
           "NoticeClosed", "NoticePaid", "NoticeRequest", "PaymentError", "Payments", "request_hash"]


class Payments(Protocol):
    """The payment side as another area sees it."""

    def create_notice(self, request: NoticeRequest, *, caller: str, actor: str, idempotency_key: str,
                      body_hash: str): ...

    def close_notice(self, notice_id: str, *, actor: str, reason: str): ...

    def get(self, notice_id: str): ...

    def refund(self, notice_id: str, *, refund_request_id: str, amount_fen: int, reason: str, actor: str): ...

    def notice_states(self, notice_ids: list[str]) -> dict[str, str]:
        """The status of each notice named (at most a page of ids; unknown ids are left out)."""
        ...
