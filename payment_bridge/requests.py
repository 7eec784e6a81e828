"""What a caller asks of the payment bridge, and its checks (pure: no database, no clock of their own).

The platform list and the item count are defined here once; the API schema (routes/api/payments.py)
validates with them, and `check_notice_request` is what the create handler applies to every request.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from kernel.identifiers import InvalidIdentifier, identifier_kind, validate_resident_id, validate_uscc
from kernel.money import MAX_FEN
from payment_bridge.errors import Refused

PLATFORMS = ("nontax", "wechatpay")  # every platform adapter there is (payment_bridge.platforms)
MAX_ITEMS = 100  # items on one notice


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    unit: str
    unit_price_fen: int
    quantity: int

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity


@dataclass(frozen=True)
class NoticeRequest:
    agency_code: str
    payer_key: str
    payer_name: str
    items: tuple[Item, ...]
    case_id: str | None = None
    due_at: datetime | None = None
    platform: str | None = None


def request_hash(data) -> str:
    """SHA-256 of a request body in a canonical JSON form (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


def refund_no_for(refund_request_id: str) -> str:
    """The platform-side refund number of a refund request id (32 chars, fits both platforms)."""
    return "R" + hashlib.sha256(refund_request_id.encode()).hexdigest()[:31]


def check_notice_request(request: NoticeRequest, *, agencies: Mapping[str, str] | Collection[str],
                         platforms: Collection[str], now: datetime) -> tuple[str, str]:
    """Refuse (422) a request the bridge cannot issue; returns (the normalised payer key, resident | enterprise)."""
    if request.agency_code not in agencies:
        raise Refused(422, "unknown_agency", f"No collecting agency {request.agency_code!r} is configured.")
    if request.platform is not None and request.platform not in platforms:
        raise Refused(422, "unknown_platform", f"No payment platform {request.platform!r}.")
    try:
        kind = identifier_kind(request.payer_key)
        payer_key = validate_resident_id(request.payer_key) if kind == "resident_id" else validate_uscc(request.payer_key)
    except InvalidIdentifier as exc:
        raise Refused(422, "invalid_payer_key", str(exc), {"rule": exc.code}) from None
    if not 1 <= len(request.items) <= MAX_ITEMS:
        raise Refused(422, "invalid_items", f"A notice needs 1 to {MAX_ITEMS} items.")
    for item in request.items:
        if item.unit_price_fen <= 0 or item.quantity <= 0:
            raise Refused(422, "invalid_items", "Unit prices (fen) and quantities must be positive.")
        if any(sep in text for text in (item.name, item.unit) for sep in "|#"):
            raise Refused(422, "invalid_items", "Item names and units must not contain | or #.")
    if sum(item.amount_fen for item in request.items) > MAX_FEN:
        raise Refused(422, "invalid_amount", "The total is above the maximum amount.")
    if request.due_at is not None and request.due_at <= now:
        raise Refused(422, "invalid_due_at", "due_at must be in the future.")
    return payer_key, ("resident" if kind == "resident_id" else "enterprise")
