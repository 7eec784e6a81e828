"""WeChat Pay API v3 refunds: request, answer, query, and the ``REFUND.*`` callback resource.

The refund answer carries ``status``; the callback resource calls the same field
``refund_status`` and has no ``create_time`` or ``channel``: :func:`parse_refund`
reads both shapes into one :class:`Refund`.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from payment_bridge.channels.wechatpay.api import (
    CURRENCY,
    ApiRequest,
    answer_amount,
    check_ident,
    check_out_refund_no,
    check_out_trade_no,
    check_total,
    dump_json,
    format_time,
    get_fen,
    get_str,
    load_json,
    parse_time,
    request_amount,
)
from payment_bridge.errors import InvalidMessage

REFUND_STATUSES = frozenset({"SUCCESS", "CLOSED", "PROCESSING", "ABNORMAL"})
_MAX_REASON = 80


@dataclass(frozen=True)
class RefundOrder:
    """A refund we ask for; one of ``transaction_id`` / ``out_trade_no`` identifies the payment."""

    out_refund_no: str
    refund_fen: int
    total_fen: int
    out_trade_no: str | None = None
    transaction_id: str | None = None
    reason: str | None = None
    notify_url: str | None = None


@dataclass(frozen=True)
class Refund:
    """A WeChat refund (refund answer, refund query answer, or callback resource)."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: str
    refund_fen: int
    total_fen: int
    payer_refund_fen: int | None = None
    payer_total_fen: int | None = None
    channel: str | None = None
    user_received_account: str | None = None
    create_time: datetime | None = None  # aware, UTC
    success_time: datetime | None = None  # aware, UTC
    mchid: str | None = None  # present in callbacks only


def build_refund(order: RefundOrder) -> ApiRequest:
    """``POST /v3/refund/domestic/refunds`` with amounts in fen."""
    if (order.out_trade_no is None) == (order.transaction_id is None):
        raise InvalidMessage("give exactly one of out_trade_no and transaction_id")
    if check_total(order.refund_fen, "amount.refund") > check_total(order.total_fen, "amount.total"):
        raise InvalidMessage("refund larger than the payment")
    body: dict = {"out_refund_no": check_out_refund_no(order.out_refund_no)}
    if order.transaction_id is not None:
        body["transaction_id"] = check_ident(order.transaction_id, "transaction_id")
    else:
        body["out_trade_no"] = check_out_trade_no(order.out_trade_no)
    if order.reason is not None:
        if len(order.reason) > _MAX_REASON:
            raise InvalidMessage(f"reason longer than {_MAX_REASON} characters")
        body["reason"] = order.reason
    if order.notify_url is not None:
        if not order.notify_url.startswith("https://"):
            raise InvalidMessage("notify_url must be an https URL")
        body["notify_url"] = order.notify_url
    body["amount"] = {"refund": order.refund_fen, "total": order.total_fen, "currency": CURRENCY}
    return ApiRequest("POST", "/v3/refund/domestic/refunds", dump_json(body))


def parse_refund_request(request: ApiRequest) -> RefundOrder:
    """Read a refund request back (the simulator's side)."""
    data = load_json(request.body)
    amount = request_amount(data)
    order = RefundOrder(
        out_refund_no=get_str(data, "out_refund_no"),
        refund_fen=get_fen(amount, "refund"),
        total_fen=get_fen(amount, "total"),
        out_trade_no=get_str(data, "out_trade_no", required=False),
        transaction_id=get_str(data, "transaction_id", required=False),
        reason=get_str(data, "reason", required=False),
        notify_url=get_str(data, "notify_url", required=False),
    )
    build_refund(order)  # same validation as the builder
    return order


def build_refund_query(out_refund_no: str) -> ApiRequest:
    """``GET /v3/refund/domestic/refunds/{out_refund_no}``."""
    return ApiRequest(
        "GET", f"/v3/refund/domestic/refunds/{quote(check_out_refund_no(out_refund_no), safe='')}"
    )


def parse_refund(data: dict | bytes | str) -> Refund:
    """Read a refund answer or a decrypted ``REFUND.*`` callback resource."""
    if not isinstance(data, dict):
        data = load_json(data)
    amount = answer_amount(data)
    status = data.get("status", data.get("refund_status"))
    if status not in REFUND_STATUSES:
        raise InvalidMessage("status is not a WeChat refund status")
    created = get_str(data, "create_time", required=False)
    success = get_str(data, "success_time", required=False)
    return Refund(
        out_refund_no=check_out_refund_no(get_str(data, "out_refund_no")),
        refund_id=get_str(data, "refund_id"),
        out_trade_no=check_out_trade_no(get_str(data, "out_trade_no")),
        transaction_id=get_str(data, "transaction_id"),
        status=status,
        refund_fen=get_fen(amount, "refund"),
        total_fen=get_fen(amount, "total"),
        payer_refund_fen=get_fen(amount, "payer_refund", required=False),
        payer_total_fen=get_fen(amount, "payer_total", required=False),
        channel=get_str(data, "channel", required=False),
        user_received_account=get_str(data, "user_received_account", required=False),
        create_time=parse_time(created, "create_time") if created else None,
        success_time=parse_time(success, "success_time") if success else None,
        mchid=get_str(data, "mchid", required=False),
    )


def refund_resource(refund: Refund, *, for_notification: bool = False) -> dict:
    """A refund object as WeChat writes it: an API answer, or a callback resource."""
    amount = {
        "total": refund.total_fen,
        "refund": refund.refund_fen,
        "payer_total": refund.payer_total_fen,
        "payer_refund": refund.payer_refund_fen,
    }
    data: dict = {
        "mchid": refund.mchid if for_notification else None,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status" if for_notification else "status": refund.status,
        "channel": None if for_notification else refund.channel,
        "user_received_account": refund.user_received_account,
        "create_time": None
        if for_notification or not refund.create_time
        else format_time(refund.create_time),
        "success_time": format_time(refund.success_time) if refund.success_time else None,
        "amount": {key: value for key, value in amount.items() if value is not None},
    }
    if not for_notification:
        data["amount"]["currency"] = CURRENCY
    return {key: value for key, value in data.items() if value is not None}
